"""Print a trigger tree as canonical FQL text that parses back to the same tree.

Canonical means: double-quoted strings with the minimal escapes, ``contains()`` for
``*x*`` patterns, ``!contains``/``!match`` for negated functions and ``not (...)`` for negated
groups, and parentheses around every nested ``and``/``or`` group. The last is needed for
``a and (b and c)`` (a different tree from ``a and b and c``) and chosen for ``a or (b and
c)``, so the text reads the same under any precedence rule.
"""

from __future__ import annotations

from framework.fql.ast import (
    And,
    Comparison,
    EachItem,
    Field,
    Membership,
    Node,
    Not,
    Or,
    TextMatch,
    Value,
)
from framework.fql.lexer import KEYWORDS, SPEC_ROOTS

__all__ = ["format_field", "format_string", "format_value", "to_fql"]

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_NAME_CHARS = _NAME_START | frozenset("0123456789-")
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
# Roots the parser would refuse: keywords in any case, and case typos of Segment's fields.
_ROOT_BY_LOWER = {root.lower(): root for root in SPEC_ROOTS}


def to_fql(node: Node) -> str:
    """The canonical text of ``node``."""
    if isinstance(node, And | Or):
        keyword = " and " if isinstance(node, And) else " or "
        return keyword.join(_operand(child) for child in node.operands)
    if isinstance(node, Not):
        return f"not ({to_fql(node.operand)})"
    if isinstance(node, Comparison):
        return f"{format_field(node.field)} {node.op} {format_value(node.value)}"
    if isinstance(node, Membership):
        keyword = "not in" if node.negated else "in"
        values = ", ".join(format_value(value) for value in node.values)
        return f"{format_field(node.field)} {keyword} ({values})"
    return _text_match(node)


def _operand(node: Node) -> str:
    text = to_fql(node)
    return f"({text})" if isinstance(node, And | Or) else text


def _text_match(node: TextMatch) -> str:
    bang = "!" if node.negated else ""
    field = format_field(node.field)
    if node.kind == "contains":
        return f"{bang}contains({field}, {format_string(node.parts[1])})"
    pattern = "*".join(part.replace("\\", "\\\\").replace("*", "\\*") for part in node.parts)
    return f"{bang}match({field}, {format_string(pattern)})"


def format_field(field: Field) -> str:
    """A field path as FQL: ``properties.products[0]["dotted.key"]``."""
    root, *steps = field.path
    pieces = [_format_root(str(root))]
    for step in steps:
        if isinstance(step, EachItem):
            pieces.append("[*]")
        elif isinstance(step, int):
            pieces.append(f"[{step}]")
        elif step and all(char in _NAME_CHARS for char in step) and not step.isdigit():
            pieces.append(f".{step}")
        else:
            pieces.append(f"[{format_string(step)}]")
    return "".join(pieces)


def _format_root(root: str) -> str:
    plain = all(char in _NAME_CHARS for char in root) and root[:1] in _NAME_START
    lower = root.lower()
    if plain and lower not in KEYWORDS and _ROOT_BY_LOWER.get(lower, root) == root:
        return root
    # A backslash makes any character part of the name, and an escaped name is never read
    # as a keyword or checked for case typos.
    escaped = [char if char in _NAME_CHARS else f"\\{char}" for char in root]
    if not escaped[0].startswith("\\"):
        escaped[0] = f"\\{escaped[0]}"
    return "".join(escaped)


def format_value(value: Value) -> str:
    """A literal as FQL."""
    if value.kind == "string":
        return format_string(str(value.value))
    if value.kind == "null":
        return "null"
    if value.kind == "boolean":
        return "true" if value.value else "false"
    return repr(value.value)


def format_string(text: str) -> str:
    """A double-quoted FQL string literal for ``text``."""
    out: list[str] = []
    for char in text:
        simple = _SIMPLE_ESCAPES.get(char)
        if simple is not None:
            out.append(simple)
        elif char < " " or char == "\x7f" or "\ud800" <= char <= "\udfff":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
