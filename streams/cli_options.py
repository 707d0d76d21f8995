"""Command-line options shared by the CLI's command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.brokers import BrokerKind

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
