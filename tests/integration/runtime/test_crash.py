"""Stopped or SIGKILLed workers lose no request: survivors or replacements replay what was unfinished.

Requests are produced at a steady rate while upstream latency keeps them in
flight; once half are sent and some answered, workers are SIGKILLed (no
drain, no last commit) or SIGTERMed, and replacements started. Every request
must still get a profile. Duplicates (a second profile for a request id) are
counted and classified with the results topic: a profile published just
before a SIGKILL whose ``completed`` marker was not yet written is the
at-least-once window (only transactions close it); a request whose marker
was written before the stop must never be answered again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from aiokafka import TopicPartition

from streams.kafka.factory import make_consumer
from streams.runtime.agents.planner_agent import results_partition
from tests.support.clients import produce_requests

if TYPE_CHECKING:  # fixture types; pytest loads conftest.py itself
    from tests.integration.runtime.conftest import Runtime, Upstreams

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 100
RATE_PER_S = 40.0
KILL_AFTER_PROFILES = 10
BLOCKER_DEADLINE_MS = 30_000
"""The replay test's blocker must still be unfinished when the aggregator is killed, after the other
requests' profiles and markers are out: seconds of Kafka hops on a loaded machine, never thirty."""


@dataclass
class CrashReport:
    sent: int
    in_flight_at_stop: int
    received: int
    duplicates: dict[str, int]
    published_before_stop: int  # duplicates whose first profile was published before the stop
    marked_before_stop: int  # duplicates whose ``completed`` marker was written before the stop
    stalled_s: float  # the longest wait for the next profile after the stop
    recovery_s: float  # stop -> every request answered

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, in flight at the stop {self.in_flight_at_stop}, "
            f"profiles received {self.received}, lost {self.sent - self.received}, "
            f"duplicates {len(self.duplicates)} ({self.published_before_stop} first published and "
            f"{self.marked_before_stop} marked completed before the stop), "
            f"profiles paused for up to {self.stalled_s:.1f} s, all out {self.recovery_s:.1f} s after the stop"
        )


async def stop_mid_stream(
    runtime: Runtime, upstreams: Upstreams, *, stop: int, graceful: bool = False, workers: int = 2
) -> CrashReport:
    """Produce REQUESTS at RATE_PER_S, stop ``stop`` workers mid-stream (SIGKILL, or SIGTERM when
    ``graceful``), start as many anew, and report what the clients saw."""
    runtime.write_pipeline(defaults={"timeout_ms": 5_000})  # slow CPUs must not turn latency into failures
    await runtime.start(workers=workers)
    results = await runtime.collect(runtime.settings.results_topic)
    upstreams.set_faults("crm", latency_ms=150)
    upstreams.set_faults("orders", latency_ms=150)
    prefix = f"crash-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{i}" for i in range(REQUESTS)]
    sent = 0
    halfway = asyncio.Event()

    def count_sent(n: int) -> None:
        nonlocal sent
        sent += n
        if sent >= REQUESTS // 2:
            halfway.set()

    producing = asyncio.create_task(
        produce_requests(
            runtime.settings,
            "customer360",
            {"customer_id": "C{i:05d}"},
            count=REQUESTS,
            deadline_ms=60_000,
            rate=RATE_PER_S,
            progress=count_sent,
            id_prefix=prefix,
        )
    )
    # Stop mid-stream: half the requests sent and some answered (not on a profile's arrival,
    # which would aim a kill at the moment a profile is out and its marker not yet).
    async with asyncio.timeout(30):
        await halfway.wait()
    profiles = runtime.profiles
    assert await profiles.wait_until(lambda: profiles.count(ids) >= KILL_AFTER_PROFILES, timeout_s=60), (
        runtime.logs()
    )
    for worker in runtime.workers[:stop]:
        if graceful:
            assert await worker.stop() == 0, worker.log_tail()
        else:
            worker.kill()
    stopped_at, stopped_at_ms = time.monotonic(), time.time() * 1000
    sent_at_stop, answered = sent, {i for i in ids if i in profiles.by_request_id}
    assert len(answered) < REQUESTS, "every profile was out before the stop: nothing was in flight"
    for _ in range(stop):
        runtime.start_worker()

    assert await producing == ids
    await runtime.wait_for_profiles(ids, timeout_s=80)
    first = {i: profiles.by_request_id[i][0] for i in ids}
    assert {p.value["status"] for p in first.values()} == {"complete"}, runtime.logs()
    duplicates = profiles.duplicates(ids)

    def markers(rid: str) -> list[int]:
        return [
            r.timestamp_ms for r in results.by_request_id.get(rid, ()) if r.value.get("kind") == "completed"
        ]

    # The second profile of a duplicate is followed by a marker too: wait until the collector read it.
    assert await results.wait_until(lambda: all(markers(i) for i in duplicates), timeout_s=30)
    after_stop = [stopped_at, *sorted(p.arrived for p in first.values() if p.arrived >= stopped_at)]
    return CrashReport(
        sent=len(ids),
        in_flight_at_stop=sent_at_stop - len(answered),
        received=profiles.count(ids),
        duplicates=duplicates,
        published_before_stop=sum(first[i].timestamp_ms < stopped_at_ms for i in duplicates),
        marked_before_stop=sum(min(markers(i)) < stopped_at_ms for i in duplicates),
        stalled_s=max(b - a for a, b in itertools.pairwise(after_stop)),
        recovery_s=max(p.arrived for p in first.values()) - stopped_at,
    )


async def test_sigkill_worker_mid_request_loses_nothing(runtime: Runtime, upstreams: Upstreams) -> None:
    report = await stop_mid_stream(runtime, upstreams, stop=1)

    print(f"\nSIGKILL 1 of 2 workers: {report}")
    assert report.sent - report.received == 0
    assert report.marked_before_stop == 0, "a request marked completed was answered again"
    assert len(report.duplicates) <= report.in_flight_at_stop, report.duplicates


async def test_sigkill_all_workers_at_once_loses_nothing(runtime: Runtime, upstreams: Upstreams) -> None:
    report = await stop_mid_stream(runtime, upstreams, stop=2)

    print(f"\nSIGKILL 2 of 2 workers: {report}")
    assert report.sent - report.received == 0
    assert report.marked_before_stop == 0, "a request marked completed was answered again"


async def test_sigterm_worker_hands_over_without_loss_or_duplicates(
    runtime: Runtime, upstreams: Upstreams
) -> None:
    report = await stop_mid_stream(runtime, upstreams, stop=1, graceful=True)

    print(f"\nSIGTERM 1 of 2 workers: {report}")
    assert report.sent - report.received == 0
    assert report.duplicates == {}, "a graceful stop is normal operation: every request answered once"


async def committed_offset(runtime: Runtime, tp: TopicPartition) -> int | None:
    """The aggregators' committed offset of one results partition (asked without joining the group)."""
    consumer = make_consumer(runtime.settings, group_id=f"{runtime.settings.group_prefix}.aggregator")
    await consumer.start()
    try:
        committed: int | None = await consumer.committed(tp)
    finally:
        await consumer.stop()
    return committed


async def test_restarted_aggregator_does_not_answer_finished_requests_again(
    runtime: Runtime, upstreams: Upstreams
) -> None:
    """A new aggregator replays a results partition from its oldest unfinished request; the requests
    finished after that one are rebuilt on the way, and their ``completed`` markers (all written
    before the kill) must keep them from being answered twice."""
    runtime.write_pipeline(nodes={"tickets": {"timeout_ms": 60_000, "retries": 0}})
    runtime.start_worker(roles=("planner", "connector"))
    aggregator = runtime.start_worker(roles=("aggregator",))
    await runtime.serving()
    results = await runtime.collect(runtime.settings.results_topic)
    upstreams.set_faults("support", latency_ms=60_000)
    partitions = runtime.settings.partitions
    prefix = f"replay-{uuid.uuid4().hex[:6]}"
    blocker, sentinel, *finished = [
        rid
        for rid in (f"{prefix}-{i}" for i in range(2000))
        if results_partition(rid, partitions) == results_partition(f"{prefix}-blocker", partitions)
    ][:32]
    fast = ["name", "orders", "credit_score", "loyalty_tier", "risk"]  # no support call

    # The blocker waits on the slow support service, so it holds back its partition's commit; its
    # deadline ends it as partial once the new aggregator has replayed the partition.
    await runtime.send(
        [
            {
                "request_id": blocker,
                "pipeline": "customer360",
                "keys": {"customer_id": "C00042"},
                "deadline_ms": BLOCKER_DEADLINE_MS,
            }
        ]
    )
    await runtime.send(
        [
            {
                "request_id": rid,
                "pipeline": "customer360",
                "keys": {"customer_id": f"C{i:05d}"},
                "fields": fast,
            }
            for i, rid in enumerate(finished)
        ]
    )
    await runtime.wait_for_profiles(finished, timeout_s=30)

    def markers_written() -> bool:
        return all(
            any(r.value.get("kind") == "completed" for r in results.by_request_id.get(rid, ()))
            for rid in finished
        )

    assert await results.wait_until(markers_written, timeout_s=10)
    aggregator.kill()
    assert blocker not in runtime.profiles.by_request_id, "the blocker finished before the kill"
    accepted = next(r for r in results.by_request_id[blocker] if r.value["kind"] == "accepted")
    committed = await committed_offset(runtime, TopicPartition(results.topic, accepted.partition))
    assert committed is None or committed <= accepted.offset, "nothing finished is left to replay"
    runtime.start_worker(roles=("aggregator",))
    await runtime.wait_for_profiles([blocker], timeout_s=60)
    await runtime.send(
        [{"request_id": sentinel, "pipeline": "customer360", "keys": {"customer_id": "C00001"}}]
    )
    await runtime.wait_for_profiles([sentinel], timeout_s=30)  # same partition: the replay is long over

    assert runtime.profiles.by_request_id[blocker][0].value["status"] == "partial"
    assert runtime.profiles.duplicates([blocker, sentinel, *finished]) == {}
