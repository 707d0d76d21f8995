"""Fixtures of the planner's unit tests: the example pipelines and a small config builder.

Configs are loaded with an empty environment, so a developer's ``CRM_URL`` or
``ORDERS_TOKEN`` never changes what a test sees.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner import Pipeline, parse_pipeline

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"


@pytest.fixture(scope="session")
def customer360() -> Pipeline:
    return parse_pipeline((CONFIGS / "customer360.yaml").read_text(), file="customer360.yaml", env={})


@pytest.fixture(scope="session")
def order_tracking() -> Pipeline:
    return parse_pipeline((CONFIGS / "order_tracking.yaml").read_text(), file="order_tracking.yaml", env={})


def minimal_document(**overrides: Any) -> dict[str, Any]:
    """A valid one-node pipeline as a dict; ``overrides`` replace top-level sections."""
    document: dict[str, Any] = {
        "pipeline": "p",
        "output": {"topic": "out", "key": "keys.id"},
        "sources": {"api": {"connector": "http", "base_url": "http://127.0.0.1:1"}},
        "nodes": {"a": {"source": "api", "request": {"path": "/a/{keys.id}"}}},
        "fields": {"x": "a.x"},
    }
    document.update(overrides)
    return document


@pytest.fixture
def build_pipeline() -> Callable[..., Pipeline]:
    """Build a pipeline from top-level sections (see :func:`minimal_document`) through YAML text."""

    def build(*, env: dict[str, str] | None = None, **sections: Any) -> Pipeline:
        text = yaml.safe_dump(minimal_document(**sections), sort_keys=False)
        return parse_pipeline(text, file="test.yaml", env=env or {})

    return build
