"""Apache Kafka on this machine: the broker users run, from Maven Central, in KRaft combined mode.

:class:`KafkaBroker` runs ``kafka.Kafka`` from the jars that
``scripts/kafka/fetch`` copies out of Maven Central (``scripts/kafka/pom.xml``
names the modules) into ``~/.cache/graphfetch/kafka/<version>/libs``; no Docker, no
distribution tarball. Each start is a fresh single-node cluster: a temporary
directory holds ``server.properties``, the log4j2 configuration and the log
dir, formatted with a new cluster id (``kafka.tools.StorageTool format``), and
is removed at ``stop()``.

The broker is one node acting as controller and broker, bound to
``127.0.0.1`` on two free ports (clients, controller), with what a one-node
test cluster needs: replication factor 1 for the offsets, transaction and
share-state topics, no initial rebalance delay, and timed-out transactions
aborted within a second rather than ten (what a SIGKILLed exactly-once worker
leaves behind is cleared sooner; a transaction still expires only after its
own ``transaction.timeout.ms``).

It is ready once its client listener answers an ApiVersions request: Apache
Kafka opens that listener only after the broker is unfenced.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from devkit.brokers.probe import answers_api_versions, finds_group_coordinator
from devkit.brokers.process import HOST, BrokerError, ChildBroker, free_port

__all__ = ["KAFKA_VERSION", "KafkaBroker", "cluster_id", "kafka_available", "kafka_libs", "resolve_java"]

KAFKA_VERSION = "4.4.0"
_FETCH_COMMAND = "scripts/kafka/fetch"
_FORMAT_TIMEOUT_S = 120.0

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
"""


def kafka_libs() -> Path:
    """The folder of broker jars: ``$GRAPHFETCH_KAFKA_LIBS``, else ``kafka/<version>/libs`` in the cache.

    The cache is ``$GRAPHFETCH_CACHE``, else ``~/.cache/graphfetch``: outside the
    checkout, so every clone on a machine (CI's among them) shares one fetch.
    """
    configured = os.environ.get("GRAPHFETCH_KAFKA_LIBS")
    if configured:
        return Path(configured)
    cache = os.environ.get("GRAPHFETCH_CACHE") or str(Path.home() / ".cache" / "graphfetch")
    return Path(cache) / "kafka" / KAFKA_VERSION / "libs"


def resolve_java() -> str | None:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on the PATH, else None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def kafka_available() -> bool:
    """Whether this machine can run :class:`KafkaBroker`: a Java and the fetched jars."""
    libs = kafka_libs()
    return resolve_java() is not None and (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()


def _missing() -> str | None:
    """What stops the broker from starting, in words that say how to fix it; None when nothing."""
    if resolve_java() is None:
        return (
            "Apache Kafka needs Java 17 or newer, and none was found (set JAVA_HOME or put java on "
            "the PATH; on Debian: apt-get install openjdk-17-jre-headless), then run "
            f"{_FETCH_COMMAND} for the broker jars"
        )
    libs = kafka_libs()
    if not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return (
            f"the Apache Kafka {KAFKA_VERSION} jars are not in {libs}: run {_FETCH_COMMAND} "
            "(needs Maven and Maven Central; scripts/setup runs it where Maven is present)"
        )
    return None


def cluster_id() -> str:
    """A new cluster id in Kafka's form: 16 random bytes, URL-safe base64 without padding.

    Never one that starts with ``-``: the storage tool would read it as an option (one start in
    64 failed so), and Kafka's own ``Uuid.randomUuid`` draws again in that case too.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class KafkaBroker(ChildBroker):
    """A fresh one-node Apache Kafka cluster on ``127.0.0.1`` for the lifetime of a ``with`` block.

    ``port=None`` picks a free client port (the controller always gets a free
    one). ``heap_mb`` caps the JVM heap. ``properties`` adds or overrides broker
    settings. Broker output goes to ``log_path`` when given, else to an
    anonymous temporary file quoted in start-up errors.
    """

    name = "Apache Kafka"

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        heap_mb: int = 512,
        properties: dict[str, str] | None = None,
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        super().__init__(
            port=port, log_path=log_path, start_timeout_s=start_timeout_s, stop_timeout_s=stop_timeout_s
        )
        self._heap_mb = heap_mb
        self._extra = dict(properties or {})
        self._workdir: Path | None = None

    def _prepare(self, port: int) -> None:
        problem = _missing()
        if problem is not None:
            raise BrokerError(f"Cannot start the local Apache Kafka broker: {problem}.")
        self._cleanup()
        self._workdir = Path(tempfile.mkdtemp(prefix="graphfetch-kafka-"))
        (self._workdir / "log4j2.properties").write_text(_LOG4J2)
        config = self._workdir / "server.properties"
        config.write_text(
            "".join(f"{key}={value}\n" for key, value in self._properties(port, free_port()).items())
        )
        argv = [*self._java(), "kafka.tools.StorageTool", "format"]
        argv += ["--cluster-id", cluster_id(), "--config", str(config), "--ignore-formatted"]
        try:
            formatted = subprocess.run(  # noqa: S603 - a list argv of resolved paths
                argv, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(
                f"Formatting Apache Kafka's storage took over {_FORMAT_TIMEOUT_S:g} s."
            ) from exc
        if formatted.returncode != 0:
            raise BrokerError(
                f"Formatting Apache Kafka's storage failed (exit {formatted.returncode}):\n"
                f"{(formatted.stdout + formatted.stderr)[-2000:]}"
            )

    def _argv(self, port: int) -> list[str]:
        assert self._workdir is not None  # set by _prepare, which start() runs first
        return [*self._java(), "kafka.Kafka", str(self._workdir / "server.properties")]

    def _answers(self, port: int) -> bool:
        """It takes clients (ApiVersions), and groups: their coordinator is up (FindCoordinator)."""
        return answers_api_versions(HOST, port, timeout_s=1.0) and finds_group_coordinator(
            HOST, port, timeout_s=1.0
        )

    def _cleanup(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _java(self) -> list[str]:
        java = resolve_java()
        assert java is not None  # _prepare checked
        assert self._workdir is not None
        return [
            java,
            f"-Xms{min(128, self._heap_mb)}m",
            f"-Xmx{self._heap_mb}m",
            # Kafka's own defaults (kafka-run-class.sh): G1 with short pauses.
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._workdir / 'log4j2.properties'}",
            "-cp",
            str(kafka_libs() / "*"),
        ]

    def _properties(self, port: int, controller_port: int) -> dict[str, str]:
        assert self._workdir is not None
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._workdir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
        }
        properties.update(self._extra)
        return properties
