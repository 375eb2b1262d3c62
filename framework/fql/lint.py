"""Lint: where Segment's engine would read a trigger's text differently from us.

Segment's parser (``@segment/destination-subscriptions`` 3.37.0) has no precedence, drops
what it does not know, and reads some literals oddly. A trigger that means one thing here
can mean another, or nothing, there. Each warning is ``"column N: ..."`` and says how
Segment reads that spot. Lexical quirks come from the tokens, the rest from the parsed tree
(whose nodes remember their columns); one pass over each, computed on demand.
"""

from __future__ import annotations

from collections.abc import Iterator

from framework.fql.ast import (
    And,
    Comparison,
    Field,
    Membership,
    Node,
    Not,
    Or,
    TextMatch,
    pattern_parts,
)
from framework.fql.lexer import Token, TokenKind, tokenize
from framework.fql.parser import parse
from framework.fql.printer import format_field, format_string

__all__ = ["lint_expression"]

_PLAIN_ROOTS = ("type", "event", "name", "userId")
_PATH_ROOTS = ("properties", "traits", "context")
_FUNCTION_ROOTS = ("event", "name", "userId")
_SEGMENT_SET = "type, event, name, userId, properties.*, traits.* and context.*"
# Segment's path lookup is a plain JS property read: these keys exist on strings, arrays or
# every object, so Segment finds a value where the event has none.
_JS_MEMBERS = frozenset(
    {
        "length",
        "constructor",
        "__proto__",
        "toString",
        "valueOf",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    }
)
# What Segment's lexer accepts right after a name, and right after a closing quote.
_AFTER_NAME = frozenset(" \t\n,)].(=!")
_AFTER_QUOTE = frozenset(" \t\n,)]")
_KEY_MISREAD = frozenset("0123456789-")


_Warning = tuple[int, str]  # (column, message)


def lint_expression(expression: str) -> list[str]:
    """Warnings for ``expression`` (which must parse), sorted by column."""
    tokens = tokenize(expression)
    found = {*_token_warnings(expression, tokens), *_tree_warnings(parse(expression))}
    return [f"column {column}: {message}" for column, message in sorted(found)]


def _at(column: int, message: str) -> _Warning:
    return (column, message)


# -- tokens ---------------------------------------------------------------------------------


def _token_warnings(text: str, tokens: list[Token]) -> Iterator[_Warning]:
    yield from _structure_warnings(text, tokens)
    for index, token in enumerate(tokens):
        raw = text[token.start : token.end]
        following = text[token.end : token.end + 1]
        if token.kind is TokenKind.STRING:
            yield from _string_warnings(token, raw, following)
        elif token.kind is TokenKind.NUMBER and any(c in raw for c in "eE"):
            mantissa = raw.split("e")[0].split("E")[0]
            yield _at(
                token.column,
                f"Segment does not read exponents: it reads {raw} as {_js_number(mantissa)}",
            )
        elif token.kind is TokenKind.NAME:
            yield from _name_warnings(tokens, index, raw, following)
        elif token.kind is TokenKind.LBRACKET and tokens[index + 1].kind is TokenKind.STAR:
            yield _at(
                token.column,
                "Segment has no form for any item of an array ([*]): it cannot parse the"
                " brackets, and its condition structure tests one value, so the whole trigger"
                " fails to load there",
            )
        elif token.kind is TokenKind.LBRACKET:
            yield _at(
                token.column,
                "Segment cannot parse brackets in a field (array indexes, quoted keys):"
                " the whole trigger fails to load",
            )
        elif token.kind is TokenKind.BANG:
            after = tokens[index + 1]
            if after.kind is TokenKind.LPAREN:
                yield _at(token.column, "Segment drops the '!' before '(' and reads !(x) as x")
            elif after.start != token.end:
                yield _at(
                    token.column,
                    "Segment cannot parse '!' followed by a space: the whole trigger fails to load",
                )
    if "\r" in text:
        yield _at(
            text.index("\r") + 1,
            "Segment's lexer does not treat CR as whitespace: the trigger fails to load or"
            " loses everything after it",
        )


def _string_warnings(token: Token, raw: str, following: str) -> Iterator[_Warning]:
    if raw.startswith("'"):
        yield _at(
            token.column,
            f"Segment keeps single quotes in the value: it compares with {format_string(raw)}",
        )
    if "\\" in raw:
        yield _at(
            token.column,
            "Segment does not read backslash escapes in strings: it keeps the backslash, and"
            ' \\" ends its string',
        )
    if following and following not in _AFTER_QUOTE and following != "\r":
        yield _at(
            token.end + 1,
            "Segment needs a space after a closing quote: it loses everything from here on",
        )


def _name_warnings(tokens: list[Token], index: int, raw: str, following: str) -> Iterator[_Warning]:
    token = tokens[index]
    if "$" in raw.replace("\\$", ""):
        yield _at(
            token.column,
            "Segment's lexer rejects '$' in a name (write \\$): the whole trigger fails to load",
        )
    if index and tokens[index - 1].kind is TokenKind.DOT and raw[:1] in _KEY_MISREAD:
        yield _at(
            token.column,
            "Segment misreads a key that starts with a digit or '-': the condition never"
            " matches or the trigger fails to load",
        )
    if any(f"\\{char}" in raw for char in ".[]"):
        yield _at(token.column, "Segment splits keys at '.', '[' and ']' even when escaped")
    if following and following not in _AFTER_NAME and following not in "\r[":
        yield _at(
            token.end + 1,
            "Segment needs a space between a name and this character: the whole trigger"
            " fails to load",
        )
    if index and tokens[index - 1].kind is TokenKind.DOT:
        return  # a key after a dot: keywords are plain names there
    target = tokens[index + 1]
    if raw == "not" and not (target.kind is TokenKind.NAME and target.value == "in"):
        name = str(target.value)
        reading = (
            "not (x) as x"
            if target.kind is TokenKind.LPAREN
            else f"not {name}(...) as {name}(...); write !{name}(...)"
        )
        yield _at(token.column, f"Segment does not know 'not' and drops it: it reads {reading}")
    if raw in ("and", "or") and target.kind is TokenKind.LPAREN and target.start == token.end:
        yield _at(
            token.column,
            f"Segment needs a space between '{raw}' and '(': it ignores the '{raw}' there",
        )
    if raw == "in":
        yield _at(
            token.column,
            "Segment does not know 'in': the condition never matches there;"
            ' write f = "a" or f = "b"',
        )
    if raw == "match" and tokens[index + 1].kind is TokenKind.LPAREN:
        yield from _match_warning(tokens, index)


def _match_warning(tokens: list[Token], index: int) -> Iterator[_Warning]:
    depth = 0
    for position in range(index + 1, len(tokens)):
        kind = tokens[position].kind
        depth += (kind is TokenKind.LPAREN) - (kind is TokenKind.RPAREN)
        if depth == 0:
            break
    pattern = tokens[position - 1]
    raw = str(pattern.value)
    ours = TextMatch(Field(("x",)), pattern_parts(raw))
    if raw.endswith("*"):
        segment_kind, segment_text = "starts_with", raw[:-1]
    else:
        segment_kind, segment_text = "ends_with", raw[1:]
    same_text = ours.parts[0] if ours.kind == "starts_with" else ours.parts[-1]
    if ours.kind != segment_kind or same_text != segment_text or "\\" in raw:
        why = (
            "it only strips a trailing '*'"
            if segment_kind == "starts_with"
            else "without a trailing '*' it drops the first character"
        )
        yield _at(
            tokens[index].column,
            f"Segment reads this match() as {segment_kind} {format_string(segment_text)} ({why})",
        )


def _structure_warnings(text: str, tokens: list[Token]) -> Iterator[_Warning]:
    """Parentheses and and/or mixing, as Segment's one-level group parser sees them."""
    # Per open parenthesis: its role, the token to point at, and the and/or keywords seen
    # directly inside it. The bottom entry is the expression itself.
    stack: list[tuple[str, Token, list[Token]]] = [("group", tokens[0], [])]
    nested_reported = False
    for index, token in enumerate(tokens):
        raw = text[token.start : token.end]
        if token.kind is TokenKind.NAME and raw in ("and", "or"):
            stack[-1][2].append(token)
        elif token.kind is TokenKind.LPAREN:
            before = tokens[index - 1] if index else token
            before_raw = text[before.start : before.end] if index else ""
            if before_raw in ("contains", "match"):
                stack.append(("call", before, []))
                continue
            if before_raw == "in":
                stack.append(("list", token, []))
                continue
            if len(stack) > 1 and not nested_reported:
                nested_reported = True
                yield _at(
                    token.column,
                    "Segment cannot parse nested parentheses: the whole trigger fails to load",
                )
            stack.append(("group", token, []))
        elif token.kind in (TokenKind.RPAREN, TokenKind.EOF) and stack:
            role, anchor, keywords = stack.pop()
            yield from _mixed_warning(keywords)
            inside_group = any(entry[0] == "group" for entry in stack[1:])
            after = tokens[min(index + 1, len(tokens) - 1)]
            if role == "call" and inside_group and after.kind is not TokenKind.RPAREN:
                yield _at(
                    anchor.column,
                    "Segment ends a parenthesised group at the first ')', here the one closing"
                    " this function: the rest of the group joins the enclosing group",
                )


def _mixed_warning(keywords: list[Token]) -> Iterator[_Warning]:
    words = [str(keyword.value) for keyword in keywords]
    if "and" in words and "or" in words:
        last = words[-1]
        example = "a and b or c" if last == "or" else "a or b and c"
        yield _at(
            keywords[0].column,
            "'and' and 'or' are mixed without parentheses: Segment has no precedence and"
            f" applies the last keyword ('{last}') to every condition of the group,"
            f" reading {example} as a {last} b {last} c",
        )


# -- tree -----------------------------------------------------------------------------------


def _tree_warnings(node: Node) -> Iterator[_Warning]:
    if isinstance(node, And | Or):
        for child in node.operands:
            yield from _tree_warnings(child)
    elif isinstance(node, Not):
        yield from _tree_warnings(node.operand)
    elif isinstance(node, TextMatch):
        yield from _field_warnings(node.field, node.column, function=True)
    elif isinstance(node, Membership):
        yield from _field_warnings(node.field, node.column, function=False)
    else:
        yield from _field_warnings(node.field, node.column, function=False)
        yield from _comparison_warnings(node)


def _field_warnings(field: Field, column: int, *, function: bool) -> Iterator[_Warning]:
    path, root = field.path, field.root
    shown = format_field(field)
    if root in _PATH_ROOTS and len(path) == 1:
        yield _at(column, f"Segment reads {shown} as {root}.{root}")
    elif function and not (root in _PATH_ROOTS or (root in _FUNCTION_ROOTS and len(path) == 1)):
        yield _at(
            column,
            f"Segment drops contains()/match() on {shown}: it reads them on event, name,"
            " userId, properties.*, traits.* and context.* only",
        )
    elif root in _PLAIN_ROOTS and len(path) > 1:
        yield _at(column, f"Segment reads {shown} as {root}")
    elif root not in _PLAIN_ROOTS and root not in _PATH_ROOTS:
        yield _at(
            column,
            f"Segment drops conditions on {shown}: it only reads {_SEGMENT_SET}",
        )
    members = [step for step in path[1:] if isinstance(step, str) and step in _JS_MEMBERS]
    if root in _PATH_ROOTS and members:
        yield _at(
            column,
            f"Segment's path lookup reads '{members[0]}' as a JavaScript member (the length of"
            " a string or array, or a member of every object), not only as a key",
        )


def _comparison_warnings(node: Comparison) -> Iterator[_Warning]:
    root, value = node.field.root, node.value
    if len(node.field.path) > 1 and root in _PLAIN_ROOTS:
        return
    shown = format_field(node.field)
    if value.kind == "null" and root in ("event", "type"):
        yield _at(
            node.column,
            f'Segment compares {shown} with the string "null" instead of testing whether it exists',
        )
    elif value.kind == "number" and root in _PLAIN_ROOTS and node.op in ("=", "!="):
        yield _at(
            node.column,
            f'Segment compares {shown} with the string "{value.value}", so no number matches',
        )
    elif value.kind == "boolean":
        text = "true" if value.value else "false"
        as_string = root in ("type", "event", "name") or node.op == "!="
        if as_string and (root in _PLAIN_ROOTS or root in _PATH_ROOTS):
            yield _at(
                node.column,
                f'Segment compares {shown} with the string "{text}" here, not with the'
                f" boolean {text}",
            )


def _js_number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else repr(value)
