"""Turn trigger text into tokens; the parser never looks at characters.

Each token keeps its span in the source (``start``/``end``, 0-based) so that errors and lint
warnings can point at a column, and its decoded ``value``: a name with its backslash escapes
resolved, a string's contents, a number. Lexing errors are :class:`TriggerSyntaxError` with
the column of the offending character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from framework.errors import TriggerSyntaxError

__all__ = ["KEYWORDS", "SPEC_ROOTS", "Token", "TokenKind", "syntax_error", "tokenize"]

KEYWORDS: frozenset[str] = frozenset(
    {"and", "or", "not", "in", "true", "false", "null", "contains", "match"}
)
# Top-level fields of the Segment spec. A root differing from one of them only by case is
# a typo (the parser says so), not a field of its own.
SPEC_ROOTS: tuple[str, ...] = (
    "type",
    "event",
    "name",
    "userId",
    "anonymousId",
    "groupId",
    "previousId",
    "properties",
    "traits",
    "context",
    "integrations",
    "timestamp",
    "messageId",
    "sentAt",
    "receivedAt",
    "originalTimestamp",
    "channel",
    "category",
)

# Whitespace between tokens; Segment's lexer does not treat CR as whitespace (a defect).
_WHITESPACE = frozenset(" \t\r\n")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_DIGITS = frozenset("0123456789")
_NAME_CHARS = _NAME_START | _DIGITS | {"-"}
_STRING_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPES_EXPECTED = "one of \\\" \\' \\\\ \\n \\t \\uXXXX"
# Longer number literals are refused rather than handed to int(), which has a digit limit.
MAX_NUMBER_LENGTH = 1000


class TokenKind(Enum):
    """What a token is; keywords are NAME tokens, recognised by the parser."""

    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    BANG = "!"
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    COMMA = ","
    DOT = "."
    STAR = "*"
    EOF = "end of the expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, decoded value and span ``[start, end)`` in the source."""

    kind: TokenKind
    value: str | int | float
    start: int
    end: int

    @property
    def column(self) -> int:
        """The 1-based column of the token's first character."""
        return self.start + 1


def syntax_error(expression: str, offset: int, reason: str, expected: str) -> TriggerSyntaxError:
    """A syntax error at the 0-based ``offset`` of ``expression``."""
    return TriggerSyntaxError(reason, expression=expression, column=offset + 1, expected=expected)


def tokenize(expression: str) -> list[Token]:
    """Split ``expression`` into tokens, ending with an EOF token.

    Raises TriggerSyntaxError for characters no token can start with, unterminated strings,
    unknown escapes and malformed numbers.
    """
    return _Lexer(expression).run()


class _Lexer:
    """One pass over the text; each method reads one kind of token at `pos`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def error(self, offset: int, reason: str, expected: str) -> TriggerSyntaxError:
        return syntax_error(self.text, offset, reason, expected)

    def run(self) -> list[Token]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos >= len(text):
                self.tokens.append(Token(TokenKind.EOF, "", len(text), len(text)))
                return self.tokens
            self.tokens.append(self.next_token())

    def previous_kind(self) -> TokenKind | None:
        return self.tokens[-1].kind if self.tokens else None

    def next_token(self) -> Token:
        text, start = self.text, self.pos
        char = text[start]
        if self.previous_kind() is TokenKind.DOT and (char in _NAME_CHARS or char == "\\"):
            # After a dot comes a key, which may start with a digit or a dash.
            return self.name()
        if char in _NAME_START or char == "\\":
            return self.name()
        if char in _DIGITS or char in "+-":
            return self.number()
        if char in "\"'":
            return self.string()
        if char in "=<>!":
            return self.operator()
        if (
            char == "."
            and text[start + 1 : start + 2] in _DIGITS
            and self.previous_kind() not in (TokenKind.NAME, TokenKind.RBRACKET)
        ):
            raise self.error(start, "a number cannot start with '.'", "a digit first (0.5)")
        if char == "*" and self.previous_kind() is TokenKind.LBRACKET:
            # [*]: every item of an array.
            self.pos += 1
            return Token(TokenKind.STAR, char, start, start + 1)
        simple = _SIMPLE_TOKENS.get(char)
        if simple is not None:
            self.pos += 1
            return Token(simple, char, start, start + 1)
        raise self.error(start, _unexpected_char_reason(text, start), "a field, value or operator")

    def name(self) -> Token:
        text, start = self.text, self.pos
        chars: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(text):
                    raise self.error(self.pos, "a backslash ends the expression", "a character")
                chars.append(text[self.pos + 1])
                self.pos += 2
            elif char in _NAME_CHARS:
                chars.append(char)
                self.pos += 1
            else:
                break
        return Token(TokenKind.NAME, "".join(chars), start, self.pos)

    def number(self) -> Token:
        text, start = self.text, self.pos
        pos = start
        if text[pos] in "+-":
            pos += 1
        digits_start = pos
        pos = _skip_digits(text, pos)
        if pos == digits_start:
            raise self.error(pos, f"'{text[start]}' must be followed by a number", "a digit")
        is_float = False
        if pos < len(text) and text[pos] == ".":
            after = _skip_digits(text, pos + 1)
            if after == pos + 1:
                raise self.error(pos, "a number cannot end with '.'", "a digit after '.' (5.0)")
            pos, is_float = after, True
        if pos < len(text) and text[pos] in "eE":
            exp = pos + 1
            if exp < len(text) and text[exp] in "+-":
                exp += 1
            after = _skip_digits(text, exp)
            if after == exp:
                raise self.error(pos, "an exponent needs digits", "digits after 'e' (1e3)")
            pos, is_float = after, True
        if pos < len(text) and (text[pos] in _NAME_CHARS or text[pos] in ".\\"):
            raise self.error(pos, "malformed number", "a space, operator or ')' after a number")
        raw = text[start:pos]
        if len(raw) > MAX_NUMBER_LENGTH:
            raise self.error(start, "number literal too long", "a shorter number")
        value: int | float = float(raw) if is_float else int(raw)
        if not math.isfinite(value):
            raise self.error(start, "number out of range", "a finite number")
        self.pos = pos
        return Token(TokenKind.NUMBER, value, start, pos)

    def string(self) -> Token:
        text, start = self.text, self.pos
        quote = text[start]
        chars: list[str] = []
        pos = start + 1
        while True:
            if pos >= len(text):
                raise self.error(start, "unterminated string", f"a closing {quote}")
            char = text[pos]
            if char == quote:
                break
            if char != "\\":
                chars.append(char)
                pos += 1
                continue
            escape = text[pos + 1 : pos + 2]
            if escape == "u":
                hex_digits = text[pos + 2 : pos + 6]
                if len(hex_digits) != 4 or not all(
                    c in "0123456789abcdefABCDEF" for c in hex_digits
                ):
                    raise self.error(pos, "\\u needs four hex digits", "\\uXXXX")
                chars.append(chr(int(hex_digits, 16)))
                pos += 6
            elif escape in _STRING_ESCAPES:
                chars.append(_STRING_ESCAPES[escape])
                pos += 2
            else:
                raise self.error(pos, f"unknown escape '\\{escape}'", _ESCAPES_EXPECTED)
        self.pos = pos + 1
        return Token(TokenKind.STRING, _join_surrogates("".join(chars)), start, self.pos)

    def operator(self) -> Token:
        text, start = self.text, self.pos
        two = text[start : start + 2]
        if two == "==":
            raise self.error(start, "'==' is not an operator", "'=' to test equality")
        if two in ("!=", "<=", ">="):
            self.pos += 2
            return Token(TokenKind.OP, two, start, start + 2)
        self.pos += 1
        if text[start] == "!":
            return Token(TokenKind.BANG, "!", start, start + 1)
        return Token(TokenKind.OP, text[start], start, start + 1)


_SIMPLE_TOKENS = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
    ",": TokenKind.COMMA,
    ".": TokenKind.DOT,
}


def _skip_digits(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    return pos


def _unexpected_char_reason(text: str, offset: int) -> str:
    char = text[offset]
    if text.startswith("&&", offset):
        return "'&&' is not an operator (write 'and')"
    if text.startswith("||", offset):
        return "'||' is not an operator (write 'or')"
    if char.isprintable() and not char.isspace():
        if char.isalpha():
            return f'unexpected character {char!r} (names are ASCII; quote others: ["{char}"])'
        return f"unexpected character {char!r}"
    return f"unexpected character U+{ord(char):04X}"


def _join_surrogates(value: str) -> str:
    """Combine \\uD83D\\uDE00-style surrogate pairs into the character they encode."""
    if not any("\ud800" <= char <= "\udfff" for char in value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
