"""graphfetch's Kafka security settings against a real broker behind TLS and SASL/SCRAM.

Tansu, the local broker, cannot secure its listener itself (its own behaviour
is pinned by the last tests here), so :class:`SecuredBroker` puts a TLS and
SCRAM front before it. Every client is built from :class:`Settings` exactly as
the runtime builds them: ``ensure_topics`` with ``kafka_security_options()``,
``make_producer`` and ``make_consumer``, and one ``graphfetch worker`` process
configured only through ``GRAPHFETCH_*`` variables.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from devkit.brokers import TansuBroker
from streams.kafka.factory import make_consumer, make_producer
from streams.kafka.topicreader import TopicCollector
from streams.kafka.topics import TopicSpec, describe_partitions, ensure_topics
from streams.settings import SaslMechanism, Settings
from tests.integration.broker.secure_front import ScramUser, SecuredBroker, TlsFiles, make_tls_files
from tests.integration.runtime.conftest import Upstreams, upstreams

__all__ = ["upstreams"]  # the demo upstreams fixture, shared with the runtime tests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
ALICE = ScramUser(name="alice", password="alice-pw-7f3a", mechanism="SCRAM-SHA-256")
BOB = ScramUser(name="bob", password="bob-pw-91c2", mechanism="SCRAM-SHA-512")
WRONG_PASSWORD = "not-the-password-5d0e"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _sasl(
    bootstrap: str, user: ScramUser, *, password: str | None = None, tls: TlsFiles | None = None
) -> Settings:
    """SCRAM settings for ``user``; with ``tls``, SASL_SSL presenting the client certificate too."""
    mechanism: SaslMechanism = "SCRAM-SHA-512" if user.mechanism == "SCRAM-SHA-512" else "SCRAM-SHA-256"
    return Settings(
        bootstrap=bootstrap,
        security_protocol="SASL_PLAINTEXT" if tls is None else "SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username=user.name,
        sasl_password=SecretStr(password or user.password),
        ssl_cafile=None if tls is None else tls.ca,
        ssl_certfile=None if tls is None else tls.client_cert,
        ssl_keyfile=None if tls is None else tls.client_key,
    )


async def _round_trip(settings: Settings, name: str) -> None:
    """ensure_topics, produce and consume one record, all with ``settings``' security."""
    created = await ensure_topics(
        settings.bootstrap, [TopicSpec(name=name, partitions=2)], **settings.kafka_security_options()
    )
    assert created == [name]
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(name, b"secured", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(settings, name, group_id=f"{name}.group")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k", b"secured")


# -- SASL/SCRAM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [ALICE, BOB], ids=["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_scram_login_creates_topics_produces_and_consumes(user: ScramUser, unique_name: str) -> None:
    async with SecuredBroker(users=[ALICE, BOB]) as broker:
        await _round_trip(_sasl(broker.bootstrap, user), unique_name)
        # Admin client, producer, consumer and its coordinator connection each logged in.
        assert set(broker.logins) == {user.name}
        assert len(broker.logins) >= 3


async def test_wrong_password_is_refused_without_revealing_it(
    unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with SecuredBroker(users=[ALICE]) as broker:
        settings = _sasl(broker.bootstrap, ALICE, password=WRONG_PASSWORD)
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap") as topics_error:
            await ensure_topics(settings.bootstrap, [TopicSpec(name=unique_name, partitions=1)],
                                **settings.kafka_security_options())  # fmt: skip
        producer = make_producer(settings)
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap") as producer_error:
            await producer.start()
        await producer.stop()
        assert broker.logins == []
    # aiokafka's exception names no cause; the reason is in its log.
    assert "[Error 58] SaslAuthenticationFailed: Authentication failed" in caplog.text
    shown = [caplog.text, repr(settings), str(settings.model_dump())]
    shown += [str(e.value) + repr(e.value) for e in (topics_error, producer_error)]
    assert not [text for text in shown if WRONG_PASSWORD in text]


async def test_plain_and_unauthenticated_clients_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    async with SecuredBroker(users=[ALICE]) as broker:
        plain = _sasl(broker.bootstrap, ALICE).model_copy(update={"sasl_mechanism": "PLAIN"})
        for settings in (plain, Settings(bootstrap=broker.bootstrap)):
            producer = make_producer(settings)
            with pytest.raises(KafkaConnectionError):
                await producer.start()
            await producer.stop()
    assert "UnsupportedSaslMechanismError" in caplog.text


# -- TLS ----------------------------------------------------------------------------------------------


async def test_tls_with_the_ca_file_creates_topics_produces_and_consumes(
    tls_files: TlsFiles, unique_name: str
) -> None:
    async with SecuredBroker(tls=tls_files.server_context()) as broker:
        settings = Settings(bootstrap=broker.bootstrap, security_protocol="SSL", ssl_cafile=tls_files.ca)
        await _round_trip(settings, unique_name)


async def test_tls_without_the_ca_file_fails_verification(
    tls_files: TlsFiles, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with SecuredBroker(tls=tls_files.server_context()) as broker:
        settings = Settings(bootstrap=broker.bootstrap, security_protocol="SSL")
        with pytest.raises(KafkaConnectionError):
            await ensure_topics(settings.bootstrap, [TopicSpec(name=unique_name, partitions=1)],
                                **settings.kafka_security_options())  # fmt: skip
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


async def test_client_certificate_is_presented_when_the_broker_requires_one(
    tls_files: TlsFiles, unique_name: str
) -> None:
    async with SecuredBroker(tls=tls_files.server_context(require_client_cert=True)) as broker:
        without = Settings(bootstrap=broker.bootstrap, security_protocol="SSL", ssl_cafile=tls_files.ca)
        producer = make_producer(without)
        with pytest.raises(KafkaConnectionError):
            await producer.start()
        await producer.stop()
        client = {"ssl_certfile": tls_files.client_cert, "ssl_keyfile": tls_files.client_key}
        await _round_trip(without.model_copy(update=client), unique_name)


async def test_sasl_over_tls_with_a_client_certificate(tls_files: TlsFiles, unique_name: str) -> None:
    context = tls_files.server_context(require_client_cert=True)
    async with SecuredBroker(tls=context, users=[BOB]) as broker:
        await _round_trip(_sasl(broker.bootstrap, BOB, tls=tls_files), unique_name)
        assert set(broker.logins) == {"bob"}


# -- a worker process configured only through GRAPHFETCH_* ------------------------------------------------


@pytest.mark.slow
async def test_worker_serves_a_request_over_sasl_ssl(
    tls_files: TlsFiles, upstreams: Upstreams, unique_name: str, tmp_path: Path
) -> None:
    pipeline = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
    pipeline["output"]["topic"] = output = f"{unique_name}.profiles"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "customer360.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    context = tls_files.server_context()
    async with SecuredBroker(tls=context, users=[ALICE]) as broker:
        settings = _sasl(broker.bootstrap, ALICE, tls=tls_files).model_copy(
            update={"requests_topic": f"{unique_name}.requests", "partitions": 2}
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHFETCH_", "OTEL_"))}
        env |= upstreams.env() | {"OTEL_SDK_DISABLED": "true"}
        env |= {
            "GRAPHFETCH_BOOTSTRAP": broker.bootstrap,
            "GRAPHFETCH_CONFIGS": str(tmp_path / "configs"),
            "GRAPHFETCH_PARTITIONS": "2",
            "GRAPHFETCH_GROUP_PREFIX": unique_name,
            "GRAPHFETCH_REQUESTS_TOPIC": settings.requests_topic,
            "GRAPHFETCH_RESULTS_TOPIC": f"{unique_name}.results",
            "GRAPHFETCH_DLQ_TOPIC": f"{unique_name}.dlq",
            "GRAPHFETCH_CONFIGS_TOPIC": f"{unique_name}.configs",
            "GRAPHFETCH_STATS_TOPIC": f"{unique_name}.stats",
            "GRAPHFETCH_TASKS_TOPIC_PREFIX": f"{unique_name}.tasks.",
            "GRAPHFETCH_SECURITY_PROTOCOL": "SASL_SSL",
            "GRAPHFETCH_SASL_MECHANISM": ALICE.mechanism,
            "GRAPHFETCH_SASL_USERNAME": ALICE.name,
            "GRAPHFETCH_SASL_PASSWORD": ALICE.password,
            "GRAPHFETCH_SSL_CAFILE": str(tls_files.ca),
        }
        log_path = tmp_path / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(  # the installed console script, a fixed argv
                [str(Path(sys.executable).with_name("graphfetch")), "worker", "--log-level", "INFO"],
                env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        collector: TopicCollector | None = None
        try:
            # The worker creates its topics (output included) through the front; then ask it once.
            request_id = f"req-{uuid.uuid4().hex[:8]}"
            collector = await _collect_when_created(settings, output, worker, log_path)
            producer = make_producer(settings)
            await producer.start()
            try:
                request = {
                    "request_id": request_id,
                    "pipeline": "customer360",
                    "keys": {"customer_id": "C00001"},
                }
                await producer.send_and_wait(settings.requests_topic, json.dumps(request).encode(),
                                             key=request_id.encode())  # fmt: skip
            finally:
                await producer.stop()
            assert await collector.wait_for([request_id], timeout_s=30), _tail(log_path)
        finally:
            if collector is not None:
                await collector.stop()
            worker.kill()
            worker.wait(timeout=10)
        assert "alice" in broker.logins
        assert ALICE.password not in log_path.read_text()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:]


async def _collect_when_created(
    settings: Settings, topic: str, worker: subprocess.Popen[bytes], log_path: Path
) -> TopicCollector:
    """A started collector of ``topic`` once the worker has created it (polled: there is no event)."""
    security = settings.kafka_security_options()
    for _ in range(400):
        assert worker.poll() is None, _tail(log_path)
        if await describe_partitions(settings.bootstrap, topic, **security) == settings.partitions:
            collector = TopicCollector(settings=settings, topic=topic, partitions=settings.partitions)
            await collector.start()
            return collector
        await asyncio.sleep(0.1)
    pytest.fail(f"the worker did not create {topic}:\n{_tail(log_path)}")


# -- what Tansu itself does --------------------------------------------------------------------------------


async def test_tansu_authentication_refuses_graphfetch_logins(caplog: pytest.LogCaptureFixture) -> None:
    """Pinned so a Tansu that can authenticate is noticed: today no graphfetch login gets through.

    Users cannot be created while authentication is required (the request is
    refused as NotAuthenticated), every SCRAM login is answered
    ``e=unknown-user`` with error code 0, which aiokafka's SCRAM client fails to
    parse (KeyError 'v'), and PLAIN is not offered (connection closed).
    """
    async with TansuBroker(authentication=True) as broker:
        scram = _sasl(broker.bootstrap, ALICE)
        plain = scram.model_copy(update={"sasl_mechanism": "PLAIN"})
        outcomes: list[type[BaseException]] = []
        for settings in (scram, plain):
            producer = make_producer(settings, request_timeout_ms=5000)
            with pytest.raises((KeyError, KafkaConnectionError)) as refused:
                await producer.start()
            await producer.stop()
            outcomes.append(refused.type)
    assert outcomes == [KeyError, KafkaConnectionError]
