"""Exactly-once processing (``GRAPHFETCH_PROCESSING_GUARANTEE=exactly_once``) on three kinds of broker.

* **A broker without transactions** (Tansu): the worker
  refuses to start, with one line naming the setting to change.
* **librdkafka's mock cluster** (a Kafka protocol implementation inside
  confluent-kafka, no broker process): a worker runs the whole transactional
  cycle (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
  EndTxn) while serving requests. A smoke test of the API sequence only: the
  mock neither creates topics through the admin API (they are auto-created
  here), nor keeps transactional offset commits, nor hides aborted records
  from ``read_committed`` consumers, so it proves nothing about isolation or
  recovery.
* **Apache Kafka** (the session's broker: the local one, or ``GRAPHFETCH_BOOTSTRAP``):
  worker processes end to end, and a SIGKILL mid-stream, each request
  answered exactly once as seen by ``read_committed`` consumers; a profile of
  a transaction a SIGKILL left open is never read committed; a frozen worker
  is fenced by its restart under the same worker id; a group's committed
  offsets read right after a transaction are that transaction's.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka import factory
from streams.liveconfig.catalog import load_catalog
from streams.runtime.worker import Worker
from streams.settings import Settings
from tests.support.clients import produce_requests

if TYPE_CHECKING:  # fixture types; pytest loads conftest.py itself
    from conftest import Runtime, TopicCollector, Upstreams

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
PIPELINE = "customer360"
UNSUPPORTED_HINT = "set GRAPHFETCH_PROCESSING_GUARANTEE=at_least_once"


async def supports_transactions(bootstrap: str) -> bool:
    """Whether the broker grants a transactional producer id (what an exactly-once worker needs)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"probe-{uuid.uuid4().hex}", enable_idempotence=True
    )
    try:
        async with asyncio.timeout(15):
            await producer.start()
    except (KafkaError, TimeoutError):
        return False
    finally:
        await producer.stop()
    return True


@pytest.fixture
async def transactional_broker(kafka_bootstrap: str) -> str:
    if not await supports_transactions(kafka_bootstrap):
        pytest.skip(
            f"the broker at {kafka_bootstrap} does not support transactions (Tansu): point "
            "GRAPHFETCH_BOOTSTRAP at Apache Kafka, or install it (scripts/kafka/fetch) for the tests to start it"
        )
    return kafka_bootstrap


# -- a broker without transactions --------------------------------------------------------------------


async def test_broker_without_transactions_refuses_exactly_once_with_one_clear_line(
    tansu_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    kafka_bootstrap = tansu_bootstrap
    assert not await supports_transactions(kafka_bootstrap)
    env = {
        "PATH": str(Path(sys.executable).parent),
        "OTEL_SDK_DISABLED": "true",
        "GRAPHFETCH_BOOTSTRAP": kafka_bootstrap,
        "GRAPHFETCH_PROCESSING_GUARANTEE": "exactly_once",
        "GRAPHFETCH_CONFIGS": str(REPO / "configs" / f"{PIPELINE}.yaml"),
        "GRAPHFETCH_GROUP_PREFIX": unique_name,
        "GRAPHFETCH_REQUESTS_TOPIC": f"{unique_name}.requests",
        "GRAPHFETCH_RESULTS_TOPIC": f"{unique_name}.results",
        "GRAPHFETCH_DLQ_TOPIC": f"{unique_name}.dlq",
        "GRAPHFETCH_CONFIGS_TOPIC": f"{unique_name}.configs",
        "GRAPHFETCH_STATS_TOPIC": f"{unique_name}.stats",
        "GRAPHFETCH_TASKS_TOPIC_PREFIX": f"{unique_name}.tasks.",
    }
    script = Path(sys.executable).with_name("graphfetch")
    done = await asyncio.to_thread(
        subprocess.run,
        [str(script), "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.strip().splitlines() or [""]
    assert done.returncode != 0, done.stderr
    assert f"the broker at {kafka_bootstrap} does not support transactions" in lines[-1], done.stderr
    assert lines[-1].endswith(UNSUPPORTED_HINT), done.stderr
    assert "Traceback" not in done.stderr, done.stderr


# -- librdkafka's mock cluster --------------------------------------------------------------------------


@pytest.fixture
def mock_cluster() -> Iterator[str]:
    """Bootstrap of an in-process librdkafka mock cluster (alive while its owning client lives)."""
    confluent_kafka = pytest.importorskip("confluent_kafka")
    owner = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = list(owner.list_topics(timeout=10).brokers.values())
    yield f"{brokers[0].host}:{brokers[0].port}"
    owner.flush(5)


@pytest.fixture
def mock_cluster_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the mock cluster lacks, worked around for this test only.

    Topics: CreateTopics is not served, so they are auto-created by a metadata
    request. Consumers: the mock's record batches fail aiokafka's CRC check.
    """

    async def auto_create(bootstrap: str, specs: Any, **_: Any) -> list[str]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for spec in specs:
                await producer.partitions_for(spec.name)
        finally:
            await producer.stop()
        return []

    make_consumer = factory.make_consumer

    def lenient_consumer(*args: Any, **kwargs: Any) -> AIOKafkaConsumer:
        return make_consumer(*args, **kwargs, check_crcs=False)

    for module in ("streams.runtime.worker", "streams.runtime.statstopic", "streams.liveconfig.configsync"):
        monkeypatch.setattr(f"{module}.ensure_topics", auto_create)
    for module in ("streams.runtime.agents.agent", "streams.kafka.topicreader"):
        monkeypatch.setattr(f"{module}.make_consumer", lenient_consumer)


@pytest.fixture
def pipeline_env(upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in upstreams.env().items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
@pytest.mark.usefixtures("mock_cluster_clients", "pipeline_env")
async def test_transactional_cycle_serves_requests_on_librdkafka_mock_cluster(
    mock_cluster: str, unique_name: str, tmp_path: Path
) -> None:
    output = f"{unique_name}.profiles"
    configs = tmp_path / "configs"
    configs.mkdir()
    config = yaml.safe_load((REPO / "configs" / f"{PIPELINE}.yaml").read_text())
    config["output"]["topic"] = output
    config["defaults"]["timeout_ms"] = 5_000  # a busy machine must not turn latency into failures
    config["defaults"]["deadline_ms"] = 20_000  # nor into partial profiles (8 of 20 once, at 1 s)
    (configs / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(config))
    settings = Settings(
        bootstrap=mock_cluster, configs=configs, processing_guarantee="exactly_once", watch_configs=False
    ).isolated(unique_name)
    worker = Worker(settings, pipelines=load_catalog([configs]))
    running = asyncio.create_task(worker.run())
    ready = asyncio.create_task(worker.ready.wait())
    try:
        await asyncio.wait({running, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert ready.done(), running.exception() if running.done() else "the worker did not start in 30 s"
        ids = await produce_requests(
            settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=20, id_prefix=unique_name
        )
        profiles = await read_profiles(settings, output, want=set(ids), timeout_s=60)
        transactions = worker.ctx.transactions
        assert transactions is not None
        commits_while_serving = transactions.commits
        offsets_while_serving = transactions.offsets_committed
    finally:
        ready.cancel()
        worker.stop()
        await asyncio.wait_for(running, 30)

    assert {rid: len(found) for rid, found in profiles.items()} == dict.fromkeys(ids, 1)
    failed = [p["errors"] for found in profiles.values() for p in found if p["status"] != "complete"]
    assert failed == []
    assert commits_while_serving >= 2, "sends were not committed in transactions"
    # Requests (planner), tasks (connector) and results (aggregator) offsets went into them too.
    assert offsets_while_serving >= 3, "no offsets were committed in the transactions"


async def read_profiles(
    settings: Settings, topic: str, *, want: set[str], timeout_s: float
) -> dict[str, list[dict[str, Any]]]:
    """Every profile of ``topic`` for the ids in ``want``, once each has one (and a short grace)."""
    async with AIOKafkaProducer(bootstrap_servers=settings.bootstrap) as producer:
        tps = [TopicPartition(topic, p) for p in await producer.partitions_for(topic)]
    consumer = factory.make_consumer(settings, group_id=None, check_crcs=False)
    await consumer.start()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(timeout_s):
            while not want <= found.keys():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        profile = json.loads(record.value or b"{}")
                        if profile.get("request_id") in want:
                            found.setdefault(profile["request_id"], []).append(profile)
        await consumer.getmany(timeout_ms=1000)  # duplicates published right after are read too
    finally:
        await consumer.stop()
    return found


# -- a broker with transactions -------------------------------------------------------------------------


EXACTLY_ONCE_ENV = {"GRAPHFETCH_PROCESSING_GUARANTEE": "exactly_once", "GRAPHFETCH_FETCH_MAX_WAIT_MS": "100"}


async def start_exactly_once(
    runtime: Runtime, *, workers: int, env: dict[str, str] | None = None
) -> TopicCollector:
    """``workers`` exactly-once workers serving; a ``read_committed`` collector of their output topic.

    ``runtime.profiles`` stays a ``read_uncommitted`` collector: it also sees
    what open and aborted transactions wrote.
    """
    runtime.extra_env.update(EXACTLY_ONCE_ENV | (env or {}))
    # Each hop of a request waits for the commit that makes its input visible
    # (read_committed), so a request costs hops x commit interval: the 1 s
    # deadline of customer360 would measure that, not exactly-once.
    runtime.write_pipeline(defaults={"timeout_ms": 5_000, "deadline_ms": 30_000})
    await runtime.start(workers=workers)
    settings = runtime.settings.model_copy(update={"processing_guarantee": "exactly_once"})
    collector = type(runtime.profiles)(
        settings=settings, topic=runtime.output_topic, partitions=settings.partitions
    )
    await collector.start()
    runtime._collectors.append(collector)  # stopped at teardown with the runtime's own
    return collector


@pytest.fixture
async def committed_profiles(runtime: Runtime, transactional_broker: str) -> TopicCollector:
    """Two exactly-once workers started; a ``read_committed`` collector of their output topic."""
    return await start_exactly_once(runtime, workers=2)


@pytest.mark.slow
async def test_exactly_once_workers_answer_each_request_once(
    runtime: Runtime, committed_profiles: TopicCollector
) -> None:
    ids = await produce_requests(
        runtime.settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=100, id_prefix="eos"
    )
    assert await committed_profiles.wait_for(ids, timeout_s=60), runtime.logs()
    duplicated = await committed_profiles.wait_until(
        lambda: bool(committed_profiles.duplicates(ids)), timeout_s=2
    )
    assert not duplicated, committed_profiles.duplicates(ids)
    assert {r.value["status"] for i in ids for r in committed_profiles.by_request_id[i]} == {"complete"}


@pytest.mark.slow
async def test_sigkill_with_exactly_once_gives_no_duplicate_profiles(
    runtime: Runtime, upstreams: Upstreams, committed_profiles: TopicCollector
) -> None:
    upstreams.set_faults("crm", latency_ms=150)
    upstreams.set_faults("orders", latency_ms=150)
    producing = asyncio.create_task(
        produce_requests(
            runtime.settings,
            PIPELINE,
            {"customer_id": "C{i:05d}"},
            count=100,
            rate=40.0,
            id_prefix="eos-kill",
        )
    )
    assert await committed_profiles.wait_until(lambda: len(committed_profiles.received) >= 10, timeout_s=60)
    runtime.workers[0].kill()
    runtime.start_worker()
    ids = await producing
    assert await committed_profiles.wait_for(ids, timeout_s=90), runtime.logs()
    # A replayed request would be answered again within a few commit intervals.
    await committed_profiles.wait_until(lambda: bool(committed_profiles.duplicates(ids)), timeout_s=5)
    duplicates = committed_profiles.duplicates(ids)
    print(f"\nSIGKILL 1 of 2 exactly-once workers: {len(ids)} sent, duplicates {len(duplicates)}")
    assert duplicates == {}, duplicates


@pytest.mark.slow
async def test_profiles_of_a_killed_workers_open_transaction_are_never_read_committed(
    runtime: Runtime, transactional_broker: str
) -> None:
    """SIGKILL while a profile is in an open transaction; its successor answers the request again.

    A ``read_uncommitted`` reader sees both answers, the aborted one first; a
    ``read_committed`` reader sees only the second. The commit interval (2 s)
    makes "seen uncommitted, not yet committed" last long enough to kill in.
    """
    committed = await start_exactly_once(
        runtime, workers=1, env={"GRAPHFETCH_WORKER_ID": "w1", "GRAPHFETCH_COMMIT_INTERVAL_MS": "2000"}
    )
    uncommitted = runtime.profiles
    producing = asyncio.create_task(
        produce_requests(
            runtime.settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=40, rate=10.0, id_prefix="open"
        )
    )

    def in_open_transaction() -> list[str]:
        return [
            i for i in uncommitted.by_request_id if i.startswith("open") and i not in committed.by_request_id
        ]

    assert await uncommitted.wait_until(lambda: bool(in_open_transaction()), timeout_s=60), runtime.logs()
    runtime.workers[0].kill()
    open_at_kill = in_open_transaction()
    runtime.extra_env["GRAPHFETCH_COMMIT_INTERVAL_MS"] = "200"
    runtime.start_worker()
    ids = await producing
    assert await committed.wait_for(ids, timeout_s=90), runtime.logs()
    await committed.wait_until(lambda: bool(committed.duplicates(ids)), timeout_s=2)

    assert committed.duplicates(ids) == {}
    aborted = [i for i in open_at_kill if len(uncommitted.by_request_id[i]) == 2]
    print(
        f"\nSIGKILL with {len(open_at_kill)} profiles uncommitted: {len(aborted)} answered again, 0 read twice"
    )
    assert aborted, (
        f"every profile open at the kill ({open_at_kill}) was committed after all; nothing was aborted"
    )
    for request_id in aborted:
        first, second = uncommitted.by_request_id[request_id]
        [seen] = committed.by_request_id[request_id]
        assert (seen.partition, seen.offset) == (second.partition, second.offset), request_id
        assert (first.partition, first.offset) != (seen.partition, seen.offset)


@pytest.mark.slow
async def test_a_frozen_worker_is_fenced_by_its_restart_with_the_same_worker_id(
    runtime: Runtime, transactional_broker: str
) -> None:
    """SIGSTOP a worker, start another with its worker id, SIGCONT the first: the first stops, fenced."""
    committed = await start_exactly_once(runtime, workers=1, env={"GRAPHFETCH_WORKER_ID": "w1"})
    before = await produce_requests(
        runtime.settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=5, id_prefix="before"
    )
    assert await committed.wait_for(before, timeout_s=60), runtime.logs()
    zombie = runtime.workers[0]
    zombie.process.send_signal(signal.SIGSTOP)
    try:
        runtime.start_worker()
        during = await produce_requests(
            runtime.settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=5, id_prefix="during"
        )
        # The successor gets the partitions once the frozen member's session (6 s) times out.
        assert await committed.wait_for(during, timeout_s=90), runtime.logs()
    finally:
        zombie.process.send_signal(signal.SIGCONT)
    code = await asyncio.to_thread(zombie.process.wait, 60)
    after = await produce_requests(
        runtime.settings, PIPELINE, {"customer_id": "C{i:05d}"}, count=5, id_prefix="after"
    )
    assert await committed.wait_for(after, timeout_s=60), runtime.logs()
    ids = before + during + after
    await committed.wait_until(lambda: bool(committed.duplicates(ids)), timeout_s=2)

    assert code != 0, zombie.log_tail()
    assert "fenced" in zombie.log_path.read_text().lower(), zombie.log_tail()
    assert runtime.workers[1].alive, runtime.logs()
    assert committed.duplicates(ids) == {}


async def test_one_transaction_commits_the_offsets_of_every_consumer_group(
    transactional_broker: str, unique_name: str
) -> None:
    """A worker commits three groups' offsets in one transaction; each group must be added to it.

    With aiokafka's own transaction manager the second group's TxnOffsetCommit
    fails with INVALID_TXN_STATE on Apache Kafka (KIP-890 verification).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.kafka.topics import TopicSpec, ensure_topics
    from streams.runtime.transactions import TransactionalProducer, TransactionGate

    topic = f"{unique_name}.in"
    await ensure_topics(transactional_broker, [TopicSpec(name=topic, partitions=1)])
    groups = [f"{unique_name}.{role}" for role in ("planner", "connector", "aggregator")]
    gate = TransactionGate()
    gate.open()
    producer = TransactionalProducer(
        gate, bootstrap_servers=transactional_broker, transactional_id=unique_name, enable_idempotence=True
    )
    await producer.start()
    try:
        for offset in (1, 2):
            async with producer.transaction():
                await producer.send_and_wait(topic, b"v", partition=0)
                for group in groups:
                    await producer.send_offsets_to_transaction({TopicPartition(topic, 0): offset}, group)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=transactional_broker)
    await admin.start()
    try:
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            assert committed[TopicPartition(topic, 0)].offset == 2, group
    finally:
        await admin.close()


async def test_committed_offsets_read_right_after_a_commit_are_that_commits(
    transactional_broker: str, unique_name: str
) -> None:
    """An exactly-once consumer never starts from the offsets before a transaction that has committed.

    The offsets of a transaction are pending until its markers are written,
    just after EndTxn answers; aiokafka's own OffsetFetch (v3) returns the
    previous ones meanwhile (68 of 100 reads here once), so a worker that
    commits at a rebalance and reads its offsets back replayed its last batch.
    """
    from streams.kafka.stableoffsets import ReadCommittedConsumer
    from streams.kafka.topics import TopicSpec, ensure_topics
    from streams.runtime.transactions import TransactionalProducer, TransactionGate

    topic, group = f"{unique_name}.in", f"{unique_name}.group"
    await ensure_topics(transactional_broker, [TopicSpec(name=topic, partitions=1)])
    tp = TopicPartition(topic, 0)
    gate = TransactionGate()
    gate.open()
    producer = TransactionalProducer(
        gate, bootstrap_servers=transactional_broker, transactional_id=unique_name, enable_idempotence=True
    )
    consumer = ReadCommittedConsumer(
        bootstrap_servers=transactional_broker, group_id=group, isolation_level="read_committed"
    )
    await producer.start()
    await consumer.start()
    try:
        read_back = []
        for offset in range(1, 51):
            async with producer.transaction():
                await producer.send_and_wait(topic, b"v", partition=0)
                await producer.send_offsets_to_transaction({tp: offset}, group)
            read_back.append(await consumer.committed(tp))
    finally:
        await consumer.stop()
        await producer.stop()
    assert read_back == list(range(1, 51))


async def test_read_committed_consumer_reads_offsets_committed_without_a_transaction(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """The stable offset fetch also serves plain commits, on every broker the tests run on."""
    from streams.kafka.stableoffsets import ReadCommittedConsumer
    from streams.kafka.topics import TopicSpec, ensure_topics

    topic, group = f"{unique_name}.in", f"{unique_name}.group"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name=topic, partitions=2)])
    consumer = ReadCommittedConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(tps)
        assert await consumer.committed(tps[0]) is None
        await consumer.commit({tps[0]: 7, tps[1]: 3})
        assert [await consumer.committed(tp) for tp in tps] == [7, 3]
    finally:
        await consumer.stop()


async def test_high_watermarks_reach_past_an_open_transaction_where_end_offsets_stop(
    transactional_broker: str, unique_name: str
) -> None:
    """The end an aggregator replays a partition up to, under read_committed: past every open transaction.

    Behind a transaction left open (a SIGKILLed worker's, until the broker aborts it), another
    producer commits a record. A read_committed consumer's ``end_offsets()`` stops before the open
    transaction (the last stable offset); ``high_watermarks()`` reaches past the committed record,
    which is where a replay must read to before it may answer (its ``completed`` marker could be there).
    """
    from streams.kafka.stableoffsets import ReadCommittedConsumer
    from streams.kafka.topics import TopicSpec, ensure_topics

    topic = f"{unique_name}.results"
    await ensure_topics(transactional_broker, [TopicSpec(name=topic, partitions=1)])
    tp = TopicPartition(topic, 0)
    stuck = AIOKafkaProducer(bootstrap_servers=transactional_broker, transactional_id=f"{unique_name}.stuck")
    plain = AIOKafkaProducer(bootstrap_servers=transactional_broker)
    consumer = ReadCommittedConsumer(
        bootstrap_servers=transactional_broker,
        group_id=f"{unique_name}.group",
        isolation_level="read_committed",
    )
    await stuck.start()
    await plain.start()
    await consumer.start()
    try:
        await plain.send_and_wait(topic, b"before", partition=0)  # offset 0
        await stuck.begin_transaction()
        await stuck.send_and_wait(topic, b"open", partition=0)  # offset 1, never committed here
        await plain.send_and_wait(topic, b"marker", partition=0)  # offset 2, committed
        stable = (await consumer.end_offsets([tp]))[tp]
        high = (await consumer.high_watermarks([tp]))[tp]
        print(f"\nlast stable offset {stable}, high watermark {high}")
        assert stable == 1
        assert high == 3
    finally:
        await consumer.stop()
        await plain.stop()
        await stuck.stop()
