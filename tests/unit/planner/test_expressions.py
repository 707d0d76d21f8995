"""The expression language: which nodes an expression reads, and how templates render."""

from __future__ import annotations

from typing import Any

import pytest

from planner import Expression, ExpressionError, RenderError, Template

CONTEXT: dict[str, Any] = {
    "keys": {"id": "C042"},
    "customer": {"name": "Ada", "account_id": "A1", "score": 612, "tags": ["vip", "new"]},
    "orders": {
        "items": [
            {"sku": "s1", "total": 10, "status": "open"},
            {"sku": "s2", "total": 25, "status": "shipped"},
        ]
    },
}


@pytest.mark.parametrize(
    ("source", "refs"),
    [
        ("customer.name", {"customer"}),
        ("customer.tags[0]", {"customer"}),
        ("orders.items[*].sku", {"orders"}),
        ("orders.items[].sku", {"orders"}),
        ("customer.*", {"customer"}),
        ("orders.items[?status == 'open'].sku", {"orders"}),
        ("orders.items[?total > customer.score]", {"orders"}),  # inside a filter names are the element's
        ("orders.items | [0]", {"orders"}),
        ("orders.items | length(@)", {"orders"}),
        ("length(orders.items)", {"orders"}),
        ("max_by(orders.items, &total).sku", {"orders"}),
        ("sort_by(orders.items, &total)[-1].sku", {"orders"}),
        ("{name: customer.name, n: length(orders.items)}", {"customer", "orders"}),
        ("[customer.name, keys.id]", {"customer", "keys"}),
        ("customer.name || orders.first", {"customer", "orders"}),
        ("customer.score < `650` && !orders.items", {"customer", "orders"}),
        ("customer.[name, account_id]", {"customer"}),
        ("customer.{n: name}", {"customer"}),
        ("orders.items[1:2]", {"orders"}),
        ('`{"customer": 1}`', set()),
        ("'customer'", set()),
        ("@", set()),
    ],
)
def test_root_refs_are_the_top_level_names_an_expression_reads(source: str, refs: set[str]) -> None:
    assert Expression.compile(source).refs == refs


def test_nodes_excludes_the_request_keys() -> None:
    expression = Expression.compile("[keys.id, customer.name]")
    assert expression.nodes == {"customer"}


@pytest.mark.parametrize(
    ("source", "key_refs"),
    [
        ("keys.id", {"id"}),
        ("keys.id.part", {"id"}),
        ("[keys.a, keys.b]", {"a", "b"}),
        ("join('-', [keys.region, customer.name])", {"region"}),
        ("orders.items[?sku == keys.id]", set()),  # 'keys' here is each item's field
        ("orders.items[1:3]", set()),
        ("keys", set()),
        ("customer.keys.id", set()),
    ],
)
def test_key_refs_are_request_keys_read_in_the_root_context(source: str, key_refs: set[str]) -> None:
    assert Expression.compile(source).key_refs() == key_refs


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("customer.name", "Ada"),
        ("orders.items[*].sku", ["s1", "s2"]),
        ("orders.items[?status == 'open'].sku", ["s1"]),
        ("orders.items[?total > `20`] | [0].sku", "s2"),
        ("sum(orders.items[*].total)", 35),
        ("{name: customer.name, id: keys.id}", {"name": "Ada", "id": "C042"}),
        ("[customer.name, keys.id]", ["Ada", "C042"]),
        ("customer.score < `650`", True),
        ("customer.missing", None),
    ],
)
def test_search_evaluates_jmespath_over_the_context(source: str, expected: object) -> None:
    assert Expression.compile(source).search(CONTEXT) == expected


def test_search_type_error_becomes_render_error() -> None:
    with pytest.raises(RenderError, match="length"):
        Expression.compile("length(customer.score)").search(CONTEXT)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("", "expression is empty"),
        ("   ", "expression is empty"),
        ("customer.name ==", "incomplete expression at position 16"),
        ("customer..name", "at position 9"),
        ("customer.`x", "Unclosed ` delimiter"),
        ("nofunc(customer)", "unknown function nofunc() (known: abs, "),
        ("length(customer, orders)", "length() takes 1 argument(s), got 2"),
        ("merge()", "merge() takes at least 1 argument(s), got 0"),
        ("customer.score < `six`", "a `literal` must be valid JSON; write a string as 'text'"),
        ("(" * 3000 + "a" + ")" * 3000, "nested too deeply"),
    ],
)
def test_invalid_expression_raises_expression_error_in_one_line(source: str, problem: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        Expression.compile(source)
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message


def test_template_substitutes_placeholders_and_keeps_literals() -> None:
    template = Template.compile("/customers/{keys.id}/orders/{orders.items[0].sku}")
    assert template.render(CONTEXT) == "/customers/C042/orders/s1"
    assert template.refs == {"keys", "orders"}
    assert template.key_refs() == {"id"}


def test_template_double_braces_are_literal_braces() -> None:
    template = Template.compile("{{literal}} {keys.id} }}{{")
    assert template.render(CONTEXT) == "{literal} C042 }{"
    assert template.refs == {"keys"}


def test_template_without_placeholders_is_constant() -> None:
    template = Template.compile("/health")
    assert template.is_constant
    assert template.render({}) == "/health"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{`"}"`}', "}"),
        ('[{`{"a": 1}`.a}]', "[1]"),
        ("{'}{'}", "}{"),
        ("{customer.name == '}'}", False),
        ('x{"na}me"}y', "xy"),  # a quoted identifier: no such field, but it renders if present
    ],
)
def test_template_braces_inside_quotes_do_not_end_the_placeholder(source: str, expected: object) -> None:
    context = {**CONTEXT, "na}me": ""}
    assert Template.compile(source).render(context) == expected


def test_single_placeholder_template_keeps_the_value_type() -> None:
    assert Template.compile("{customer.score}").render(CONTEXT) == 612
    assert Template.compile("{customer.tags}").render(CONTEXT) == ["vip", "new"]
    assert Template.compile("{customer.score < `650`}").render(CONTEXT) is True


def test_mixed_template_renders_values_as_text() -> None:
    template = Template.compile("s={customer.score} t={customer.tags} b={customer.score < `1`}")
    assert template.render(CONTEXT) == 's=612 t=["vip","new"] b=false'


def test_quote_applies_to_substituted_values_only() -> None:
    template = Template.compile("/a/{keys.id}")
    assert template.render({"keys": {"id": "x/y"}}, quote=lambda v: v.replace("/", "%2F")) == "/a/x%2Fy"


def test_single_placeholder_with_quote_renders_text() -> None:
    assert Template.compile("{customer.score}").render(CONTEXT, quote=str) == "612"


def test_null_value_in_template_is_a_render_error() -> None:
    with pytest.raises(RenderError, match=r"\{customer\.missing\} is null"):
        Template.compile("/x/{customer.missing}").render(CONTEXT)
    with pytest.raises(RenderError, match="is null"):
        Template.compile("{customer.missing}").render(CONTEXT)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("/x/{keys.id", "unclosed '{' at position 3"),
        ("/x/}", "unmatched '}' at position 3"),
        ("/x/{}", "expression is empty"),
        ("/x/{keys.}", "invalid expression 'keys.'"),
        ("{'open}", "unclosed '{' at position 0"),
    ],
)
def test_invalid_template_raises_expression_error(source: str, problem: str) -> None:
    with pytest.raises(ExpressionError, match=problem.replace("{", r"\{").replace(".", r"\.")):
        Template.compile(source)
