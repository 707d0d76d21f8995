"""The expression language: JMESPath, and string templates built from it.

JMESPath is standard, has implementations in many languages and cannot run code:
nothing is ever ``eval``-ed. An expression is evaluated over the request's
context ``{"keys": {...}, "<node>": <its result>, ...}``.

A template is a string with ``{expr}`` placeholders (``"/customers/{keys.id}"``);
``{{`` and ``}}`` stand for literal braces. A template that is exactly one
placeholder keeps the value's type (a number stays a number).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

KEYS = "keys"


class ExpressionError(ValueError):
    """An expression or template does not parse; the message says where."""


class RenderError(ValueError):
    """A template could not be rendered for one request (for example a value was null)."""


# JMESPath AST node types whose first child is evaluated in the current (root)
# context while the other children see the first child's result.
_LEFT_ONLY = frozenset(
    {"subexpression", "index_expression", "projection", "value_projection", "pipe", "flatten"}
)
_FILTER = "filter_projection"
_NO_REFS = frozenset({"literal", "current", "expref", "slice", "index", "identity"})


def _root_children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The children of an AST node that are evaluated in the root context.

    Slices carry integers as children, so only node kinds that hold expressions are walked.
    """
    kind = node["type"]
    children: list[Mapping[str, Any]] = node.get("children", [])
    if kind in _LEFT_ONLY or kind == _FILTER:
        return children[:1]
    if kind in _NO_REFS or kind == "field":
        return []
    return children


def _root_refs(node: Mapping[str, Any]) -> Iterator[str]:
    if node["type"] == "field":
        yield str(node["value"])
    for child in _root_children(node):
        yield from _root_refs(child)


_FUNCTIONS: Mapping[str, Mapping[str, Any]] = jmespath_functions.Functions.FUNCTION_TABLE


def _check_functions(ast: Mapping[str, Any]) -> None:
    """Report unknown functions and wrong argument counts at load time, not on the first request.

    jmespath itself only finds them while searching.
    """
    stack = [ast]
    while stack:
        node = stack.pop()
        children = node.get("children", [])
        stack.extend(c for c in children if isinstance(c, Mapping))
        if node["type"] != "function_expression":
            continue
        name = str(node["value"])
        spec = _FUNCTIONS.get(name)
        if spec is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise ExpressionError(f"unknown function {name}() (known: {known})")
        signature: list[Mapping[str, Any]] = spec["signature"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if len(children) < len(signature) or (not variadic and len(children) > len(signature)):
            wanted = f"at least {len(signature)}" if variadic else str(len(signature))
            raise ExpressionError(f"{name}() takes {wanted} argument(s), got {len(children)}")


_INTERPRETER = TreeInterpreter()
"""One interpreter for every search: it keeps no state between searches, while jmespath's own
``search`` builds a new one per call, whose method cache is a reference cycle: garbage that only
the cycle collector frees, a few objects per expression per request."""


def _field_path(ast: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The names of a plain field chain (``a``, ``a.b.c``), else None.

    Most expressions are such chains; they are looked up directly, with jmespath's meaning of a
    field (``value.get(name)``, null on anything without ``get``).
    """
    if ast["type"] == "field":
        return (str(ast["value"]),)
    if ast["type"] != "subexpression":
        return None
    names: list[str] = []
    for child in ast["children"]:
        inner = _field_path(child)
        if inner is None:
            return None
        names.extend(inner)
    return tuple(names)


def _parse_problem(exc: jmespath_errors.JMESPathError) -> str:
    """jmespath's error in one line; its own text spans three (message, expression, caret)."""
    if isinstance(exc, jmespath_errors.IncompleteExpressionError):
        return f"incomplete expression at position {exc.lex_position}"
    if isinstance(exc, jmespath_errors.LexerError):
        return f"{exc.message} at position {exc.lexer_position}"
    if isinstance(exc, jmespath_errors.ParseError):
        return f"{exc.msg} at position {exc.lex_position}"
    return str(exc).strip().splitlines()[0]


@dataclass(frozen=True)
class Expression:
    """A compiled JMESPath expression and the top-level names it reads."""

    source: str
    _parsed: ParsedResult = field(repr=False, compare=False)
    refs: frozenset[str] = field(compare=False)
    _path: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    """Set for a plain field chain, which :meth:`search` follows without the interpreter."""

    @classmethod
    def compile(cls, source: str) -> Expression:
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("expression is empty")
        try:
            with warnings.catch_warnings():
                # jmespath accepts `text` that is not JSON with only a warning (JEP-12): refuse it.
                warnings.simplefilter("error", PendingDeprecationWarning)
                parsed = jmespath.compile(source)
            refs = frozenset(_root_refs(parsed.parsed))
            _check_functions(parsed.parsed)
        except jmespath_errors.JMESPathError as exc:
            raise ExpressionError(f"invalid expression {source!r}: {_parse_problem(exc)}") from None
        except ExpressionError as exc:
            raise ExpressionError(f"invalid expression {source!r}: {exc}") from None
        except PendingDeprecationWarning:
            problem = "a `literal` must be valid JSON; write a string as 'text' or `\"text\"`"
            raise ExpressionError(f"invalid expression {source!r}: {problem}") from None
        except RecursionError:
            # jmespath parses recursively: refuse absurd nesting instead of crashing the loader.
            raise ExpressionError(f"invalid expression {source[:40]!r}...: nested too deeply") from None
        return cls(source, parsed, refs, _field_path(parsed.parsed))

    def search(self, context: Mapping[str, Any]) -> Any:
        path = self._path
        if path is not None:
            value: Any = context
            for name in path:
                try:
                    value = value.get(name)
                except AttributeError:
                    return None
            return value
        try:
            return _INTERPRETER.visit(self._parsed.parsed, context)
        except jmespath_errors.JMESPathError as exc:
            raise RenderError(f"expression {self.source!r} failed: {exc}") from None

    @property
    def nodes(self) -> frozenset[str]:
        """Names of nodes (not ``keys``) this expression reads."""
        return self.refs - {KEYS}

    def key_refs(self) -> frozenset[str]:
        """Request keys this expression reads directly as ``keys.<name>``."""
        ast = self._parsed.parsed
        found: set[str] = set()
        _collect_key_refs(ast, found)
        return frozenset(found)


def _collect_key_refs(node: Mapping[str, Any], found: set[str]) -> None:
    """Collect ``keys.<name>`` read in the root context (inside a filter ``keys`` is the element's)."""
    children: list[Mapping[str, Any]] = node.get("children", [])
    if node["type"] == "subexpression" and len(children) >= 2:  # jmespath flattens a.b.c into one
        left, right = children[:2]
        if left["type"] == "field" and left["value"] == KEYS and right["type"] == "field":
            found.add(str(right["value"]))
    for child in _root_children(node):
        _collect_key_refs(child, found)


def _scan(text: str) -> Iterator[tuple[bool, str]]:
    """Split a template into (is_expression, text) parts, honouring quotes in expressions."""
    i, n = 0, len(text)
    literal: list[str] = []
    while i < n:
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "}":
            raise ExpressionError(f"unmatched '}}' at position {i} in template {text!r}")
        elif ch == "{":
            end = _closing_brace(text, i)
            if literal:
                yield False, "".join(literal)
                literal = []
            yield True, text[i + 1 : end]
            i = end + 1
        else:
            literal.append(ch)
            i += 1
    if literal:
        yield False, "".join(literal)


def _closing_brace(text: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start + 1, len(text)):
        ch = text[j]
        if quote:
            if ch == quote and text[j - 1] != "\\":
                quote = ""
        elif ch in "`'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return j
            depth -= 1
    raise ExpressionError(f"unclosed '{{' at position {start} in template {text!r}")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Template:
    """A string with ``{expr}`` placeholders."""

    source: str
    parts: tuple[str | Expression, ...]

    @classmethod
    def compile(cls, source: str) -> Template:
        parts: list[str | Expression] = []
        for is_expr, text in _scan(source):
            parts.append(Expression.compile(text) if is_expr else text)
        return cls(source, tuple(parts))

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def refs(self) -> frozenset[str]:
        return frozenset().union(*(p.refs for p in self.parts if isinstance(p, Expression)))

    def key_refs(self) -> frozenset[str]:
        return frozenset().union(*(p.key_refs() for p in self.parts if isinstance(p, Expression)))

    def outline(self, stand_in: str) -> str:
        """The template's text with ``stand_in`` for each expression."""
        return "".join(part if isinstance(part, str) else stand_in for part in self.parts)

    def render(self, context: Mapping[str, Any], *, quote: Callable[[str], str] | None = None) -> Any:
        """Render for one request. ``quote`` escapes each substituted value (not the literals)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression) and quote is None:
            return self._value(self.parts[0], context)
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                text = _as_text(self._value(part, context))
                out.append(quote(text) if quote else text)
        return "".join(out)

    @staticmethod
    def _value(expr: Expression, context: Mapping[str, Any]) -> Any:
        value = expr.search(context)
        if value is None:
            raise RenderError(f"{{{expr.source}}} is null")
        return value


def iter_templates(value: Any, where: str = "") -> Iterator[tuple[str, Template]]:
    """Yield (location, template) for every template in a compiled value."""
    if isinstance(value, Template):
        yield where, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from iter_templates(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_templates(v, f"{where}[{i}]")
