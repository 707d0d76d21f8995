"""Sharing history through a compacted stats topic on a real broker: a new worker starts informed."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from connectors import ResilientSource
from connectors.null import NullConnector
from streams.engine.history import History, HistoryKey
from streams.engine.source_states import source_state
from streams.kafka.factory import make_producer
from streams.runtime.statstopic import StatsOptions, StatsSync
from streams.settings import Settings
from tests.support.waiting import until

pytestmark = pytest.mark.integration

NODE = HistoryKey.node("customer360", "orders")
SOURCE = HistoryKey.source("customer360", "orders_api")


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return Settings(bootstrap=kafka_bootstrap)


@pytest.fixture
def options(unique_name: str) -> StatsOptions:
    return StatsOptions(
        topic=f"{unique_name}.stats", publish_interval_s=0.2, idle_s=0.5, catch_up_timeout_s=15
    )


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = make_producer(settings)
    await producer.start()
    yield producer
    await producer.stop()


def observe(history: History, latency_ms: float, *, n: int, ok: bool = True) -> None:
    for _ in range(n):
        history.observe(
            pipeline="customer360", node="orders", source="orders_api", latency_ms=latency_ms, ok=ok
        )


def _catch_up_ended(caplog: pytest.LogCaptureFixture) -> tuple[bool, list[str]]:
    """Whether a catch-up logged since ``caplog.clear()`` ended on its own (a quiet topic, or a record
    written after it began) rather than at its timeout; and the stats log lines, for the message.

    How long it took is printed, not asserted: that follows the machine's load.
    """
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.runtime.statstopic"]
    ended = any(line.startswith("stats: caught up with") for line in lines)
    return ended and not any("still busy after" in line for line in lines), lines


async def test_a_new_worker_answers_from_the_published_history_before_observing(
    settings: Settings, options: StatsOptions, producer: AIOKafkaProducer, caplog: pytest.LogCaptureFixture
) -> None:
    worker_a = History()
    for latency in range(10, 110):  # 10..109 ms, 100 fetches, 1 in 4 failing
        observe(worker_a, float(latency), n=3)
        observe(worker_a, 5_000.0, n=1, ok=False)
    async with StatsSync(settings, worker_a, producer=producer, worker_id="worker-a", options=options):
        pass  # stop() publishes a last snapshot

    worker_b = History()
    caplog.set_level(logging.INFO, logger="streams.runtime.statstopic")
    caplog.clear()
    started = time.monotonic()
    async with StatsSync(settings, worker_b, producer=producer, worker_id="worker-b", options=options):
        caught_up_in = time.monotonic() - started
        ended, lines = _catch_up_ended(caplog)
        assert worker_b.peers() == ["worker-a"]
        for key in (NODE, SOURCE):
            for q in (0.5, 0.95, 0.99):
                # Within one sketch bucket: the weights decay with the time the snapshot took to
                # arrive, and the median's rank (200 of 400) sits on a bucket boundary, where the
                # rounding of decayed weights may pick the neighbouring bucket.
                assert worker_b.quantile_ms(key, q) == pytest.approx(worker_a.quantile_ms(key, q), rel=0.025)
            # A's 400 fetches, decayed as A's own copy is now (half-life 5 min): compared with 400
            # itself, the check would fail whenever publishing and catching up took over 4 s.
            assert worker_b.count(key) == pytest.approx(worker_a.count(key), rel=0.01)
            assert worker_a.count(key) == pytest.approx(400, rel=0.2)
            assert worker_b.error_rate(key) == pytest.approx(0.25, abs=0.001)
        assert worker_b.quantile_ms(NODE, 0.95) == pytest.approx(105.0, rel=0.02)
    # Idle after the one record: the catch-up ended on the quiet topic, not at its timeout.
    print(f"\ncaught up in {caught_up_in:.2f} s (timeout {options.catch_up_timeout_s:g} s)")
    assert ended, lines

    # A read-only reader (plan --explain) sees both workers and publishes nothing itself.
    for i in range(2):
        reader = History()
        async with StatsSync(settings, reader, producer=None, worker_id=f"explain-{i}", options=options):
            assert sorted(reader.peers()) == ["worker-a", "worker-b"]
            assert reader.quantile_ms(NODE, 0.5) == pytest.approx(worker_a.quantile_ms(NODE, 0.5), rel=0.025)

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, options.topic)])
    finally:
        await admin.close()
    [(_code, _message, _type, _name, entries)] = response.resources
    assert "compact" in {entry[0]: entry[1] for entry in entries}["cleanup.policy"]


async def test_a_running_worker_follows_its_peers_updates(
    settings: Settings, options: StatsOptions, producer: AIOKafkaProducer
) -> None:
    worker_a, worker_b = History(), History()

    def b_sees_all_of_a() -> bool:
        """B's count of A's fetches is A's own: both decay alike, so the time it takes does not matter
        (against a fixed 30 or 60, a slow follow would be outrun by the decay)."""
        return worker_b.count(NODE) >= worker_a.count(NODE) - 0.5

    async with StatsSync(settings, worker_b, producer=producer, worker_id="worker-b", options=options):
        assert worker_b.count(NODE) == 0
        async with StatsSync(settings, worker_a, producer=producer, worker_id="worker-a", options=options):
            observe(worker_a, 40.0, n=30)
            await until(b_sees_all_of_a, timeout_s=15, what="B sees A's first 30 observations")
            observe(worker_a, 40.0, n=30)
            await until(b_sees_all_of_a, timeout_s=15, what="B sees A's next 30 observations")
            assert worker_b.count(NODE) == pytest.approx(60, rel=0.1)
        # B's own snapshot carries only its own observations: none.
        assert worker_b.snapshot()["keys"] == []


async def test_stale_and_malformed_records_are_ignored_and_counted(
    settings: Settings, options: StatsOptions, producer: AIOKafkaProducer
) -> None:
    peer = History()
    observe(peer, 20.0, n=25)
    good = {**peer.snapshot(), "worker": "good"}
    stale = {**good, "worker": "old", "at_s": time.time() - 2 * options.max_age_s}
    counts: Counter[str] = Counter()
    history = History()
    async with StatsSync(
        settings,
        history,
        producer=producer,
        worker_id="me",
        options=options,
        count=lambda name: counts.update([name]),
    ) as sync:
        for key, value in (
            (b"old", json.dumps(stale).encode()),
            (b"broken", b"{not json"),
            (b"wrong-shape", json.dumps({"schema": 1, "at_s": time.time(), "keys": "all"}).encode()),
            (b"good", json.dumps(good).encode()),
        ):
            await producer.send_and_wait(options.topic, value, key=key)
        await until(lambda: history.peers() == ["good"], timeout_s=15, what="the good peer is known")
        await until(
            lambda: counts["stats.rejected"] == 2, timeout_s=15, what="both malformed records are rejected"
        )
        assert counts["stats.stale"] == 1
        assert history.quantile_ms(NODE, 0.5) == pytest.approx(20.0, rel=0.01)
        await producer.send_and_wait(options.topic, None, key=b"good")  # a tombstone forgets the peer
        await until(lambda: history.peers() == [], timeout_s=15, what="the tombstone forgets the peer")
        assert sync.state.value == "running"


@pytest.mark.slow
async def test_catch_up_ends_on_a_busy_topic_without_waiting_for_the_timeout(
    settings: Settings, options: StatsOptions, producer: AIOKafkaProducer, caplog: pytest.LogCaptureFixture
) -> None:
    """Peers publish faster than the idle window: reaching a record written after start ends catch-up."""
    busy = StatsOptions(topic=options.topic, publish_interval_s=0.05, idle_s=2.0, catch_up_timeout_s=20.0)
    worker_a = History()
    observe(worker_a, 40.0, n=30)
    caplog.set_level(logging.INFO, logger="streams.runtime.statstopic")
    async with StatsSync(settings, worker_a, producer=producer, worker_id="worker-a", options=busy):
        caplog.clear()
        started = time.monotonic()
        worker_b = History()
        async with StatsSync(settings, worker_b, producer=producer, worker_id="worker-b", options=busy):
            caught_up_in = time.monotonic() - started
            ended, lines = _catch_up_ended(caplog)
            # A's 30 fetches as A's own copy counts them now: both decay alike while catching up.
            assert worker_b.count(NODE) == pytest.approx(worker_a.count(NODE), rel=0.01)
            assert worker_a.count(NODE) == pytest.approx(30, rel=0.2)
    # Peers publish every 50 ms, faster than the 2 s idle window: only meeting a record written
    # after the catch-up began can have ended it before its timeout.
    print(f"\ncaught up in {caught_up_in:.2f} s (timeout {busy.catch_up_timeout_s:g} s)")
    assert ended, lines


async def test_a_snapshot_too_large_for_one_message_keeps_the_most_recent_keys(
    kafka_bootstrap: str, options: StatsOptions, producer: AIOKafkaProducer
) -> None:
    small = Settings(bootstrap=kafka_bootstrap, max_message_bytes=4096)
    worker_a = History()
    for node in range(40):
        for latency in range(20, 60):
            worker_a.observe(pipeline="p", node=f"n{node}", source="s", latency_ms=float(latency), ok=True)
    counts: Counter[str] = Counter()
    async with StatsSync(
        small,
        worker_a,
        producer=producer,
        worker_id="worker-a",
        options=options,
        count=lambda name: counts.update([name]),
    ):
        pass
    assert counts["stats.trimmed"] >= 1

    worker_b = History()
    async with StatsSync(small, worker_b, producer=producer, worker_id="worker-b", options=options):
        known = worker_b.known_keys()
    assert 0 < len(known) < 41
    assert HistoryKey.node("p", "n39") in known  # the most recently observed survive
    assert HistoryKey.node("p", "n0") not in known


async def test_each_workers_source_states_reach_a_reader_beside_its_history(
    settings: Settings, options: StatsOptions, producer: AIOKafkaProducer
) -> None:
    crm = ResilientSource.from_settings(
        NullConnector(source="crm", settings={}), {"limits": {"initial_limit": 6, "max_concurrency": 16}}
    )
    history = History()
    observe(history, 40.0, n=30)
    counts: Counter[str] = Counter()
    async with StatsSync(
        settings,
        history,
        producer=producer,
        worker_id="worker-a",
        options=options,
        sources=lambda: [source_state("ident-crm", crm)],
    ):
        pass  # stop() publishes a last snapshot and the source states

    reader = StatsSync(
        settings, History(), producer=None, worker_id="explain", options=options, count=counts.update
    )
    async with reader:
        assert reader.history.peers() == ["worker-a"], "the source states are not taken for a history"
        assert reader.history.count(NODE) == pytest.approx(30, rel=0.01)
        published = reader.peer_sources["worker-a"]
    [state] = published.sources
    assert (state.source, state.id, state.connector) == ("crm", "ident-crm", "null")
    assert (state.limit, state.adaptive, state.max_concurrency, state.breaker) == (6, True, 16, "closed")
    assert (state.in_flight, state.waiting, state.shed) == (0, 0, 0)
    assert counts["stats.rejected"] == 0
