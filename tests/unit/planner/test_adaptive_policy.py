"""A node's adaptive policy: node settings override the pipeline's, which override the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from planner import AdaptivePolicy, ConfigError, parse_pipeline
from tests.unit.planner.conftest import minimal_document


def _pipeline(**overrides: Any) -> Any:
    return parse_pipeline(yaml.safe_dump(minimal_document(**overrides)), file="p.yaml", env={})


def test_without_config_every_value_is_the_built_in_one() -> None:
    policy = _pipeline().nodes["a"].policy
    assert policy == AdaptivePolicy()
    assert policy.hedge is None
    assert policy.coalesce is None
    assert policy.cache is None


def test_node_overrides_pipeline_which_overrides_built_in() -> None:
    pipeline = _pipeline(
        defaults={"adaptive": {"hedge": False, "timeout_factor": 5, "hedge_budget": 0.1}},
        nodes={
            "a": {"source": "api", "request": {"path": "/a"}, "adaptive": {"hedge": True}},
            "b": {"source": "api", "request": {"path": "/b"}, "cache": {"ttl_s": 30, "store": "redis"}},
        },
    )
    a, b = pipeline.nodes["a"].policy, pipeline.nodes["b"].policy
    assert (a.hedge, a.timeout_factor, a.hedge_budget, a.timeouts) == (True, 5, 0.1, False)
    assert (b.hedge, b.timeout_factor) == (False, 5)
    assert b.cache is not None
    assert (b.cache.ttl_s, b.cache.store) == (30, "redis")


@pytest.mark.parametrize(
    ("node_extra", "needle"),
    [
        ({"cache": {"ttl_s": 0}}, "ttl_s"),
        ({"cache": {"ttl_s": 5, "store": "disk"}}, "store"),
        ({"adaptive": {"hedge_budget": 2}}, "hedge_budget"),
        ({"adaptive": {"hedge_quantile": 0.1}}, "hedge_quantile"),
        ({"adaptive": {"hegde": True}}, "hegde"),
    ],
)
def test_bad_adaptive_settings_are_config_errors_naming_the_field(
    node_extra: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        _pipeline(nodes={"a": {"source": "api", "request": {"path": "/a"}, **node_extra}})
