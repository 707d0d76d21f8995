"""Command-line options shared by the CLI's command groups."""

from __future__ import annotations

from typing import Annotated

import typer

BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        "-b",
        help="Kafka bootstrap servers (default: $GRAPHFETCH_BOOTSTRAP).",
        show_default=False,
    ),
]
