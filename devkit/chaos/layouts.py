"""Which worker processes a deployment runs, and their roles (kept free of heavy imports for the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.runtime.worker import Role

_EVERY_ROLE: tuple[Role, ...] = ("planner", "connector", "aggregator")


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Worker processes by name, each with its roles."""

    name: str
    workers: Mapping[str, tuple[Role, ...]]


PAIR = Layout(name="pair", workers={"worker-1": _EVERY_ROLE, "worker-2": _EVERY_ROLE})
"""Two workers with every role."""
SPLIT = Layout(
    name="split",
    workers={
        "all-roles": _EVERY_ROLE,
        "planner": ("planner",),
        "connector": ("connector",),
        "aggregator": ("aggregator",),
    },
)
"""One worker with every role and one process per role: one role can die while a survivor of it remains."""
