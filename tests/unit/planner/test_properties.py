"""Property-based tests of the planner with hypothesis.

Random acyclic pipelines are generated as a small model (who reads whom, which nodes
are optional, which ``when:`` they have), written as YAML and loaded for real; the
model then predicts what the planner must do, independently of its code:

- the graph of a field selection holds exactly the transitively needed nodes,
  and every node sits on a later level than its dependencies;
- the state machine always finishes, whatever the order of results, duplicates
  and failures, and each node ends as the model says (done, skipped, failed);
- a back edge always makes loading fail with a ``dependency cycle:`` that is a
  real cycle of the graph;
- garbage never raises anything but :class:`planner.ConfigError`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import (
    ConfigError,
    Failure,
    NodeState,
    Outcome,
    Pipeline,
    RequestState,
    graph_shape,
    parse_pipeline,
    plan_request,
)
from planner.state import OUT_OF_TIME

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = 1_800_000_000_000.0
KEYS = {"id": "k1", "flag": "y"}
# Ways to read node ``n`` (whose result is ``_result(n)``) and the value each yields.
READS: dict[str, Callable[[str], Any]] = {
    "{n}.v": lambda n: len(n),
    "length({n}.items)": lambda n: 2,
    "{n}.items[0:1] | [0].x": lambda n: "k1",
    "{n}.items[?x == keys.zzz] | length(@)": lambda n: 0,  # 'keys' is each item's field here
    "{n}.{w: v}.w": lambda n: len(n),
    "max_by({n}.items, &x).x": lambda n: "z",
    "to_string({n}.items[-1].x)": lambda n: "z",
}


@dataclass(frozen=True)
class NodeModel:
    name: str
    deps: frozenset[str]  # every dependency, however it is expressed
    when_dep: str | None  # ``when: <dep>.go``
    when_keys: bool  # ``when: keys.flag == 'y'`` (always true for KEYS)
    optional: bool


@dataclass(frozen=True)
class PipelineModel:
    nodes: dict[str, NodeModel]  # in a topological order
    fields: dict[str, frozenset[str]]  # field -> nodes it reads
    values: dict[str, list[Any]]  # field -> its value when all the nodes it reads are done
    document: dict[str, Any]

    def closure(self, fields: list[str]) -> set[str]:
        needed: set[str] = set()
        stack = [n for f in fields for n in self.fields[f]]
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack.extend(self.nodes[name].deps)
        return needed

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        stack = list(self.nodes[name].deps)
        while stack:
            dep = stack.pop()
            if dep not in found:
                found.add(dep)
                stack.extend(self.nodes[dep].deps)
        return found


def _node_document(node: NodeModel, draw: Callable[..., Any]) -> dict[str, Any]:
    request: dict[str, Any] = {"path": f"/{node.name}/{{keys.id}}"}
    params: dict[str, str] = {}
    depends_on: list[str] = []
    for dep in sorted(node.deps):
        if dep == node.when_dep:
            continue  # read by ``when:`` already
        how = draw(st.sampled_from(["template", "depends_on", "list"]))
        read = draw(st.sampled_from(sorted(READS))).replace("{n}", dep)
        if how == "template":
            params[f"p_{dep}"] = f"v={{{read}}}"
        elif how == "list":
            request.setdefault("items", []).append(f"{{{read}}}")
        else:
            depends_on.append(dep)
    if params:
        request["params"] = params
    document: dict[str, Any] = {"source": draw(st.sampled_from(["api", "db"])), "request": request}
    conditions = []
    if node.when_dep is not None:
        conditions.append(f"{node.when_dep}.go")
    if node.when_keys:
        conditions.append("keys.flag == 'y'")
    if conditions:
        document["when"] = " && ".join(conditions)
    if depends_on:
        document["depends_on"] = depends_on
    if node.optional:
        document["optional"] = True
    return document


@st.composite
def pipeline_models(draw: Callable[..., Any], max_nodes: int = 25) -> PipelineModel:
    count = draw(st.integers(1, max_nodes))
    # Names are a random permutation, so name order and dependency order differ.
    names = [f"n{i}" for i in draw(st.permutations(range(count)))]
    nodes: dict[str, NodeModel] = {}
    for i, name in enumerate(names):
        deps = frozenset(draw(st.sets(st.sampled_from(names[:i]), max_size=3)) if i else set())
        when_dep = draw(st.none() | st.sampled_from(sorted(deps))) if deps else None
        nodes[name] = NodeModel(
            name=name,
            deps=deps,
            when_dep=when_dep,
            when_keys=draw(st.booleans()),
            optional=draw(st.booleans()),
        )
    fields: dict[str, frozenset[str]] = {}
    field_docs: dict[str, str] = {"key_only": "keys.id"}
    values: dict[str, list[Any]] = {"key_only": []}
    for i in range(draw(st.integers(1, 8))):
        reads = sorted(draw(st.sets(st.sampled_from(names), min_size=1, max_size=2)))
        forms = [draw(st.sampled_from(sorted(READS))) for _ in reads]
        fields[f"f{i}"] = frozenset(reads)
        field_docs[f"f{i}"] = (
            "[" + ", ".join(form.replace("{n}", n) for form, n in zip(forms, reads, strict=True)) + "]"
        )
        values[f"f{i}"] = [READS[form](n) for form, n in zip(forms, reads, strict=True)]
    fields["key_only"] = frozenset()
    node_docs = {name: _node_document(nodes[name], draw) for name in draw(st.permutations(names))}
    document = {
        "pipeline": "generated",
        "output": {"topic": "out", "key": "keys.id"},
        "defaults": {"deadline_ms": 1000},
        "sources": {"api": {"connector": "http"}, "db": {"connector": "sql"}},
        "nodes": node_docs,
        "fields": field_docs,
    }
    return PipelineModel(nodes=nodes, fields=fields, values=values, document=document)


def _load(document: dict[str, Any]) -> Pipeline:
    return parse_pipeline(yaml.safe_dump(document, sort_keys=False), file="generated.yaml", env={})


@PROPERTY_SETTINGS
@given(model=pipeline_models(), data=st.data())
def test_graph_holds_exactly_the_needed_nodes_in_levels_after_their_deps(
    model: PipelineModel, data: st.DataObject
) -> None:
    pipeline = _load(model.document)
    fields = data.draw(st.lists(st.sampled_from(sorted(model.fields)), min_size=1, unique=True))
    shape = graph_shape(pipeline, fields)
    expected = model.closure(fields)
    assert set(shape.nodes) == expected
    assert len(shape.nodes) == len(expected)
    level_of = {n: i for i, level in enumerate(shape.levels) for n in level}
    assert sorted(level_of) == sorted(expected)
    for name in shape.nodes:
        assert shape.deps[name] == model.nodes[name].deps
        for dep in model.nodes[name].deps:
            assert level_of[dep] < level_of[name]
    for name in shape.nodes:  # each node is as early as its deps allow
        deps = model.nodes[name].deps
        assert level_of[name] == (1 + max(level_of[d] for d in deps) if deps else 0)


def _expected_states(
    model: PipelineModel, nodes: tuple[str, ...], go: dict[str, bool], fails: set[str]
) -> dict[str, NodeState]:
    """What each node must end as when every dispatched task gets its result (no deadline)."""
    states: dict[str, NodeState] = {}
    for name in nodes:  # topological order
        node = model.nodes[name]
        dep_states = [states[d] for d in node.deps]
        if NodeState.FAILED in dep_states:
            states[name] = NodeState.FAILED
        elif NodeState.SKIPPED in dep_states or (node.when_dep is not None and not go[node.when_dep]):
            states[name] = NodeState.SKIPPED
        else:
            states[name] = NodeState.FAILED if name in fails else NodeState.DONE
    return states


@PROPERTY_SETTINGS
@given(model=pipeline_models(), data=st.data())
def test_state_machine_always_finishes_with_a_consistent_status(
    model: PipelineModel, data: st.DataObject
) -> None:
    pipeline = _load(model.document)
    fields = data.draw(st.lists(st.sampled_from(sorted(model.fields)), min_size=1, unique=True))
    plan = plan_request(pipeline, keys=KEYS, fields=fields)
    go = {name: data.draw(st.booleans()) for name in model.nodes}
    fails = set(data.draw(st.sets(st.sampled_from(sorted(model.nodes)))))
    expire_after = data.draw(st.none() | st.integers(0, 30))
    state = RequestState(plan, request_id="r", received_at_ms=T0, deadline_ms=1000)

    def outcome(name: str) -> Outcome:
        if name in fails:
            return Outcome(node=name, failure=Failure(kind="unavailable", message=f"{name} failed"))
        return Outcome(node=name, value={"v": len(name), "go": go[name], "items": [{"x": "k1"}, {"x": "z"}]})

    now = T0
    step = state.start(now)
    outstanding = [t.node for t in step.tasks]
    delivered: list[str] = []
    while outstanding and not state.finished:
        if expire_after is not None and len(delivered) >= expire_after:
            state.expire(T0 + 1000)
            break
        for noise in data.draw(st.lists(st.sampled_from(["duplicate", "unknown"]), max_size=2)):
            if noise == "duplicate" and delivered:
                assert state.apply(outcome(data.draw(st.sampled_from(delivered))), now).tasks == ()
            elif noise == "unknown":
                assert state.apply(Outcome(node="not_a_node", value=1), now).tasks == ()
        name = outstanding.pop(data.draw(st.integers(0, len(outstanding) - 1)))
        delivered.append(name)
        now += 1
        step = state.apply(outcome(name), now)
        outstanding.extend(t.node for t in step.tasks)
        assert not set(outstanding) & set(delivered), "a task was dispatched twice"
    assert state.finished, "the request never finished"
    assert state.emission is not None
    profile = state.emission.profile
    assert all(state.node_state(n).terminal for n in plan.nodes)
    required_failed = any(
        error.kind not in OUT_OF_TIME and not pipeline.nodes[name].optional
        for name, error in profile.errors.items()
        if name in pipeline.nodes
    )
    assert profile.status == ("failed" if required_failed else "partial" if profile.errors else "complete")
    deadline = any(e.kind == "deadline" for e in profile.errors.values())
    if not deadline:
        expected = _expected_states(model, plan.nodes, go, fails)
        assert {n: state.node_state(n) for n in plan.nodes} == expected
        assert set(profile.errors) == {n for n, s in expected.items() if s is NodeState.FAILED}
    for name, error in profile.errors.items():
        if error.kind == "dependency_failed":
            assert any(state.node_state(d) is NodeState.FAILED for d in model.nodes[name].deps)
        elif error.kind == "unavailable":
            assert name in fails
    for fname, value in profile.data.items():
        reads = model.fields[fname]
        assert not any(state.node_state(n) is NodeState.FAILED for n in reads)
        if reads and all(state.node_state(n) is NodeState.DONE for n in reads):
            assert value == model.values[fname]
    assert state.apply(outcome(plan.nodes[0]) if plan.nodes else Outcome(node="x"), now + 1).emission is None


@st.composite
def cyclic_documents(draw: Callable[..., Any]) -> tuple[dict[str, Any], str, str]:
    """An acyclic pipeline plus one back edge: ``ancestor`` now also depends on ``node``."""
    model = draw(pipeline_models(max_nodes=15).filter(lambda m: any(n.deps for n in m.nodes.values())))
    node = draw(st.sampled_from(sorted(n for n, m in model.nodes.items() if m.deps)))
    ancestor = draw(st.sampled_from(sorted(model.ancestors(node))))
    document = model.document
    target = document["nodes"][ancestor]
    if draw(st.booleans()):
        target.setdefault("depends_on", []).append(node)
    else:
        target["request"].setdefault("params", {})["back"] = f"{{{node}.v}}"
    return document, node, ancestor


@PROPERTY_SETTINGS
@given(case=cyclic_documents())
def test_back_edge_is_always_rejected_as_a_printed_cycle(case: tuple[dict[str, Any], str, str]) -> None:
    document, node, ancestor = case
    with pytest.raises(ConfigError) as caught:
        _load(document)
    cycles = [p for p in caught.value.problems if p.message.startswith("dependency cycle: ")]
    assert cycles, [str(p) for p in caught.value.problems]
    deps = {name: _declared_deps(doc) for name, doc in document["nodes"].items()}
    for problem in cycles:
        path = problem.message.removeprefix("dependency cycle: ").split(" -> ")
        assert path[0] == path[-1]
        assert len(path) >= 3
        assert {node, ancestor} <= set(path)
        for upstream, downstream in itertools.pairwise(path):
            assert upstream in deps[downstream], f"{downstream} does not read {upstream}"
        assert problem.node in path


def _declared_deps(node: dict[str, Any]) -> set[str]:
    text = yaml.safe_dump(node)
    return {name for name in _names_in(node) if name in text}


def _names_in(node: dict[str, Any]) -> set[str]:
    found = set(node.get("depends_on", []))
    when = node.get("when") or ""
    found |= {part.split(".")[0] for part in when.split(" && ") if not part.startswith("keys.")}
    request = node["request"]
    values = [*request.get("params", {}).values(), *request.get("items", [])]
    found |= {re.findall(r"\{(?:\w+\()?(\w+)", value)[0] for value in values}
    return found


# Garbage: nothing may escape but ConfigError.


def _parse_garbage(text: str) -> None:
    try:
        parse_pipeline(text, file="garbage.yaml", env={"SET": "value"})
    except ConfigError as exc:
        problems = exc.problems
    else:
        return
    assert problems
    assert all(p.file == "garbage.yaml" for p in problems)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_random_text_only_raises_config_error(text: str) -> None:
    _parse_garbage(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_random_yaml_values_only_raise_config_error(value: Any) -> None:
    _parse_garbage(yaml.safe_dump(value))


# Text that reaches the expression and template parsers and the env interpolation.
tricky_text = st.text(alphabet="{}[]()`'\".|&!*?@$:-_ ab.keysn0123=<>", max_size=24)
wrong_values = json_values | tricky_text


@st.composite
def mangled_documents(draw: Callable[..., Any]) -> dict[str, Any]:
    """A valid generated pipeline with a few values or sections replaced by wrong ones."""
    model: PipelineModel = draw(pipeline_models(max_nodes=6))
    document = model.document
    for _ in range(draw(st.integers(1, 4))):
        parent: Any = document
        while True:
            if isinstance(parent, dict) and parent:
                key = draw(st.sampled_from(sorted(parent, key=str)))
            elif isinstance(parent, list) and parent:
                key = draw(st.integers(0, len(parent) - 1))
            else:
                break
            if not isinstance(parent[key], dict | list) or draw(st.booleans()):
                parent[key] = draw(wrong_values)
                break
            parent = parent[key]
    return document


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=mangled_documents())
def test_config_like_documents_with_wrong_types_only_raise_config_error(document: dict[str, Any]) -> None:
    _parse_garbage(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(request=st.dictionaries(st.text(max_size=8), json_values, max_size=4), params=json_values)
def test_random_request_bodies_only_raise_config_error(request: dict[str, Any], params: Any) -> None:
    document = {
        "pipeline": "p",
        "output": {"key": "keys.id"},
        "sources": {"api": {"connector": "http"}},
        "nodes": {"a": {"source": "api", "request": {**request, "params": params}}},
        "fields": {"f": "a.x"},
    }
    _parse_garbage(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(field=tricky_text, template=tricky_text, when=tricky_text | st.none())
def test_random_expressions_and_templates_only_raise_config_error(
    field: str, template: str, when: str | None
) -> None:
    node: dict[str, Any] = {"source": "api", "request": {"path": template}}
    if when is not None:
        node["when"] = when
    document = {
        "pipeline": "p",
        "output": {"key": "keys.id"},
        "sources": {"api": {"connector": "http", "base_url": template}},
        "nodes": {"a": node},
        "fields": {"f": field},
    }
    _parse_garbage(yaml.safe_dump(document))
