"""``@replace``'s string work: JavaScript ``String.prototype.replace`` with a literal pattern.

Segment escapes every regex metacharacter of the pattern, so a pattern always matches
literally; flags are ``g`` (global, the default) and ``i`` (ignorecase). The replacement string
keeps JS's ``$`` forms: ``$$`` is ``$``, ``$&`` the match, ``$``` the text before it and
``$'`` the text after it; with no capture groups, anything else (``$1``, ``$<x>``) is literal.
Case-insensitive matching follows JS's non-unicode rule: two characters match when their
``toUpperCase`` forms are the same single character, except that a non-ASCII character never
matches an ASCII one this way (the long s, U+017F, does not match ``s``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["compile_replace"]

_MATCH: Final = 0
_BEFORE: Final = 1
_AFTER: Final = 2
_TOKENS: Final = {"&": _MATCH, "`": _BEFORE, "'": _AFTER}

Part = str | int


def _replacement_parts(replacement: str) -> list[Part]:
    """Literal text and the ``$&``, ``$```, ``$'`` tokens of a JS replacement string."""
    parts: list[Part] = []
    text: list[str] = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        follow = replacement[index + 1 : index + 2]
        if char == "$" and follow == "$":
            text.append("$")
            index += 2
        elif char == "$" and follow in _TOKENS:
            parts.append("".join(text))
            text = []
            parts.append(_TOKENS[follow])
            index += 2
        else:
            text.append(char)
            index += 1
    parts.append("".join(text))
    return [part for part in parts if part != ""]


def _canonical_char(char: str) -> str:
    if ord(char) > 0xFFFF:
        return char  # JS sees two surrogates, which have no case
    upper = char.upper()
    if len(upper) != 1 or (ord(char) >= 128 and ord(upper) < 128):
        return char
    return upper


def _canonical(text: str) -> str:
    if text.isascii():
        return text.upper()
    return "".join(_canonical_char(char) for char in text)


def compile_replace(
    pattern: str, replacement: str, *, ignorecase: bool, replace_all: bool
) -> Callable[[str], str]:
    """A function doing ``value.replace(/pattern/flags, replacement)``; ``pattern`` is not empty."""
    parts = _replacement_parts(replacement)
    simple = all(isinstance(part, str) for part in parts)
    if simple and not ignorecase:
        constant = "".join(part for part in parts if isinstance(part, str))
        count = -1 if replace_all else 1

        def replace_plain(value: str) -> str:
            return value.replace(pattern, constant, count)

        return replace_plain

    needle = _canonical(pattern) if ignorecase else pattern
    size = len(pattern)

    def replace(value: str) -> str:
        haystack = _canonical(value) if ignorecase else value
        out: list[str] = []
        position = 0
        start = haystack.find(needle)
        while start != -1:
            end = start + size
            out.append(value[position:start])
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                elif part == _MATCH:
                    out.append(value[start:end])
                elif part == _BEFORE:
                    out.append(value[:start])
                else:
                    out.append(value[end:])
            position = end
            if not replace_all:
                break
            start = haystack.find(needle, end)
        out.append(value[position:])
        return "".join(out)

    return replace
