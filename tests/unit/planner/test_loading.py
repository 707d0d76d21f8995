"""Loading pipeline YAML: environment interpolation, versions, folders and YAML-level mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner import (
    ConfigError,
    config_files,
    config_version,
    load_pipelines,
    load_pipelines_reporting,
    parse_pipeline,
)

PIPELINE = """\
pipeline: p
output: {topic: out, key: keys.id}
sources:
  api: {connector: http, base_url: "${API_URL:-http://127.0.0.1:1}",
        headers: {Authorization: "Bearer ${API_TOKEN}"}}
nodes:
  a: {source: api, request: {path: "/a/{keys.id}", params: {price: "$$5", raw: "$${{NOT_A_VAR}}"}}}
fields:
  x: a.x
"""


def _settings(text: str, env: dict[str, str]) -> dict[str, object]:
    return parse_pipeline(text, file="p.yaml", env=env).nodes["a"].source.settings


def test_env_variable_is_substituted() -> None:
    settings = _settings(PIPELINE, {"API_URL": "http://crm:80", "API_TOKEN": "t0k"})
    assert settings["base_url"] == "http://crm:80"
    assert settings["headers"] == {"Authorization": "Bearer t0k"}


def test_env_default_is_used_when_the_variable_is_not_set() -> None:
    assert _settings(PIPELINE, {"API_TOKEN": "t"})["base_url"] == "http://127.0.0.1:1"


def test_env_empty_value_is_kept_not_replaced_by_the_default() -> None:
    assert _settings(PIPELINE, {"API_URL": "", "API_TOKEN": "t"})["base_url"] == ""


def test_double_dollar_is_a_literal_dollar() -> None:
    pipeline = parse_pipeline(PIPELINE, file="p.yaml", env={"API_TOKEN": "t"})
    params = pipeline.nodes["a"].render_request({"keys": {"id": "1"}})["params"]
    assert params == {"price": "$5", "raw": "${NOT_A_VAR}"}


def test_missing_env_variable_is_reported_with_where_it_is_used() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(PIPELINE, file="p.yaml", env={})
    [problem] = caught.value.problems
    assert problem.file == "p.yaml"
    assert problem.pipeline == "p"
    assert problem.where == "sources.api.headers.Authorization"
    assert "environment variable API_TOKEN is not set and has no default" in problem.message
    assert "${API_TOKEN:-default}" in problem.message


def test_missing_env_variable_in_a_node_names_the_node() -> None:
    text = PIPELINE.replace("/a/{keys.id}", "/a/${A_PATH}")
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="p.yaml", env={"API_TOKEN": "t"})
    [problem] = caught.value.problems
    assert (problem.node, problem.where) == ("a", "request.path")
    assert "A_PATH" in problem.message


def test_secret_values_from_the_environment_are_collected_for_masking() -> None:
    pipeline = parse_pipeline(PIPELINE, file="p.yaml", env={"API_TOKEN": "s3cret"})
    assert "s3cret" in pipeline.secrets
    assert "http://127.0.0.1:1" not in pipeline.secrets


def test_version_is_stable_across_key_order_and_whitespace() -> None:
    reordered = """\
fields: {x: a.x}
nodes:
    a:
        request: {params: {raw: "$${{NOT_A_VAR}}", price: "$$5"}, path: "/a/{keys.id}"}
        source: api
sources:
    api:
        headers: {Authorization: "Bearer ${API_TOKEN}"}
        base_url:    "${API_URL:-http://127.0.0.1:1}"
        connector: http
output:   {key: keys.id, topic: out}   # a comment changes nothing
pipeline: p
"""
    env = {"API_TOKEN": "t"}
    first = parse_pipeline(PIPELINE, file="p.yaml", env=env)
    second = parse_pipeline(reordered, file="other.yaml", env=env)
    assert first.version == second.version
    assert len(first.version) == 16


def test_version_changes_when_the_content_changes() -> None:
    env = {"API_TOKEN": "t"}
    before = parse_pipeline(PIPELINE, file="p.yaml", env=env)
    after = parse_pipeline(PIPELINE.replace("x: a.x", "x: a.y"), file="p.yaml", env=env)
    assert before.version != after.version


def test_version_does_not_depend_on_environment_values() -> None:
    one = parse_pipeline(PIPELINE, file="p.yaml", env={"API_TOKEN": "a", "API_URL": "http://x"})
    two = parse_pipeline(PIPELINE, file="p.yaml", env={"API_TOKEN": "b"})
    assert one.version == two.version


def test_config_version_accepts_mixed_key_types() -> None:
    assert config_version({"a": {1.5: "x", "b": "y"}}) == config_version({"a": {"b": "y", "1.5": "x"}})


def test_nested_numeric_mapping_keys_load() -> None:
    text = PIPELINE.replace('price: "$$5"', "1.5: one, price: two")
    pipeline = parse_pipeline(text, file="p.yaml", env={"API_TOKEN": "t"})
    assert pipeline.nodes["a"].render_request({"keys": {"id": "1"}})["params"]["1.5"] == "one"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_folder_reads_every_yaml_file(tmp_path: Path) -> None:
    _write(tmp_path, "one.yaml", PIPELINE)
    _write(tmp_path, "two.yml", PIPELINE.replace("pipeline: p", "pipeline: q"))
    _write(tmp_path, "notes.txt", "not a config")
    (tmp_path / "sub.yaml").mkdir()
    pipelines = load_pipelines([tmp_path], env={"API_TOKEN": "t"})
    assert sorted(pipelines) == ["p", "q"]
    assert pipelines["q"].file == str(tmp_path / "two.yml")


def test_config_files_lists_folders_sorted_and_files_as_given(tmp_path: Path) -> None:
    b = _write(tmp_path, "b.yaml", "")
    a = _write(tmp_path, "a.yml", "")
    single = _write(tmp_path, "single.txt", "")
    assert config_files([tmp_path]) == [a, b]
    assert config_files([single]) == [single]


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_pipelines([tmp_path / "absent"], env={})


def test_example_configs_load(tmp_path: Path) -> None:
    configs = Path(__file__).resolve().parents[3] / "configs"
    pipelines = load_pipelines([configs], env={})
    assert {"customer360", "order_tracking"} <= set(pipelines)
    assert pipelines["customer360"].config.output.topic == "profiles.enriched"


def test_duplicate_pipeline_names_across_files_are_reported(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", PIPELINE)
    second = _write(tmp_path, "b.yaml", PIPELINE)
    with pytest.raises(ConfigError) as caught:
        load_pipelines([tmp_path], env={"API_TOKEN": "t"})
    [problem] = caught.value.problems
    assert problem.file == str(second)
    assert problem.pipeline == "p"
    assert problem.message == f"duplicate pipeline name: also defined in {first}"


def test_problems_of_every_file_in_a_folder_are_reported_together(tmp_path: Path) -> None:
    _write(tmp_path, "good.yaml", PIPELINE)
    _write(tmp_path, "bad1.yaml", "pipeline: [")
    _write(tmp_path, "bad2.yaml", PIPELINE.replace("pipeline: p", "pipeline: r").replace("a.x", "zz.x"))
    with pytest.raises(ConfigError) as caught:
        load_pipelines([tmp_path], env={"API_TOKEN": "t"})
    files = [Path(p.file or "").name for p in caught.value.problems]
    assert files == ["bad1.yaml", "bad2.yaml"]


def test_load_pipelines_reporting_returns_the_valid_ones_beside_the_problems(tmp_path: Path) -> None:
    _write(tmp_path, "good.yaml", PIPELINE)
    _write(tmp_path, "bad.yaml", "pipeline: [")
    pipelines, problems = load_pipelines_reporting([tmp_path], env={"API_TOKEN": "t"})
    assert list(pipelines) == ["p"]
    assert [Path(p.file or "").name for p in problems] == ["bad.yaml"]
    assert load_pipelines_reporting([tmp_path / "absent"], env={})[1][0].message == "no such file or folder"


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"pipeline: caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read file"):
        load_pipelines([tmp_path], env={})


def test_duplicate_node_names_are_reported_with_both_lines() -> None:
    text = PIPELINE + "  y: a.y\nnodes:\n  b: {source: api}\n"
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="dup.yaml", env={"API_TOKEN": "t"})
    [problem] = caught.value.problems
    assert problem.file == "dup.yaml"
    assert problem.message == "invalid YAML: line 11, column 1: duplicate key 'nodes' (first at line 6)"


def test_duplicate_keys_inside_a_node_are_reported() -> None:
    text = PIPELINE.replace("a: {source: api,", "a: {source: api, source: api,")
    with pytest.raises(ConfigError, match=r"line 7, column 20: duplicate key 'source' \(first at line 7\)"):
        parse_pipeline(text, file="dup.yaml", env={"API_TOKEN": "t"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "pipeline: [",
            "invalid YAML: line 1, column 12: expected the node content, but found '<stream end>'",
        ),
        ("a: {b: 1\nc: 2\n", "invalid YAML: line 2, column 2: expected ',' or '}', but got ':'"),
        ("? [a]\n: 1\n", "invalid YAML: line 1, column 3: found unhashable key"),
        ("a: &x {b: *x}\n", "invalid YAML: line 1, column 4: found unconstructable recursive node"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
        ("pipeline: \x00", "invalid YAML: unacceptable character #x0000"),
        ("", "expected a mapping with 'pipeline:', got an empty document"),
        ("- a\n- b\n", "expected a mapping with 'pipeline:', got list"),
        ("just text", "expected a mapping with 'pipeline:', got str"),
    ],
)
def test_yaml_level_mistakes_are_config_errors(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="bad.yaml", env={})
    [found] = caught.value.problems
    assert found.file == "bad.yaml"
    assert problem in found.message
    assert "<unicode string>" not in found.message


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(ConfigError, match="larger than 1000000 bytes"):
        parse_pipeline("#" * 1_000_001, file="big.yaml", env={})
