"""Recursive-descent parser: tokens in, a trigger tree (:mod:`framework.fql.ast`) out.

Grammar (``and`` binds tighter than ``or``; keywords are lowercase)::

    expression := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := ("not" | "!") (group | function) | group | function | condition
    group      := "(" or_expr ")"
    function   := ("contains" | "match") "(" field "," STRING ")"
    condition  := field (OP value | "in" list | "not" "in" list)
    list       := "(" value ("," value)* ")"
    field      := NAME ("." NAME | "[" (INDEX | STRING | "*") "]")*
    value      := STRING | NUMBER | "true" | "false" | "null"

Errors are TriggerSyntaxError with the column of the offending token and what was expected
there. Nesting (parentheses and ``not``) is bounded by :data:`MAX_DEPTH`, so no input can
exhaust the Python stack.
"""

from __future__ import annotations

from framework.errors import TriggerSyntaxError
from framework.fql.ast import (
    EACH,
    ORDERING_OPS,
    And,
    CompareOp,
    Comparison,
    Field,
    Membership,
    Node,
    Not,
    Or,
    Step,
    TextMatch,
    Value,
    normalize_parts,
    pattern_parts,
)
from framework.fql.lexer import KEYWORDS, SPEC_ROOTS, Token, TokenKind, syntax_error, tokenize

__all__ = ["MAX_DEPTH", "parse"]

MAX_DEPTH = 32

_ROOT_BY_LOWER = {root.lower(): root for root in SPEC_ROOTS}
_CONDITION = "a condition: a field comparison, contains(...), match(...), 'not' or '('"
_OPERATOR = "a comparison operator (=, !=, <, <=, >, >=), 'in' or 'not in'"
_VALUE = "a value: a string, a number, true, false or null"
_FUNCTIONS = ("contains", "match")
_COMPARE_OPS: dict[str, CompareOp] = {op: op for op in ("=", "!=", "<", "<=", ">", ">=")}


def parse(expression: str) -> Node:
    """Parse trigger text into its tree. Raises TriggerSyntaxError."""
    return _Parser(expression, tokenize(expression)).expression()


class _Parser:
    """One parse: a cursor over the tokens, each method reading one grammar rule."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    # -- helpers -------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def error(self, token: Token, reason: str, expected: str) -> TriggerSyntaxError:
        return syntax_error(self.text, token.start, reason, expected)

    def is_keyword(self, token: Token, word: str) -> bool:
        # An escaped name (\and) is a name, never a keyword.
        return (
            token.kind is TokenKind.NAME
            and token.value == word
            and self.text[token.start : token.end] == word
        )

    def expect(self, kind: TokenKind, reason: str, expected: str) -> Token:
        token = self.peek()
        if token.kind is not kind:
            raise self.error(token, f"{reason}, found {_describe(token)}", expected)
        return self.advance()

    # -- boolean structure ---------------------------------------------------------------

    def expression(self) -> Node:
        if self.peek().kind is TokenKind.EOF:
            raise syntax_error(self.text, 0, "the expression is empty", _CONDITION)
        node = self.or_expr(0)
        token = self.peek()
        if token.kind is not TokenKind.EOF:
            if token.kind is TokenKind.RPAREN:
                raise self.error(token, "unmatched ')'", "'and', 'or' or the end of the expression")
            raise self.after_term_error(token, "'and', 'or' or the end of the expression")
        return node

    def or_expr(self, depth: int) -> Node:
        operands = [self.and_expr(depth)]
        while self.is_keyword(self.peek(), "or"):
            self.advance()
            operands.append(self.and_expr(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self, depth: int) -> Node:
        operands = [self.unary(depth)]
        while self.is_keyword(self.peek(), "and"):
            self.advance()
            operands.append(self.unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self, depth: int) -> Node:
        token = self.peek()
        if token.kind is TokenKind.BANG or self.is_keyword(token, "not"):
            self.advance()
            target = self.peek()
            if target.kind is TokenKind.LPAREN:
                return Not(self.group(depth + 1), column=token.column)
            if self.is_function(target):
                return self.function(negated=True, column=token.column)
            raise self.error(
                target,
                f"'{self.text[token.start : token.end]}' must be followed by '(' or a function,"
                f" found {_describe(target)}",
                "'(' or contains(...)/match(...)",
            )
        if token.kind is TokenKind.LPAREN:
            return self.group(depth + 1)
        if self.is_function(token):
            return self.function(negated=False, column=token.column)
        if token.kind is TokenKind.NAME:
            return self.condition()
        if token.kind is TokenKind.EOF:
            previous = self.tokens[self.index - 1] if self.index else token
            word = self.text[previous.start : previous.end]
            raise self.error(token, f"the expression ends after '{word}'", _CONDITION)
        raise self.error(token, f"unexpected {_describe(token)}", _CONDITION)

    def group(self, depth: int) -> Node:
        opening = self.peek()
        if depth > MAX_DEPTH:
            raise self.error(
                opening,
                f"parentheses and 'not' are nested deeper than {MAX_DEPTH} levels",
                f"at most {MAX_DEPTH} levels of nesting",
            )
        self.advance()
        node = self.or_expr(depth)
        token = self.peek()
        if token.kind is not TokenKind.RPAREN:
            expected = f"'and', 'or' or ')' to close the '(' at column {opening.column}"
            if token.kind is TokenKind.EOF:
                raise self.error(token, "the expression ends inside parentheses", expected)
            raise self.after_term_error(token, expected)
        self.advance()
        return node

    def after_term_error(self, token: Token, expected: str) -> TriggerSyntaxError:
        word = self.text[token.start : token.end]
        if token.kind is TokenKind.NAME and word.lower() in ("and", "or"):
            reason = _keyword_case_hint(word, "a keyword")
            return self.error(token, reason, expected)
        return self.error(
            token, f"unexpected {_describe(token)} after a complete condition", expected
        )

    # -- conditions ----------------------------------------------------------------------

    def is_function(self, token: Token) -> bool:
        return any(self.is_keyword(token, name) for name in _FUNCTIONS)

    def function(self, *, negated: bool, column: int) -> TextMatch:
        name_token = self.advance()
        name = str(name_token.value)
        self.expect(TokenKind.LPAREN, f"'{name}' must be followed by '('", "'('")
        field = self.field()
        self.expect(TokenKind.COMMA, f"{name}() takes a field and a string", "',' after the field")
        pattern = self.peek()
        if pattern.kind is not TokenKind.STRING:
            raise self.error(
                pattern,
                f"the second argument of {name}() must be a string, found {_describe(pattern)}",
                "a string in quotes",
            )
        self.advance()
        self.expect(TokenKind.RPAREN, f"{name}() takes two arguments", "')'")
        text = str(pattern.value)
        parts = normalize_parts(("", text, "")) if name == "contains" else pattern_parts(text)
        return TextMatch(field, parts, negated, column=column)

    def condition(self) -> Node:
        start = self.peek()
        field = self.field()
        token = self.peek()
        if token.kind is TokenKind.OP:
            self.advance()
            op = _COMPARE_OPS[str(token.value)]
            value = self.value(ordering=op in ORDERING_OPS, operator=op)
            return Comparison(field, op, value, column=start.column)
        if self.is_keyword(token, "in"):
            self.advance()
            return Membership(field, self.value_list(), False, column=start.column)
        if self.is_keyword(token, "not") and self.is_keyword(self.peek(1), "in"):
            self.advance()
            self.advance()
            return Membership(field, self.value_list(), True, column=start.column)
        word = self.text[token.start : token.end]
        if token.kind is TokenKind.NAME and word != word.lower() and word.lower() in ("in", "not"):
            reason = _keyword_case_hint(word, "a keyword")
            raise self.error(token, reason, _OPERATOR)
        raise self.error(
            token, f"expected an operator after the field, found {_describe(token)}", _OPERATOR
        )

    def value(self, *, ordering: bool = False, operator: str = "") -> Value:
        token = self.peek()
        word = self.text[token.start : token.end]
        result: Value | None = None
        if token.kind is TokenKind.STRING:
            result = Value("string", str(token.value))
        elif token.kind is TokenKind.NUMBER:
            result = Value("number", token.value)
        elif self.is_keyword(token, "true") or self.is_keyword(token, "false"):
            result = Value("boolean", token.value == "true")
        elif self.is_keyword(token, "null"):
            result = Value("null", None)
        elif token.kind is TokenKind.NAME and word.lower() in ("true", "false", "null"):
            raise self.error(token, _keyword_case_hint(word, "a value"), _VALUE)
        if result is None:
            raise self.error(
                token,
                f"expected a value, found {_describe(token)}",
                "a number" if ordering else _VALUE,
            )
        if ordering and result.kind != "number":
            raise self.error(
                token, f"'{operator}' compares numbers only, found {_describe(token)}", "a number"
            )
        self.advance()
        return result

    def value_list(self) -> tuple[Value, ...]:
        self.expect(TokenKind.LPAREN, "'in' must be followed by a list in parentheses", "'('")
        values = [self.value()]
        while self.peek().kind is TokenKind.COMMA:
            self.advance()
            values.append(self.value())
        self.expect(TokenKind.RPAREN, "the list is not closed", "',' or ')'")
        return tuple(values)

    # -- fields --------------------------------------------------------------------------

    def field(self) -> Field:
        token = self.peek()
        if token.kind is not TokenKind.NAME:
            raise self.error(
                token,
                f"expected a field, found {_describe(token)}",
                "a field such as properties.revenue",
            )
        root = str(token.value)
        raw = self.text[token.start : token.end]
        if raw == root:
            self.check_root(token, root)
        self.advance()
        path: list[Step] = [root]
        while True:
            token = self.peek()
            if token.kind is TokenKind.DOT:
                self.advance()
                path.append(self.key_after_dot())
            elif token.kind is TokenKind.LBRACKET:
                self.advance()
                path.append(self.bracket_step())
            else:
                return Field(tuple(path))

    def check_root(self, token: Token, root: str) -> None:
        lower = root.lower()
        if root in KEYWORDS:
            raise self.error(
                token, f"'{root}' is a keyword, not a field", "a field such as properties.revenue"
            )
        if lower in KEYWORDS:
            reason = _keyword_case_hint(root, "a keyword")
            raise self.error(token, reason, _CONDITION)
        known = _ROOT_BY_LOWER.get(lower)
        if known is not None and known != root:
            reason = (
                f"unknown field '{root}' (field names are case-sensitive: did you mean '{known}'?)"
            )
            raise self.error(token, reason, "a field such as type, event or properties.revenue")

    def key_after_dot(self) -> str:
        token = self.peek()
        if token.kind is not TokenKind.NAME:
            raise self.error(
                token, f"expected a key after '.', found {_describe(token)}", "a key name"
            )
        key = str(token.value)
        if key.isdigit() and self.text[token.start : token.end] == key:
            raise self.error(
                token,
                f"'.{key}' is not a key name",
                f'[{key}] for an array index or ["{key}"] for a key named {key}',
            )
        self.advance()
        return key

    def bracket_step(self) -> Step:
        token = self.peek()
        step: Step
        if token.kind is TokenKind.STRING:
            step = str(token.value)
        elif token.kind is TokenKind.STAR:
            step = EACH
        elif token.kind is TokenKind.NUMBER:
            raw = self.text[token.start : token.end]
            if raw.startswith("-"):
                raise self.error(
                    token, "negative array indexes are not supported", "an index of 0 or more"
                )
            if not isinstance(token.value, int) or not raw.isdigit():
                raise self.error(
                    token, f"'{raw}' is not an array index", "a whole number such as 0"
                )
            step = token.value
        else:
            raise self.error(
                token,
                f"expected an index, * or a quoted key in brackets, found {_describe(token)}",
                'an array index (0), * for every item, or a quoted key (["a.b"])',
            )
        self.advance()
        self.expect(TokenKind.RBRACKET, "the bracket is not closed", "']'")
        return step


def _keyword_case_hint(word: str, what: str) -> str:
    return f"'{word}' is not {what} (keywords are lowercase: did you mean '{word.lower()}'?)"


def _describe(token: Token) -> str:
    """How an error message names a token (never by a string's contents)."""
    if token.kind is TokenKind.EOF:
        return "the end of the expression"
    if token.kind is TokenKind.STRING:
        return "a string"
    if token.kind is TokenKind.NUMBER:
        return f"the number {token.value}"
    return f"'{token.value}'"
