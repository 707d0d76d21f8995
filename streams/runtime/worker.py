"""A worker process: any of the planner, connector and aggregator roles, sharing one producer.

Start-up creates the topics graphfetch needs (if absent) and loads the pipelines;
shutdown stops taking work, waits for work in flight (bounded), commits, and
closes connections. Any number of workers can run side by side: consumer groups
share the partitions among them.

With ``processing_guarantee: exactly_once`` the shared producer is transactional
and a :class:`TransactionCoordinator` commits the agents' offsets in its
transactions; a broker without transactions stops the start with
:class:`TransactionsUnsupportedError`. The execution history is not processing
output: it is shared through a plain producer of its own, outside the
transactions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, Literal

from connectors import default_registry
from planner import Pipeline
from streams.engine.adaptive.fetcher import AdaptiveFetcher
from streams.engine.sources import SourcePool
from streams.heap import freeze_startup_heap
from streams.kafka.factory import make_producer
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.liveconfig.configsync import ConfigSync
from streams.liveconfig.configtopic import config_topic_spec
from streams.liveconfig.store import PipelineStore
from streams.runtime.agents import Agent, AgentContext, AggregatorAgent, ConnectorAgent, PlannerAgent
from streams.runtime.background import keep_going
from streams.runtime.statstopic import StatsOptions, StatsSync, default_worker_id, stats_topic_spec
from streams.runtime.transactions import TransactionCoordinator
from streams.settings import Settings

log = logging.getLogger(__name__)
Role = Literal["planner", "connector", "aggregator"]
ROLES: tuple[Role, ...] = ("planner", "connector", "aggregator")
CANCEL_GRACE_S = 1.0
"""How long a stop waits for jobs it cancelled at its timeout; one still running then is left to end."""


def topic_specs(
    settings: Settings, pipelines: Iterable[Pipeline], connectors: Iterable[str]
) -> list[TopicSpec]:
    """Every topic a cluster of workers needs, with the configured partition counts."""
    n, rf = settings.partitions, settings.replication_factor
    names = [settings.requests_topic, settings.results_topic, settings.dlq_topic]
    names += [settings.tasks_topic(c) for c in connectors]
    names += sorted({p.config.output.topic for p in pipelines})
    return [TopicSpec(name=name, partitions=n, replication_factor=rf) for name in dict.fromkeys(names)]


async def _bounded(step: Coroutine[Any, Any, None], until: float, what: str) -> None:
    """Run a step of the worker's stop until ``until`` (loop time). A step that fails is logged; one
    still running then is logged and left to end in the background, not cancelled: a close that has
    begun (even past the timeout, so that it begins at all) still closes its connections."""
    job = keep_going(step)
    done, _ = await asyncio.wait({job}, timeout=max(0.0, until - asyncio.get_running_loop().time()))
    if not done:
        log.error("stop timeout passed while %s; it goes on in the background", what)
    elif (exc := job.exception()) is not None:
        log.warning("stop: %s failed (%r)", what, exc)


def parse_roles(text: str | Sequence[str]) -> list[Role]:
    items = text.split(",") if isinstance(text, str) else list(text)
    roles: list[Role] = []
    for item in (i.strip() for i in items):
        if item not in ROLES:
            raise ValueError(f"unknown role {item!r}: choose from {', '.join(ROLES)}")
        roles.append(item)
    return roles


class Worker:
    """Runs the chosen roles until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        *,
        pipelines: dict[str, Pipeline],
        roles: Sequence[Role] = ROLES,
        worker_id: str | None = None,
    ) -> None:
        """``worker_id``: unique among live workers. A stable one (kept across restarts) makes the
        agents static members of their groups (unless ``settings.static_membership`` is off), so a
        restarted worker takes its partitions back without a rebalance, and lets an exactly-once
        worker fence its previous life at once. Default: random per process, dynamic members."""
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.static_member = worker_id is not None and settings.static_membership
        self.roles = list(roles)
        self.store = PipelineStore(pipelines)
        self.connectors = default_registry().names()
        self.agents: list[Agent] = []
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        settings = self.settings
        stats_options = StatsOptions.from_settings(settings)
        await ensure_topics(
            settings.bootstrap,
            [
                *topic_specs(settings, self.store.all_current(), self.connectors),
                config_topic_spec(settings),
                stats_topic_spec(settings, stats_options),
            ],
            **settings.kafka_security_options(),
        )
        transactions: TransactionCoordinator | None = None
        if settings.processing_guarantee == "exactly_once":
            transactions = TransactionCoordinator(settings, worker_id=self.worker_id)
        stats_producer = make_producer(settings)  # the history's; with at least once, every send's
        sources = SourcePool()
        adaptive = AdaptiveFetcher.from_settings(settings)
        ctx = AgentContext(
            settings=settings,
            producer=stats_producer if transactions is None else transactions.producer,
            store=self.store,
            sources=sources,
            adaptive=adaptive,
            transactions=transactions,
            group_instance_id=self.worker_id if self.static_member else None,
            worker_id=self.worker_id,
        )
        self.ctx = ctx
        self.stats = StatsSync(
            settings,
            adaptive.history,
            producer=stats_producer,
            worker_id=self.worker_id,
            options=stats_options,
            sources=sources.states,
        )
        jobs: list[asyncio.Future[Any]] = []
        commits: asyncio.Future[None] | None = None
        try:  # from here on, what was built is closed whatever happens (a failed or cancelled start too)
            if transactions is not None:
                await transactions.start()
            await stats_producer.start()
            await self.stats.start()  # a new worker starts informed by its peers' history (bounded wait)
            self.agents = [self._agent(role, ctx) for role in self.roles]
            self.config_sync = ConfigSync(settings, self.store)
            jobs = [asyncio.ensure_future(agent.run()) for agent in self.agents]
            jobs.append(asyncio.ensure_future(self.config_sync.run()))
            watched = set(jobs)
            if transactions is not None:
                commits = asyncio.ensure_future(transactions.run())
                watched.add(commits)
            self.ready.set()
            freeze_startup_heap()  # what start-up built lives on: the collector need not walk it again
            stop = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait({stop, *watched}, return_when=asyncio.FIRST_COMPLETED)
            for job in done:
                if job is commits and job.exception() is not None:
                    log.error("%s; stopping the worker", job.exception())
                elif job is not stop and job.exception() is not None:
                    log.error("an agent failed; stopping the worker", exc_info=job.exception())
        finally:
            until = asyncio.get_running_loop().time() + settings.stop_timeout_ms / 1000
            for agent in self.agents:
                agent.stop()
            if jobs:
                self.config_sync.stop()
            results = await self._stopped(jobs, until, [*self.agents, "its config sync"])
            if transactions is not None:
                transactions.stop()  # after the agents' last commits, which need it running
                if commits is not None:
                    results += await self._stopped([commits], until, ["its transaction commits"])
            await _bounded(self.stats.stop(), until, "sharing its last execution history")
            if transactions is not None:
                await _bounded(transactions.close(), until, "closing its transactional producer")
            await _bounded(stats_producer.stop(), until, "flushing its producer")
            await sources.close()
            await adaptive.close()
        failures = [agent.failure for agent in self.agents if agent.failure is not None]
        failures += [r for r in results if isinstance(r, Exception)]
        if failures:
            raise failures[0]

    async def _stopped(
        self, jobs: Sequence[asyncio.Future[Any]], until: float, owners: Sequence[Agent | str]
    ) -> list[BaseException | None]:
        """Each job's error or None, once it ended; those still running at ``until`` (loop time) are
        named (by their ``owners``, in order) in the log and cancelled: their unfinished work is
        replayed by the next owner of their partitions."""
        if not jobs:
            return []
        _, late = await asyncio.wait(jobs, timeout=max(0.0, until - asyncio.get_running_loop().time()))
        if late:
            running = [
                owner if isinstance(owner, str) else f"the {owner.role} agent ({owner.stage})"
                for job, owner in zip(jobs, owners, strict=True)
                if job in late
            ]
            log.error(
                "stop timeout (GRAPHFETCH_STOP_TIMEOUT_MS %d) passed with %s still running; abandoned, "
                "their unfinished work is replayed by their partitions' next owner",
                self.settings.stop_timeout_ms,
                ", ".join(running),
            )
            for job in late:
                job.cancel()
            await asyncio.wait(late, timeout=CANCEL_GRACE_S)  # a job may still await in its cleanup
        return [job.exception() if job.done() and not job.cancelled() else None for job in jobs]

    def _agent(self, role: Role, ctx: AgentContext) -> Agent:
        if role == "planner":
            return PlannerAgent(ctx)
        if role == "connector":
            return ConnectorAgent(ctx, connectors=self.connectors)
        return AggregatorAgent(ctx)

    def stop(self) -> None:
        """Stop taking work; in-flight work is finished or handed back. Safe to call twice."""
        self._stopping.set()
