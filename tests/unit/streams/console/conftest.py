"""Profiles and the demo pipeline for the console's unit tests (no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from planner import Pipeline, Profile
from streams.console.profiles import ProfileEntry, epoch_ms
from streams.liveconfig.catalog import load_catalog

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def customer360() -> Pipeline:
    return load_catalog([REPO / "configs" / "customer360.yaml"])["customer360"]


def lineage(node: str, *, notes: list[str] | None = None, skipped: bool = False) -> dict[str, Any]:
    return {
        "node": node,
        "source": "crm",
        "connector": "http",
        "config_version": "v1",
        "attempts": 1,
        "latency_ms": 10.0,
        "fetched_at": None,
        "skipped": skipped,
        "notes": notes or [],
    }


def entry(
    request_id: str,
    *,
    completed_at: str = "2026-12-05T20:00:00.000Z",
    status: str = "complete",
    keys: dict[str, str] | None = None,
    lineages: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, dict[str, Any]] | None = None,
) -> ProfileEntry:
    profile = Profile.model_validate(
        {
            "request_id": request_id,
            "pipeline": "customer360",
            "config_version": "v1",
            "status": status,
            "keys": keys or {"customer_id": "C00042"},
            "data": {},
            "errors": errors or {},
            "lineage": lineages or {},
            "timing": {"received_at": completed_at, "completed_at": completed_at, "latency_ms": 1.0},
            "trace_id": None,
        }
    )
    return ProfileEntry(
        profile=profile, topic="out", partition=0, offset=0, completed_ms=epoch_ms(completed_at)
    )
