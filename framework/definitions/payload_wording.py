"""Wording payload problems as ajv-human-errors does: values, types and subjects in sentences."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from framework.mapping.jsvalues import js_number_string


def describe(value: object) -> str:
    """What a value is, never what it holds: ``a string``, ``an array``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "an unsupported value"


def humanize_list(words: Sequence[str]) -> str:
    """Words joined for a sentence: ``a or b``, ``a, b, or c``."""
    if len(words) <= 2:
        return " or ".join(words)
    return f"{', '.join(words[:-1])}, or {words[-1]}"


def article_for(phrase: str) -> str:
    """The article for ``phrase``: ``a`` or ``an``."""
    return "an" if phrase[:1] in ("a", "e", "i", "o", "u") else "a"


def json_text(value: object) -> str:
    """``JSON.stringify`` of a choice, for the list of allowed values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_string(value)
    return json_string(str(value))


_JSON_ESCAPES: Final[Mapping[str, str]] = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def json_string(text: str) -> str:
    """``text`` as a JSON string literal, escaped as JSON.stringify does."""

    def escape(match: re.Match[str]) -> str:
        char = match[0]
        return _JSON_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return f'"{_NEEDS_ESCAPE.sub(escape, text)}"'


def capitalize(text: str) -> str:
    """``text`` with its first character upper-cased."""
    # JavaScript upper-cases the first UTF-16 unit: a character beyond the BMP stays as it is.
    head = text[:1]
    return text if not head or ord(head) > 0xFFFF else head.upper() + text[1:]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a message is about: the field's label when it has one, else where the value is."""

    title: str

    def name(self, pointer: str) -> str:
        """The subject of a sentence about the value at ``pointer``."""
        if self.title:
            return capitalize(self.title)
        return "The root value" if pointer == "" else f"The value at {pointer}"
