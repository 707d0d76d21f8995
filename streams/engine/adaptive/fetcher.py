"""One node's fetch with the adaptive decisions: cache, coalescing, deadline check, timeout, hedge.

Order of a fetch, each step explained in the outcome's notes when it acts:

1. **deadline**: a node whose p50 does not fit in the time left is not started;
2. **cache** (only where a node has ``cache:``): a fresh entry answers without a call;
3. **timeout**: lowered from the configured one to ``timeout_factor`` x p99;
4. **hedge**: after the node's observed p95 a second attempt races the first;
5. **coalescing**: identical in-flight fetches of one source share the call.

Every attempt's latency and success feed the worker's :class:`~streams.engine.history.History`.
What the source's concurrency limit decides during the call (a change of its adaptive limit, a
shed) joins the notes in the words of its event, and a shed is counted
(``graphfetch.source.sheds``).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from connectors import (
    AttemptEvent,
    FetchError,
    FetchOutcome,
    HedgeBudget,
    HedgePlan,
    ResilientSource,
)
from connectors.coalescing import Coalescer
from planner import AdaptivePolicy, Cache, CompiledNode, Failure, Outcome, Task
from streams.engine.adaptive.decisions import (
    Estimates,
    adaptive_timeout,
    coalescing_enabled,
    deadline_refusal,
    hedge_delay,
)
from streams.engine.cache import CacheBackend, FetchCache, cache_key, open_cache
from streams.engine.history import History, HistoryKey
from streams.engine.outcomes import AttemptObserver, failed_outcome, fetched_outcome, retry_policy
from streams.settings import Settings
from streams.telemetry import metrics

ESTIMATES_TTL_S = 1.0
MAX_MEMO = 4096


class AdaptiveFetcher:
    """A worker's adaptive state: history, hedge budgets, in-flight calls and caches."""

    def __init__(self, *, history: History, redis_url: str, cache_max_bytes: int) -> None:
        self.history = history
        self._redis_url = redis_url
        self._cache_max_bytes = cache_max_bytes
        self._budgets: dict[tuple[str, float], HedgeBudget] = {}
        self._coalescer: Coalescer[FetchOutcome] = Coalescer()
        self._caches: dict[str, FetchCache] = {}
        self._estimates: dict[tuple[str, str, float], tuple[float, Estimates]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AdaptiveFetcher:
        history = History(half_life_s=settings.history_half_life_s, min_samples=settings.history_min_samples)
        return cls(
            history=history,
            redis_url=settings.redis_url.get_secret_value(),
            cache_max_bytes=settings.cache_max_bytes,
        )

    def p50_ms(self, pipeline: str, node: str) -> float | None:
        return self.history.quantile_ms(HistoryKey.node(pipeline, node), 0.5)

    def estimates(self, pipeline: str, node: str, policy: AdaptivePolicy) -> Estimates:
        """The node's predictions, recomputed at most every ``ESTIMATES_TTL_S``: history changes over
        minutes (its half-life), while four quantile queries per fetch would cost more than the fetch."""
        memo_key = (pipeline, node, policy.hedge_quantile)
        now = time.monotonic()
        memo = self._estimates.get(memo_key)
        if memo is not None and now - memo[0] < ESTIMATES_TTL_S:
            return memo[1]
        estimates = self._compute_estimates(pipeline, node, policy)
        if len(self._estimates) >= MAX_MEMO:
            self._estimates.clear()
        self._estimates[memo_key] = (now, estimates)
        return estimates

    def _compute_estimates(self, pipeline: str, node: str, policy: AdaptivePolicy) -> Estimates:
        key = HistoryKey.node(pipeline, node)

        def q(value: float) -> float | None:
            return self.history.quantile_ms(key, value)

        return Estimates(p50=q(0.5), p95=q(0.95), p99=q(0.99), hedge_after=q(policy.hedge_quantile))

    def _budget(self, ident: str, ratio: float) -> HedgeBudget:
        budget = self._budgets.get((ident, ratio))
        if budget is None:
            budget = self._budgets[(ident, ratio)] = HedgeBudget(ratio=ratio)
        return budget

    def _cache(self, store: CacheBackend) -> FetchCache:
        cache = self._caches.get(store)
        if cache is None:
            cache = open_cache(backend=store, redis_url=self._redis_url, max_bytes=self._cache_max_bytes)
            self._caches[store] = cache
        return cache

    async def close(self) -> None:
        caches, self._caches = list(self._caches.values()), {}
        for cache in caches:
            await cache.close()

    async def fetch(
        self,
        task: Task,
        *,
        node: CompiledNode,
        source: ResilientSource,
        source_ident: str,
        remaining_ms: float,
        observer: AttemptObserver | None = None,
    ) -> Outcome:
        started = time.perf_counter()
        policy = node.policy
        estimates = self.estimates(task.pipeline, task.node, policy)
        refusal = deadline_refusal(policy, node=task.node, remaining_ms=remaining_ms, estimates=estimates)
        if refusal is not None:
            return Outcome(
                node=task.node,
                failure=Failure(kind="deadline", message=refusal),
                attempts=0,
                notes=(refusal,),
            )
        idempotent = source.connector.is_idempotent(task.request)
        coalesce = coalescing_enabled(policy, idempotent=idempotent)
        # JSON and SHA-256 of the request: only for the decisions that share results
        key = cache_key(source_ident=source_ident, request=task.request) if coalesce or policy.cache else ""
        if policy.cache is not None:
            hit = await self._cache(policy.cache.store).get(key, max_age_s=policy.cache.ttl_s)
            if hit is not None:
                return Outcome(
                    node=task.node,
                    value=hit.value,
                    attempts=0,
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    fetched_at_ms=hit.stored_at * 1000.0,
                    notes=(f"served from cache ({policy.cache.store}), age {hit.age_s:.1f} s",),
                )
        notes: list[str] = []
        timeout_ms, timeout_note = adaptive_timeout(
            policy, node=task.node, configured_ms=task.timeout_ms, estimates=estimates
        )
        if timeout_note:
            notes.append(timeout_note)
        after_ms = hedge_delay(policy, idempotent=idempotent, estimates=estimates)
        hedge = None
        if after_ms is not None:
            hedge = HedgePlan(after_ms=after_ms, budget=self._budget(source_ident, policy.hedge_budget))

        # source.call's own coroutine, not one wrapping it, is what the fetch holds while it waits
        call = partial(
            source.call,
            task.request,
            timeout_ms=timeout_ms,
            retry=retry_policy(task.retries),
            deadline=time.monotonic() + remaining_ms / 1000.0,
            observer=self._recorder(task, observer, notes),
            hedge=hedge,
        )

        try:
            if coalesce:
                result, shared = await self._coalescer.run(key, call)
                if shared:
                    notes.append("shared an identical in-flight fetch: no call of its own")
            else:
                result = await call()
        except FetchError as exc:
            return failed_outcome(task, exc, started=started, notes=notes)
        notes.extend(_hedge_notes(task.node, result, estimates, policy))
        if policy.cache is not None:
            await self._store(policy.cache, key, result.value, notes)
        return fetched_outcome(task, result, notes=notes)

    async def _store(self, cache: Cache, key: str, value: Any, notes: list[str]) -> None:
        try:
            stored = await self._cache(cache.store).set(key, value, ttl_s=cache.ttl_s)
        except TypeError as exc:  # UncacheableValue: not JSON
            notes.append(f"not cached: {exc}")
            return
        if not stored:
            notes.append(f"not cached: the {cache.store} cache is unavailable")

    def _recorder(self, task: Task, observer: AttemptObserver | None, notes: list[str]) -> AttemptObserver:
        """Feed each finished attempt into the history, and the concurrency limit's decisions into
        ``notes``, then pass the event on."""
        history = self.history

        def record(event: AttemptEvent) -> None:
            if event.latency_ms is not None and event.kind in ("succeeded", "attempt_failed"):
                history.observe(
                    pipeline=task.pipeline,
                    node=task.node,
                    source=task.source,
                    latency_ms=event.latency_ms,
                    ok=event.kind == "succeeded",
                )
            elif event.kind in ("shed", "limit_changed") and event.message:
                notes.append(event.message)
                if event.kind == "shed":
                    metrics.sheds.add(1, {"graphfetch.source": task.source})
            if observer is not None:
                observer(event)

        return record


def _hedge_notes(node: str, result: FetchOutcome, estimates: Estimates, policy: AdaptivePolicy) -> list[str]:
    if result.hedge_after_ms is None or not (result.hedged or result.hedges_refused):
        return []  # most calls: answered before the hedge was due, nothing to explain
    quantile = f"p{policy.hedge_quantile * 100:g} of {node} = {estimates.hedge_after or 0:.0f} ms"
    if result.hedged:
        winner = "the hedge" if result.hedge_won else "the first attempt"
        return [f"hedged after {result.hedge_after_ms:.0f} ms ({quantile}); {winner} answered first"]
    return [
        f"not hedged after {result.hedge_after_ms:.0f} ms ({quantile}): "
        "hedge budget spent or too close to the deadline"
    ]
