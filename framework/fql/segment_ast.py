"""Segment's JSON condition structure, both ways: write a tree as it, read a tree from it.

The structure is what ``@segment/destination-subscriptions`` builds from FQL and evaluates
(``{"type": "group", "operator": "and", "children": [...]}`` with leaves such as
``{"type": "event-property", "name": "revenue", "operator": ">", "value": 100}``).

Both directions keep the meaning Segment's own ``validate()`` gives the structure, so a
written structure behaves in Segment as the trigger does here, and a read one behaves here
as it did in Segment. Where the structure cannot say what a trigger means (a negated group,
a glob, an array index, a field outside Segment's set, ``!= true``, ...), writing raises
DefinitionError with a sentence saying what and why; reading collects every problem of an
invalid structure, by JSON pointer, before raising. Reading applies validate()'s coercions
of a condition's value once: ``=``, ``!=`` and the text operators take ``String(value)``
(``123`` is ``"123"``, ``true`` is ``"true"``, an absent value ``"undefined"``), the number
operators ``Number(value)`` (``"5"`` is 5; a value that is no number, or an infinity, gives
a test true of every number or of none, as it is in Segment), and the no-value operators
ignore a value.

Paths differ in one respect, not fixable here: Segment's lookup also reads through strings
(``name.length``) and through falsy values, which the written structure cannot prevent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from framework.errors import DefinitionError, Problem
from framework.fql.ast import (
    And,
    CompareOp,
    Comparison,
    EachItem,
    Field,
    Membership,
    Node,
    Not,
    Or,
    TextMatch,
    Value,
    normalize_parts,
)
from framework.fql.parser import MAX_DEPTH
from framework.fql.printer import format_field, to_fql
from framework.mapping.jsvalues import UNDEFINED, js_number, js_number_value, js_string

__all__ = ["from_segment_ast", "negate", "to_segment_ast"]

_PLAIN_TYPES = {"type": "event-type", "event": "event", "name": "name", "userId": "userId"}
_PATH_TYPES = {"properties": "event-property", "traits": "event-trait", "context": "event-context"}
_ROOT_OF_TYPE = {kind: root for root, kind in (_PLAIN_TYPES | _PATH_TYPES).items()}
_SET = "type, event, name, userId, properties.*, traits.* and context.*"
# Segment's get() splits a name into keys this way.
_NAME_PIECES = re.compile(r"[^[.\]]+")

_STRING_OPERATORS: dict[str, CompareOp] = {"=": "=", "!=": "!="}
_NUMBER_OPERATORS: dict[str, CompareOp] = {
    "number_equals": "=",
    "number_not_equals": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_TEXT_OPERATORS = ("contains", "starts_with", "ends_with")
_NO_VALUE_OPERATORS: dict[str, tuple[CompareOp, Value]] = {
    "exists": ("!=", Value("null", None)),
    "not_exists": ("=", Value("null", None)),
    "is_true": ("=", Value("boolean", True)),
    "is_false": ("=", Value("boolean", False)),
}
_OPERATORS = (
    ["=", "!=", *_NUMBER_OPERATORS, *_TEXT_OPERATORS]
    + [f"not_{name}" for name in _TEXT_OPERATORS]
    + list(_NO_VALUE_OPERATORS)
)


# -- writing ----------------------------------------------------------------------------


def to_segment_ast(node: Node) -> dict[str, Any]:
    """The Segment condition structure for ``node``; its root is always a group.

    Raises DefinitionError when the structure cannot express the trigger; a ``[*]`` field is
    named first, whatever else the trigger holds.
    """
    each = _first_each_field(node)
    if each is not None:
        raise _inexpressible(
            f"the field {format_field(each)}",
            "it tests one value per condition and has no form for 'any item of an array'"
            " ([*]); test an index such as [0], or keep this trigger in FQL",
        )
    converted = _write(node)
    if converted["type"] == "group":
        return converted
    return {"type": "group", "operator": "and", "children": [converted]}


def _first_each_field(node: Node) -> Field | None:
    if isinstance(node, And | Or):
        found = (_first_each_field(child) for child in node.operands)
        return next((field for field in found if field is not None), None)
    if isinstance(node, Not):
        return _first_each_field(node.operand)
    return node.field if node.field.each else None


def _write(node: Node) -> dict[str, Any]:
    if isinstance(node, And | Or):
        operator = "and" if isinstance(node, And) else "or"
        return {
            "type": "group",
            "operator": operator,
            "children": [_write(c) for c in node.operands],
        }
    if isinstance(node, Not):
        negated = negate(node.operand)
        if negated is None:
            raise _inexpressible(
                f"not ({to_fql(node.operand)})",
                "it has no negation, and this condition has no exact opposite among its operators",
            )
        return _write(negated)
    if isinstance(node, Membership):
        if node.negated:
            opposite = negate(Membership(node.field, node.values))
            if opposite is None:
                raise _inexpressible(
                    to_fql(node), "it has no exact opposite of '=' for numbers and booleans"
                )
            return _write(opposite)
        comparisons = [Comparison(node.field, "=", value) for value in node.values]
        return _write(comparisons[0] if len(comparisons) == 1 else Or(tuple(comparisons)))
    if isinstance(node, Comparison):
        return _write_comparison(node)
    return _write_text_match(node)


def _write_comparison(node: Comparison) -> dict[str, Any]:
    value = node.value
    if value.kind == "null":
        return _leaf(node.field, "not_exists" if node.op == "=" else "exists")
    if value.kind == "boolean":
        if node.op != "=":
            raise _inexpressible(
                to_fql(node), f'its "!=" compares with the string "{str(value.value).lower()}"'
            )
        return _leaf(node.field, "is_true" if value.value else "is_false")
    if value.kind == "string":
        return _leaf(node.field, node.op, value.value)
    operator = {"=": "number_equals", "!=": "number_not_equals"}.get(node.op, node.op)
    return _leaf(node.field, operator, value.value)


def _write_text_match(node: TextMatch) -> dict[str, Any]:
    kind, parts = node.kind, node.parts
    if kind == "glob":
        raise _inexpressible(to_fql(node), "it has no wildcard in the middle of a pattern")
    if kind == "equals":
        if node.negated:
            raise _inexpressible(
                to_fql(node), 'its "!=" is also true for a missing or non-string value'
            )
        return _leaf(node.field, "=", parts[0])
    text = parts[0] if kind == "starts_with" else parts[1]
    return _leaf(node.field, f"not_{kind}" if node.negated else kind, text)


def _leaf(field: Field, operator: str, value: object = None) -> dict[str, Any]:
    path, root = field.path, field.root
    leaf: dict[str, Any]
    if len(path) == 1 and root in _PLAIN_TYPES:
        leaf = {"type": _PLAIN_TYPES[root], "operator": operator}
    elif len(path) > 1 and root in _PATH_TYPES:
        leaf = {"type": _PATH_TYPES[root], "name": _segment_name(field), "operator": operator}
    else:
        raise _inexpressible(f"the field {format_field(field)}", f"its fields are {_SET}")
    if value is not None:
        leaf["value"] = value
    return leaf


def _segment_name(field: Field) -> str:
    keys = field.path[1:]
    for key in keys:
        if isinstance(key, int | EachItem):
            raise _inexpressible(f"the field {format_field(field)}", "it has no array indexes")
        if not key or any(char in key for char in ".[]") or key.isdigit():
            raise _inexpressible(
                f"the field {format_field(field)}",
                f"its names split at '.', '[' and ']' and read digits as array indexes,"
                f" so it cannot address the key {key!r}",
            )
    return ".".join(str(key) for key in keys)


def negate(node: Node) -> Node | None:
    """The exact opposite of ``node`` without a ``Not``, or None when there is none.

    Exact means true on precisely the events where ``node`` is false, missing values
    included: ``= "x"``/``!= "x"`` and ``= null``/``!= null`` are such pairs, while
    ``!contains`` or ``!= 5`` are not (both sides are false on a missing value).
    """
    if isinstance(node, Not):
        return node.operand
    if isinstance(node, And | Or):
        negated = [negate(child) for child in node.operands]
        if any(child is None for child in negated):
            return None
        children = tuple(child for child in negated if child is not None)
        return Or(children) if isinstance(node, And) else And(children)
    if isinstance(node, Membership):
        if node.negated:
            return Membership(node.field, node.values)
        return negate(
            Or(tuple(Comparison(node.field, "=", v) for v in node.values))
            if len(node.values) > 1
            else Comparison(node.field, "=", node.values[0])
        )
    if isinstance(node, Comparison) and node.value.kind in ("string", "null"):
        # Comparison ops on strings and null are only ever = and !=.
        return Comparison(node.field, "!=" if node.op == "=" else "=", node.value)
    return None


def _inexpressible(what: str, why: str) -> DefinitionError:
    return DefinitionError(f"Segment's condition structure cannot express {what}: {why}.")


# -- reading ----------------------------------------------------------------------------


def from_segment_ast(ast: object) -> Node:
    """Read a Segment condition structure into a tree, with the meaning Segment gives it.

    Raises DefinitionError listing every problem (JSON pointer and message) when the
    structure is not one Segment's ``validate()`` can evaluate meaningfully.
    """
    problems: list[Problem] = []
    node: Node | None = None
    if not isinstance(ast, Mapping) or ast.get("type") != "group":
        problems.append(Problem("", 'the root must be a group: {"type": "group", ...}'))
    else:
        node = _read(ast, "", problems, 0)
    if problems or node is None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        raise DefinitionError(
            f"The Segment condition structure is invalid ({count} {noun}).", problems
        )
    return node


def _read(obj: object, pointer: str, problems: list[Problem], depth: int) -> Node | None:
    if not isinstance(obj, Mapping):
        problems.append(Problem(pointer, "expected a condition object"))
        return None
    kind = obj.get("type")
    if kind == "group":
        return _read_group(obj, pointer, problems, depth)
    if isinstance(kind, str) and kind in _ROOT_OF_TYPE:
        return _read_leaf(obj, kind, pointer, problems)
    known = ", ".join(["group", *_ROOT_OF_TYPE])
    problems.append(
        Problem(f"{pointer}/type", f"unknown condition type {kind!r}; expected one of {known}")
    )
    return None


def _read_group(
    obj: Mapping[str, Any], pointer: str, problems: list[Problem], depth: int
) -> Node | None:
    if depth >= MAX_DEPTH:
        problems.append(Problem(pointer, f"groups are nested deeper than {MAX_DEPTH} levels"))
        return None
    count = len(problems)
    _check_keys(obj, {"type", "operator", "children"}, pointer, problems)
    operator = obj.get("operator")
    if operator not in ("and", "or"):
        problems.append(Problem(f"{pointer}/operator", 'a group\'s operator must be "and" or "or"'))
    children = obj.get("children")
    if not isinstance(children, list) or not children:
        problems.append(
            Problem(f"{pointer}/children", "a group needs a non-empty list of children")
        )
        return None
    nodes = [
        _read(child, f"{pointer}/children/{index}", problems, depth + 1)
        for index, child in enumerate(children)
    ]
    if len(problems) > count:
        return None
    operands = tuple(node for node in nodes if node is not None)
    if len(operands) == 1:
        return operands[0]
    return And(operands) if operator == "and" else Or(operands)


def _read_leaf(
    obj: Mapping[str, Any], kind: str, pointer: str, problems: list[Problem]
) -> Node | None:
    count = len(problems)
    root = _ROOT_OF_TYPE[kind]
    allowed = {"type", "operator", "value"} | ({"name"} if root in _PATH_TYPES else set())
    _check_keys(obj, allowed, pointer, problems)
    field = Field((root,)) if root in _PLAIN_TYPES else _read_name(obj, root, pointer, problems)
    operator = obj.get("operator")
    if operator not in _OPERATORS:
        problems.append(
            Problem(
                f"{pointer}/operator",
                f"unknown operator {operator!r}; expected one of {', '.join(_OPERATORS)}",
            )
        )
        return None
    value = obj.get("value", UNDEFINED)  # absent is undefined in validate()
    if field is None or len(problems) > count:
        return None
    if operator in _NO_VALUE_OPERATORS:
        # Segment's validate() ignores a value given to these.
        op, literal = _NO_VALUE_OPERATORS[str(operator)]
        return Comparison(field, op, literal)
    if operator in _STRING_OPERATORS:
        return Comparison(
            field, _STRING_OPERATORS[str(operator)], Value("string", js_string(value))
        )
    if operator in _NUMBER_OPERATORS:
        return _number_node(field, str(operator), value)
    negated = str(operator).startswith("not_")
    base = str(operator).removeprefix("not_")
    text = js_string(value)
    pieces = {"contains": ("", text, ""), "starts_with": (text, ""), "ends_with": ("", text)}
    parts = normalize_parts(pieces[base])
    return TextMatch(field, parts, negated)


def _read_name(
    obj: Mapping[str, Any], root: str, pointer: str, problems: list[Problem]
) -> Field | None:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(f"{pointer}/name", "expected a non-empty string naming the key"))
        return None
    pieces = _NAME_PIECES.findall(name)
    if not pieces:
        problems.append(Problem(f"{pointer}/name", f"{name!r} names no key"))
        return None
    digits = [piece for piece in pieces if piece.isdigit()]
    if digits:
        problems.append(
            Problem(
                f"{pointer}/name",
                f"{digits[0]!r} is read by Segment as an array index or an object key,"
                ' depending on the event; write the trigger in FQL with [n] or ["n"]',
            )
        )
        return None
    return Field((root, *pieces))


def _number_node(field: Field, operator: str, value: Any) -> Node:
    """``operator`` against ``Number(value)``, as Segment's validate() compares."""
    op = _NUMBER_OPERATORS[operator]
    number = js_number(value)
    if math.isfinite(number):
        return Comparison(field, op, Value("number", js_number_value(number)))
    # NaN and the infinities: each test is then true of every number, or of none.
    if math.isnan(number):
        every = op == "!="
    elif number > 0:
        every = op in ("<", "<=", "!=")
    else:
        every = op in (">", ">=", "!=")
    tests = (
        Comparison(field, "<", Value("number", 0)),
        Comparison(field, ">=", Value("number", 0)),
    )
    return Or(tests) if every else And(tests)


def _check_keys(
    obj: Mapping[str, Any], allowed: set[str], pointer: str, problems: list[Problem]
) -> None:
    for key in obj:
        if key not in allowed:
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            problems.append(Problem(f"{pointer}/{escaped}", f"unexpected key {key!r}"))
