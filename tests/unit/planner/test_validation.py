"""Validation: every kind of mistake is located (file, pipeline, node, where) and all are reported at once."""

from __future__ import annotations

import textwrap

import pytest

from planner import ConfigError, Problem, parse_pipeline

HEAD = """\
pipeline: shop
output: {topic: out, key: keys.id}
sources:
  api: {connector: http, base_url: "http://127.0.0.1:1"}
  db: {connector: sql, dsn: "sqlite:///x.db"}
"""


def _problems(body: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(HEAD + textwrap.dedent(body), file="shop.yaml", env={})
    return caught.value.problems


def _only(body: str) -> Problem:
    problems = _problems(body)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize(
    ("body", "node", "where", "message"),
    [
        pytest.param(
            """
            nodes: {a: {source: nope}}
            fields: {x: a.x}
            """,
            "a",
            "source",
            "unknown source 'nope' (known: api, db)",
            id="unknown-source",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, request: {params: {q: "{ghost.id}"}}}}
            fields: {x: a.x}
            """,
            "a",
            "request.params.q",
            "refers to unknown node 'ghost' (known: a)",
            id="unknown-node-in-request",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}, b: {source: api, when: "ghost.ok"}}
            fields: {x: a.x}
            """,
            "b",
            "when",
            "refers to unknown node 'ghost' (known: a, b)",
            id="unknown-node-in-when",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, depends_on: [ghost]}}
            fields: {x: a.x}
            """,
            "a",
            "depends_on",
            "depends_on names unknown node 'ghost' (known: a)",
            id="unknown-depends-on",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}}
            fields: {x: ghost.x}
            """,
            None,
            "fields.x",
            "refers to unknown node 'ghost' (known: a)",
            id="unknown-node-in-field",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, request: {path: "/{a.id}"}}}
            fields: {x: a.x}
            """,
            "a",
            None,
            "node 'a' depends on itself",
            id="self-dependency",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}, b: {source: api, when: "a.x =="}}
            fields: {x: a.x}
            """,
            "b",
            "when",
            "invalid expression 'a.x ==': incomplete expression at position 6",
            id="bad-when",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, request: {items: [ok, "{keys.id"]}}}
            fields: {x: a.x}
            """,
            "a",
            "request.items[1]",
            "unclosed '{' at position 0 in template '{keys.id'",
            id="bad-template",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}}
            fields: {x: "a.x["}
            """,
            None,
            "fields.x",
            "invalid expression 'a.x[': incomplete expression at position 4",
            id="bad-field-expression",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}}
            fields: {x: "lenght(a.x)"}
            """,
            None,
            "fields.x",
            "invalid expression 'lenght(a.x)': unknown function lenght()",
            id="unknown-function",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, retries: many}}
            fields: {x: a.x}
            """,
            "a",
            "retries",
            "Input should be a valid integer, unable to parse string as an integer",
            id="wrong-type",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, timeout_ms: -5}}
            fields: {x: a.x}
            """,
            "a",
            "timeout_ms",
            "Input should be greater than 0",
            id="out-of-range",
        ),
        pytest.param(
            """
            nodes: {a: {source: api, requets: {}}}
            fields: {x: a.x}
            """,
            "a",
            "requets",
            "Extra inputs are not permitted",
            id="unknown-key",
        ),
        pytest.param(
            """
            nodes: {a: {request: {}}}
            fields: {x: a.x}
            """,
            "a",
            "source",
            "Field required",
            id="missing-source",
        ),
        pytest.param(
            """
            nodes: {keys: {source: api}}
            fields: {x: keys.x}
            """,
            "keys",
            "name",
            "'keys' is reserved for the request's keys; rename the node",
            id="reserved-name",
        ),
        pytest.param(
            """
            nodes: {1st: {source: api}}
            fields: {x: a.x}
            """,
            "1st",
            "name",
            "String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'",
            id="bad-node-name",
        ),
        pytest.param(
            """
            nodes: {a: {source: api}}
            fields: {}
            """,
            None,
            "fields",
            "Dictionary should have at least 1 item after validation, not 0",
            id="no-fields",
        ),
    ],
)
def test_each_problem_names_file_pipeline_node_and_problem(
    body: str, node: str | None, where: str | None, message: str
) -> None:
    problem = _only(body)
    assert (problem.file, problem.pipeline, problem.node, problem.where) == ("shop.yaml", "shop", node, where)
    assert message in problem.message
    text = str(problem)
    assert text.startswith("shop.yaml, pipeline 'shop'")
    if node is not None:
        assert f"node '{node}'" in text
    assert message in text


def test_output_key_reading_an_unknown_node_is_reported() -> None:
    text = HEAD.replace("key: keys.id", "key: ghost.id") + "nodes: {a: {source: api}}\nfields: {x: a.x}\n"
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="shop.yaml", env={})
    [problem] = caught.value.problems
    assert str(problem) == "shop.yaml, pipeline 'shop': output.key: refers to unknown node 'ghost' (known: a)"


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    problems = _problems(
        """
        nodes:
          a: {source: nope}
          b: {source: api, request: {path: "/{ghost.id}"}}
        fields: {x: "a.x["}
        """
    )
    assert [(p.node, p.where) for p in problems] == [
        ("a", "source"),
        ("b", "request.path"),
        (None, "fields.x"),
    ]


def test_all_type_problems_are_reported_at_once() -> None:
    problems = _problems(
        """
        nodes:
          a: {source: api, retries: many, optional: perhaps}
          b: {source: api, timeout_ms: fast}
        fields: {x: a.x}
        """
    )
    assert [(p.node, p.where) for p in problems] == [("a", "optional"), ("a", "retries"), ("b", "timeout_ms")]


def test_config_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(
            HEAD + "nodes: {a: {source: x}, b: {source: y}}\nfields: {f: a.x}\n", file="s.yaml", env={}
        )
    lines = str(caught.value).splitlines()
    assert lines[0] == "2 config problems:"
    assert lines[1] == "  - s.yaml, pipeline 'shop', node 'a': source: unknown source 'x' (known: api, db)"
    assert lines[2] == "  - s.yaml, pipeline 'shop', node 'b': source: unknown source 'y' (known: api, db)"


def test_two_node_cycle_is_printed_in_data_flow_order() -> None:
    problem = _only(
        """
        nodes:
          customer: {source: api, request: {path: "/c/{orders.last}"}}
          orders: {source: api, request: {path: "/o/{customer.id}"}}
        fields: {x: customer.x}
        """
    )
    assert problem.message == "dependency cycle: customer -> orders -> customer"
    assert problem.node == "customer"


def test_longer_cycle_through_when_and_depends_on_is_printed_whole() -> None:
    problem = _only(
        """
        nodes:
          a: {source: api, request: {path: "/{c.id}"}}
          b: {source: api, when: "a.ok"}
          c: {source: db, depends_on: [b]}
          d: {source: db, depends_on: [a]}
        fields: {x: d.x}
        """
    )
    assert problem.message == "dependency cycle: a -> b -> c -> a"


def test_cycle_is_reported_beside_problems_of_other_nodes() -> None:
    problems = _problems(
        """
        nodes:
          a: {source: api, request: {path: "/{b.id}"}}
          b: {source: api, request: {path: "/{a.id}"}}
          c: {source: nope}
        fields: {x: a.x}
        """
    )
    assert [p.message for p in problems] == [
        "unknown source 'nope' (known: api, db)",
        "dependency cycle: a -> b -> a",
    ]


def test_missing_env_and_type_problems_are_reported_together() -> None:
    text = (
        HEAD.replace("sqlite:///x.db", "${DB_DSN}")
        + "nodes: {a: {source: db, retries: x}}\nfields: {f: a.x}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="shop.yaml", env={})
    assert [(p.where, p.message.split(" ")[0]) for p in caught.value.problems] == [
        ("sources.db.dsn", "environment"),
        ("retries", "Input"),
    ]


def test_secret_from_the_environment_is_not_echoed_in_type_errors() -> None:
    text = HEAD + "defaults: {retries: '${RETRY_TOKEN}'}\nnodes: {a: {source: api}}\nfields: {f: a.x}\n"
    with pytest.raises(ConfigError) as caught:
        parse_pipeline(text, file="shop.yaml", env={"RETRY_TOKEN": "hunter2"})
    assert "hunter2" not in str(caught.value)
