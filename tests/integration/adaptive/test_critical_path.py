"""Critical path first on a saturated connector worker, end to end on Kafka with real upstream latency.

The pipeline has two independent first-level nodes: ``tickets`` (support, 40 ms), which nothing
depends on, and ``customer`` (crm, 80 ms), which heads the chain customer -> orders -> risk
(80 ms each). An in-process worker with every role first learns these latencies from warm-up
requests (``history_min_samples`` 3). Then a ``blocker`` fetch takes a fetch slot and keeps it
until the test releases it (its source is a server of the test's own, :class:`Blocker`) while,
behind it, N requests for ``open_tickets`` (the tickets node only) are queued first and N
requests for ``risk`` (the chain) second. The gate's own count of waiting tasks says when both
groups are held, and the blocker is released only then, so the phase does not depend on timing:
however long the Kafka hops take on a loaded machine, nothing frees the slot early.

* one fetch slot, defaults: when the slot frees, every customer fetch runs before every tickets
  fetch although every tickets task was held first, and both carry the lineage note with the
  path predicted from the learned p50s (a FIFO gate would run the tickets first);
* one fetch slot, ``critical_path_first: false`` on the nodes: arrival order, and the waiting
  note has no priority part;
* free slots (the default 512): nothing waits behind the blocker and no waiting note is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from starlette.types import Receive, Scope, Send

from devkit.demo.ids import account_id_for
from planner import Pipeline, Profile
from streams.engine.adaptive.gate import PriorityGate
from streams.engine.adaptive.priority import PathPredictor
from streams.kafka.factory import make_producer
from streams.kafka.topicreader import TopicCollector
from streams.liveconfig.catalog import load_catalog
from streams.runtime.worker import Worker
from streams.settings import Settings
from tests.integration.runtime.conftest import Upstreams
from tests.support.asgi import serve_in_thread, serve_lifespan
from tests.support.waiting import until
from tests.support.workers import connector_agent, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "critical-path"
PARTITIONS = 2
MIN_SAMPLES = 3
WARM_UP = 6  # fetches per node: more than MIN_SAMPLES decayed observations
TICKETS_MS = 40.0
CHAIN_MS = 80.0  # customer, orders and risk each
HELD = 4  # requests of each kind queued behind the blocker
CHAIN = ("customer", "orders", "risk")
SHORT_FIELDS = ["open_tickets"]
LONG_FIELDS = ["name", "orders_count", "risk"]
PROFILE_TIMEOUT_S = 60.0  # the first requests also wait for the worker's consumer groups to form
HOLD_LIMIT_MS = 240_000
"""The blocker's timeout and every request's deadline: longer than the waits of a phase (60 s each)."""
SLOT_NOTE = re.compile(
    r"waited (?P<waited>\d+) ms for a fetch slot on a saturated worker"
    r"(?: \(critical path first: (?P<predicted>\d+) ms predicted from here to the end\))?"
)


@dataclass
class Blocker:
    """The blocker node's source: it holds every call until :meth:`release`, and says for how long.

    Served by uvicorn in a thread (:func:`~tests.support.asgi.serve_in_thread`); the worker under
    test runs in this process too, so the two share ``time.monotonic``.
    """

    url: str = ""
    released: threading.Event = dataclasses.field(default_factory=threading.Event)
    arrived_at: list[float] = dataclasses.field(default_factory=list)
    released_at: float | None = None

    def release(self) -> None:
        if self.released_at is None:
            self.released_at = time.monotonic()
        self.released.set()

    def held_ms(self) -> float:
        """How long the first call was held: a lower bound of the blocker fetch's latency."""
        assert self.arrived_at, "the blocker's source was never called"
        assert self.released_at is not None, "the blocker was never released"
        return (self.released_at - self.arrived_at[0]) * 1000.0


def _blocker_app(blocker: Blocker, started: threading.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send, started)
            return
        blocker.arrived_at.append(time.monotonic())
        # Released from the test's thread, by the test or at the latest by the fixture's teardown.
        await asyncio.to_thread(blocker.released.wait)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"tier": "gold"}'})

    return app


@pytest.fixture
def blocker() -> Iterator[Blocker]:
    """A blocker source for this test, released at the end whatever happened (its server can stop)."""
    state = Blocker()
    with serve_in_thread(lambda started: _blocker_app(state, started), name="blocker source") as port:
        state.url = f"http://127.0.0.1:{port}"
        try:
            yield state
        finally:
            state.release()


def _document(
    upstreams: Upstreams, blocker: Blocker, *, output: str, critical_path_first: bool
) -> dict[str, Any]:
    adaptive = {} if critical_path_first else {"adaptive": {"critical_path_first": False}}

    def node(source: str, path: str, **request: Any) -> dict[str, Any]:
        return {"source": source, "request": {"path": path, **request}, **adaptive}

    def http(service: str, **settings: Any) -> dict[str, Any]:
        return {"connector": "http", "base_url": f"{upstreams.url}/{service}", **settings}

    return {
        "pipeline": PIPELINE,
        "output": {"topic": output, "key": "keys.customer_id"},
        # No hedges: one upstream call per fetch, so a fetch slot is one call of known latency. The
        # deadline outlasts every wait of a phase: a held request waits for the blocker's release.
        "defaults": {
            "timeout_ms": 10_000,
            "retries": 0,
            "deadline_ms": HOLD_LIMIT_MS,
            "adaptive": {"hedge": False},
        },
        "sources": {
            "crm": http("crm"),
            "orders": http("orders", headers={"Authorization": "Bearer demo"}),
            "risk": http("risk"),
            "support": http("support"),
            "loyalty": {"connector": "http", "base_url": blocker.url},
        },
        "nodes": {
            "customer": node("crm", "/customers/{keys.customer_id}"),
            "orders": node("orders", "/orders", params={"account": "{customer.account_id}"}),
            "risk": node("risk", "/scores/{customer.account_id}", params={"orders": "{orders.count}"}),
            "tickets": node("support", "/tickets", params={"customer": "{keys.customer_id}"}),
            "blocker": {**node("loyalty", "/members/{keys.account_id}"), "timeout_ms": HOLD_LIMIT_MS},
        },
        "fields": {
            "name": "customer.name",
            "orders_count": "orders.count",
            "risk": "risk.level",
            "open_tickets": "tickets.open",
            "tier": "blocker.tier",
        },
    }


@dataclass(kw_only=True)
class Deployment:
    """One in-process worker on this test's topics, a collector of its profiles and a producer."""

    settings: Settings
    pipeline: Pipeline
    worker: Worker
    profiles: TopicCollector
    producer: AIOKafkaProducer
    upstreams: Upstreams
    blocker: Blocker

    @property
    def gate(self) -> PriorityGate:
        return connector_agent(self.worker)._gate

    @property
    def paths(self) -> PathPredictor:
        predictor = connector_agent(self.worker)._paths
        assert predictor is not None, "the worker has no adaptive state"
        return predictor

    def p50(self, node: str) -> float | None:
        adaptive = self.worker.ctx.adaptive
        assert adaptive is not None
        return adaptive.p50_ms(PIPELINE, node)

    async def send(self, tag: str, customers: Sequence[int], fields: Sequence[str]) -> list[str]:
        """One request per customer index, acknowledged by the broker; their request ids."""
        ids = []
        for i in customers:
            customer = f"C{i:05d}"
            keys = {"customer_id": customer, "account_id": account_id_for(customer)}
            request_id = f"{tag}-{i}"
            payload = {"request_id": request_id, "pipeline": PIPELINE, "keys": keys, "fields": list(fields)}
            await self.producer.send_and_wait(self.settings.requests_topic, json.dumps(payload).encode())
            ids.append(request_id)
        return ids

    async def wait_for(self, ids: Sequence[str]) -> dict[str, Profile]:
        if not await self.profiles.wait_for(ids, timeout_s=PROFILE_TIMEOUT_S):
            missing = [i for i in ids if i not in self.profiles.by_request_id]
            raise AssertionError(f"no profile within {PROFILE_TIMEOUT_S:g} s for {missing}")
        return {i: Profile.model_validate(self.profiles.by_request_id[i][0].value) for i in ids}

    def arrived(self, request_id: str) -> bool:
        return request_id in self.profiles.by_request_id


Deploy = Callable[..., Awaitable[Deployment]]


@pytest.fixture
async def deploy(
    kafka_bootstrap: str, unique_name: str, upstreams: Upstreams, blocker: Blocker, tmp_path: Path
) -> AsyncIterator[Deploy]:
    """``await deploy(slots=…, critical_path_first=…)``: a started deployment, torn down after the test."""
    async with AsyncExitStack() as stack:

        async def start(*, slots: int, critical_path_first: bool = True) -> Deployment:
            folder = tmp_path / "configs"
            folder.mkdir()
            output = f"{unique_name}.profiles"
            document = _document(upstreams, blocker, output=output, critical_path_first=critical_path_first)
            (folder / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
            pipelines = load_catalog([folder])
            settings = Settings(
                bootstrap=kafka_bootstrap,
                configs=folder,
                partitions=PARTITIONS,
                watch_configs=False,
                max_in_flight_tasks=slots,
                history_min_samples=MIN_SAMPLES,
            ).isolated(unique_name)
            worker = await stack.enter_async_context(running_worker(settings, pipelines=pipelines))
            profiles = TopicCollector(settings=settings, topic=output, partitions=PARTITIONS)
            await profiles.start()
            stack.push_async_callback(profiles.stop)
            producer = make_producer(settings)
            await producer.start()
            stack.push_async_callback(producer.stop)
            return Deployment(
                settings=settings,
                pipeline=pipelines[PIPELINE],
                worker=worker,
                profiles=profiles,
                producer=producer,
                upstreams=upstreams,
                blocker=blocker,
            )

        yield start


async def _learn(deployment: Deployment) -> dict[str, float]:
    """Warm up with real latencies until history drives the predicted paths; those paths per node."""
    deployment.upstreams.set_faults("crm", latency_ms=CHAIN_MS)
    deployment.upstreams.set_faults("orders", latency_ms=CHAIN_MS)
    deployment.upstreams.set_faults("risk", latency_ms=CHAIN_MS)
    deployment.upstreams.set_faults("support", latency_ms=TICKETS_MS)
    ids = await deployment.send("warm-up", range(10, 10 + WARM_UP), [*LONG_FIELDS, *SHORT_FIELDS])
    warm = await deployment.wait_for(ids)
    assert all(p.status == "complete" for p in warm.values()), [p.errors for p in warm.values()]

    def learned() -> dict[str, float] | None:
        p50 = {node: deployment.p50(node) for node in (*CHAIN, "tickets")}
        if any(v is None for v in p50.values()):
            return None
        chain = sum(p50[n] or 0.0 for n in CHAIN)
        paths = {n: deployment.paths.remaining_ms(deployment.pipeline, n) for n in ("customer", "tickets")}
        # The predictor recomputes at most every 2 s: wait until it uses the learned p50s.
        if paths["customer"] != pytest.approx(chain) or paths["tickets"] != pytest.approx(p50["tickets"]):
            return None
        return paths

    await until(lambda: learned() is not None, timeout_s=15.0, what="the history drives the predicted paths")
    paths = learned()
    assert paths is not None
    print(
        f"\npredicted from history: customer -> end {paths['customer']:.0f} ms, tickets {paths['tickets']:.0f} ms"
    )
    return paths


@dataclass(frozen=True, kw_only=True)
class Phase:
    """What a phase with a blocker in one fetch slot produced."""

    short: list[Profile]  # ``open_tickets`` requests, sent first
    long: list[Profile]  # ``risk`` requests (the chain), sent second


async def _behind_a_blocker(deployment: Deployment, *, saturated: bool) -> Phase:
    """Start the blocker fetch, send the tickets requests and then the chain requests, then release
    the blocker.

    ``saturated``: one slot, so both groups are held by the gate (waited for, by its count) and
    released together when the blocker answers; otherwise each group is answered while the
    blocker still holds its slot.
    """
    gate = deployment.gate
    [blocker_id] = await deployment.send("blocker", [1], ["tier"])
    await until(lambda: gate.running >= 1, timeout_s=PROFILE_TIMEOUT_S, what="the blocker takes a fetch slot")

    short_ids = await deployment.send("short", range(100, 100 + HELD), SHORT_FIELDS)
    if saturated:
        await until(
            lambda: gate.waiting == HELD, timeout_s=PROFILE_TIMEOUT_S, what=f"{HELD} tickets tasks held"
        )
    else:
        await deployment.wait_for(short_ids)
    long_ids = await deployment.send("long", range(200, 200 + HELD), LONG_FIELDS)
    if saturated:
        await until(
            lambda: gate.waiting == 2 * HELD,
            timeout_s=PROFILE_TIMEOUT_S,
            what=f"{HELD} customer tasks held too",
        )
        # Still 2 x HELD: no waiter was released since the first tickets task was held.
    else:
        await deployment.wait_for(long_ids)
        assert gate.waiting == 0
    assert not deployment.arrived(blocker_id), "the blocker answered before the phase was set up"

    deployment.blocker.release()
    started = time.monotonic()
    profiles = await deployment.wait_for([*short_ids, *long_ids, blocker_id])
    print(f"\nprofiles {time.monotonic() - started:.2f} s after the blocker was released")
    for profile in profiles.values():
        assert profile.status == "complete", profile.errors
    blocker = profiles[blocker_id].lineage["tier"]
    assert blocker.latency_ms >= deployment.blocker.held_ms(), "the blocker held its slot until released"
    return Phase(short=[profiles[i] for i in short_ids], long=[profiles[i] for i in long_ids])


def _clock(moments: Sequence[datetime]) -> list[str]:
    return [m.time().isoformat("milliseconds") for m in moments]


def _fetched_at(profile: Profile, field: str) -> datetime:
    fetched_at = profile.lineage[field].fetched_at
    assert fetched_at is not None
    return datetime.fromisoformat(fetched_at)


def _slot_notes(profile: Profile, field: str) -> list[re.Match[str]]:
    return [m for note in profile.lineage[field].notes if (m := SLOT_NOTE.fullmatch(note))]


def _slot_note(profile: Profile, field: str) -> re.Match[str]:
    found = _slot_notes(profile, field)
    assert len(found) == 1, (profile.request_id, field, profile.lineage[field].notes)
    return found[0]


async def test_saturated_worker_runs_the_longest_predicted_path_first(deploy: Deploy) -> None:
    deployment = await deploy(slots=1)
    paths = await _learn(deployment)

    phase = await _behind_a_blocker(deployment, saturated=True)

    customers = [_fetched_at(p, "name") for p in phase.long]
    tickets = [_fetched_at(p, "open_tickets") for p in phase.short]
    assert max(customers) < min(tickets), (
        "every customer fetch (80 + 80 + 80 ms to the end) runs before every tickets fetch (40 ms), "
        f"though the tickets were held first: customers {_clock(customers)}, tickets {_clock(tickets)}"
    )
    customer_notes = [_slot_note(p, "name") for p in phase.long]
    ticket_notes = [_slot_note(p, "open_tickets") for p in phase.short]
    print("\n" + "\n".join(m.group(0) for m in (*customer_notes[:1], *ticket_notes[:1])))
    for note in customer_notes:
        assert note["predicted"] is not None
        assert float(note["predicted"]) == pytest.approx(paths["customer"], abs=1.0)
    for note in ticket_notes:
        assert note["predicted"] is not None
        assert float(note["predicted"]) == pytest.approx(paths["tickets"], abs=1.0)
    # Held first, released last: every tickets task waited longer than any customer task.
    assert min(int(m["waited"]) for m in ticket_notes) > max(int(m["waited"]) for m in customer_notes)


async def test_without_critical_path_first_held_tasks_run_in_arrival_order(deploy: Deploy) -> None:
    deployment = await deploy(slots=1, critical_path_first=False)
    await _learn(deployment)

    phase = await _behind_a_blocker(deployment, saturated=True)

    customers = [_fetched_at(p, "name") for p in phase.long]
    tickets = [_fetched_at(p, "open_tickets") for p in phase.short]
    assert max(tickets) < min(customers), f"FIFO: tickets {_clock(tickets)}, customers {_clock(customers)}"
    for profile, field in [*((p, "open_tickets") for p in phase.short), *((p, "name") for p in phase.long)]:
        note = _slot_note(profile, field)
        assert note["predicted"] is None, note.group(0)
        assert not any("critical path first" in n for n in profile.lineage[field].notes)


async def test_worker_with_free_slots_holds_no_task(deploy: Deploy) -> None:
    deployment = await deploy(slots=Settings.model_fields["max_in_flight_tasks"].default)
    await _learn(deployment)

    phase = await _behind_a_blocker(deployment, saturated=False)

    for profile in [*phase.short, *phase.long]:
        for field, lineage in profile.lineage.items():
            assert not _slot_notes(profile, field), (profile.request_id, field, lineage.notes)
            assert not any("fetch slot" in n or "critical path" in n for n in lineage.notes)
