"""Command-line options shared by the CLI's command groups."""

from __future__ import annotations

import enum
from typing import Annotated

import typer


class BrokerKind(enum.StrEnum):
    """Which local broker to run; ``auto`` is Apache Kafka where installed, else Tansu.

    Defined here, not in :mod:`devkit.brokers` which runs them, so that the CLI can
    parse ``--broker`` without the tooling installed.
    """

    AUTO = "auto"
    KAFKA = "kafka"
    TANSU = "tansu"


BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        "-b",
        help="Kafka bootstrap servers (default: $GRAPHFETCH_BOOTSTRAP).",
        show_default=False,
    ),
]

BrokerKindOption = Annotated[
    BrokerKind,
    typer.Option(
        "--broker",
        help="Local broker to start: kafka (Apache Kafka, needs Java and scripts/kafka/fetch), "
        "tansu (zero setup), or auto (kafka where installed, else tansu).",
    ),
]
