"""The broken example configs of ``tests/fixtures/broken_configs``: one mistake each, one precise message.

docs/configuration.md shows these messages (``graphfetch validate tests/fixtures/broken_configs``),
so the exact text is pinned here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner import ConfigError, load_pipelines, parse_pipeline

BROKEN = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "broken_configs"

EXPECTED = {
    "bad_expression.yaml": ", pipeline 'broken_bad_expression', node 'risk': when: "
    "invalid expression 'customer.scores[0': incomplete expression at position 17",
    "bad_yaml.yaml": ": invalid YAML: line 6, column 1: expected ',' or '}', but got '<scalar>' "
    "(while parsing a flow mapping started at line 5)",
    "cycle.yaml": ", pipeline 'broken_cycle', node 'customer': dependency cycle: customer -> orders -> customer",
    "duplicate_node.yaml": ": invalid YAML: line 10, column 3: duplicate key 'customer' (first at line 7)",
    "missing_env.yaml": ", pipeline 'broken_missing_env': sources.crm.base_url: environment variable "
    "CRM_API_URL_FOR_BROKEN_EXAMPLE is not set and has no default "
    "(write ${CRM_API_URL_FOR_BROKEN_EXAMPLE:-default})",
    "reserved_name.yaml": ", pipeline 'broken_reserved_name', node 'keys': name: "
    "'keys' is reserved for the request's keys; rename the node",
    "unknown_field_node.yaml": ", pipeline 'broken_unknown_field_node': fields.risk: "
    "refers to unknown node 'risk' (known: customer)",
    "unknown_node_ref.yaml": ", pipeline 'broken_unknown_node_ref', node 'orders': request.params.account: "
    "refers to unknown node 'custmer' (known: customer, orders)",
    "unknown_source.yaml": ", pipeline 'broken_unknown_source', node 'customer': source: "
    "unknown source 'crn' (known: crm)",
    "wrong_type.yaml": ", pipeline 'broken_wrong_type', node 'customer': retries: "
    "Input should be a valid integer, unable to parse string as an integer",
}


def test_every_broken_config_has_an_expected_message() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_config_gives_one_precise_problem(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(path.read_text(encoding="utf-8"), file=str(path), env={})
    [problem] = caught.value.problems
    assert str(problem) == f"{path}{EXPECTED[name]}"


def test_loading_the_folder_reports_every_broken_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipelines([BROKEN], env={})
    assert [Path(p.file or "").name for p in caught.value.problems] == sorted(EXPECTED)
    assert str(caught.value).startswith(
        f"{len(EXPECTED)} config problems:\n  - {BROKEN}/bad_expression.yaml, "
    )
