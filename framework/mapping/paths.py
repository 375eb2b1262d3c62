"""Event paths: Segment's ``@path`` syntax parsed once into key tuples, and the JS lookup.

Segment splits a path on dots, on ``[`` before a quote or digit and on ``]`` after one, drops
empty pieces and then every quote character: ``$.properties.products[0].sku`` and
``$.properties['first name']`` both work, ``["dotted.key"]`` does not (the dot splits it).
Our one extension: a key written ``["..."]`` or ``['...']`` is taken literally, dots, brackets
and all, so ``$.properties["dotted.key"]`` addresses the key ``dotted.key``.

A lookup follows JavaScript's ``obj && obj[key]`` step by step: a missing key gives
``undefined``, a falsy value (``null``, ``0``, ``""``, ``false``) is returned as it is, arrays
and strings answer to indexes and ``length``. Only the object's own keys are found, never
JavaScript's prototype properties (``constructor``, ``__proto__``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from framework.mapping.jsvalues import UNDEFINED, is_array_index, js_code_units, js_length

__all__ = ["Getter", "compile_getter", "format_path", "get", "parse_path", "path_directive_keys"]

Getter = Callable[[Any], Any]
"""A compiled lookup: payload in, value (or UNDEFINED) out."""

# Segment's own splitter (actions-core get.js), with [0-9] where JS's \d means ASCII digits.
_SEGMENT_SPLIT: Final = re.compile(r"""\[(?="|'|[0-9])|\.|(?<="|'|[0-9])\]+""")
_QUOTED_KEY: Final = re.compile(r"""\[(["'])(.*?)\1\]""", re.DOTALL)
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _segment_keys(path: str) -> list[str]:
    pieces = [piece for piece in _SEGMENT_SPLIT.split(path) if piece]
    return [piece.replace("'", "").replace('"', "") for piece in pieces]


def parse_path(path: str) -> tuple[str, ...]:
    """The keys of a path (no ``$.`` handling): ``a.b[0]['c d']`` -> ``("a", "b", "0", "c d")``.

    An empty tuple means the payload itself (Segment's ``""`` and ``"."``).
    """
    keys: list[str] = []
    position = 0
    for match in _QUOTED_KEY.finditer(path):
        keys.extend(_segment_keys(path[position : match.start()]))
        keys.append(match.group(2))
        position = match.end()
    keys.extend(_segment_keys(path[position:]))
    return tuple(keys)


def path_directive_keys(path: str) -> tuple[str, ...]:
    """The keys of a ``@path`` (or ``@arrayPath``) string: its first ``$.`` is removed, wherever."""
    return parse_path(path.replace("$.", "", 1))


def format_path(keys: tuple[str, ...]) -> str:
    """A ``@path`` string for keys, bracket-quoting any key that is not a plain name."""
    parts = ["$"]
    for key in keys:
        if _PLAIN_KEY.fullmatch(key) or key == "[]":
            parts.append(f".{key}")
        elif is_array_index(key):
            parts.append(f"[{key}]")
        else:
            quote = "'" if '"' in key else '"'
            parts.append(f"[{quote}{key}{quote}]")
    return "".join(parts)


def _index(value: Any, key: str) -> Any:
    """``value[key]`` for a truthy value that is not a plain dict."""
    kind = type(value)
    if kind is list:
        if is_array_index(key):
            position = int(key)
            return value[position] if position < len(value) else UNDEFINED
        return len(value) if key == "length" else UNDEFINED
    if kind is str:
        if is_array_index(key):
            units = value if value.isascii() else js_code_units(value)
            position = int(key)
            return units[position] if position < len(units) else UNDEFINED
        return js_length(value) if key == "length" else UNDEFINED
    if isinstance(value, Mapping):
        return value.get(key, UNDEFINED)
    if isinstance(value, list):
        return _index(list(value), key)  # a subclass: index it as the plain type
    if isinstance(value, str):
        return _index(str.__str__(value), key)
    return UNDEFINED


def _falsy(value: Any) -> bool:
    # js_truthy, inlined for the lookup loop: dicts never get here.
    if value is None or value is UNDEFINED or value is False or value == "":
        return True
    kind = type(value)
    return (kind is int or kind is float) and not (value != 0 and value == value)


def get(payload: Any, keys: tuple[str, ...]) -> Any:
    """Look ``keys`` up in ``payload`` with JavaScript's ``obj && obj[key]`` at each step."""
    value = payload
    for key in keys:
        if type(value) is dict:
            value = value.get(key, UNDEFINED)
        elif _falsy(value):
            return value
        else:
            value = _index(value, key)
    return value


def compile_getter(keys: tuple[str, ...]) -> Getter:
    """A fast lookup for a fixed key tuple: one or two plain keys skip the general loop."""
    if not keys:
        return _identity
    if len(keys) == 1:
        (first,) = keys

        def get_one(payload: Any) -> Any:
            if type(payload) is dict:
                return payload.get(first, UNDEFINED)
            return get(payload, keys)

        return get_one
    if len(keys) == 2:
        first, second = keys

        def get_two(payload: Any) -> Any:
            if type(payload) is dict:
                value = payload.get(first, UNDEFINED)
                if type(value) is dict:
                    return value.get(second, UNDEFINED)
            return get(payload, keys)

        return get_two

    def get_many(payload: Any) -> Any:
        value = payload
        for key in keys:
            if type(value) is dict:
                value = value.get(key, UNDEFINED)
            elif _falsy(value):
                return value
            else:
                value = _index(value, key)
        return value

    return get_many


def _identity(payload: Any) -> Any:
    return payload
