"""A source's ``limits:`` and ``breaker:`` are checked when pipelines load, like its connector's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.liveconfig.catalog import load_catalog_reporting

REPO = Path(__file__).resolve().parents[3]


def write(folder: Path, crm: dict[str, Any]) -> Path:
    document = yaml.safe_load((REPO / "configs" / "customer360.yaml").read_text())
    document["sources"]["crm"].update(crm)
    path = folder / "customer360.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("crm", "problem"),
    [
        ({"limits": {"tolerance": 0.5}}, "limits.tolerance: Input should be greater than 1"),
        (
            {"limits": {"max_concurrency": 4, "initial_limit": 9}},
            "initial_limit (9) cannot be more than max_concurrency (4)",
        ),
        ({"limits": {"adaptiv": False}}, "limits.adaptiv: Extra inputs are not permitted"),
        ({"breaker": {"failure_threshold": 0}}, "breaker.failure_threshold"),
    ],
)
def test_a_bad_limit_or_breaker_refuses_the_pipeline_naming_the_source_and_key(
    tmp_path: Path, crm: dict[str, Any], problem: str
) -> None:
    valid, problems = load_catalog_reporting([write(tmp_path, crm)], env={})
    assert valid == {}
    [found] = problems
    assert found.where == "sources.crm"
    assert problem in found.message


def test_good_limits_load(tmp_path: Path) -> None:
    limits = {"max_concurrency": 16, "initial_limit": 2, "tolerance": 2, "backoff_ratio": 0.8}
    valid, problems = load_catalog_reporting([write(tmp_path, {"limits": limits})], env={})
    assert problems == []
    assert list(valid) == ["customer360"]
