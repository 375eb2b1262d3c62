"""Converting a value to a JSON Schema type without losing anything, as ajv's coerceTypes does.

Each ``to_*`` converter returns the converted value, or :data:`FAIL` when the conversion would
lose something (``"12.5"`` to an integer, ``"yes"`` to a boolean). Numbers follow JavaScript:
one number type, ``Number()``'s reading of strings (whitespace, ``0x``/``0o``/``0b``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from framework.mapping.jsvalues import JS_SPACE, js_number, js_number_string, js_number_value

FAIL: Final = object()
"""What a converter returns when the value cannot be converted without loss."""

# -- converting values to a type without losing anything ------------------------------------


def string_number(text: str) -> float | None:
    """``Number(text)`` in JavaScript when that is a finite number, else None.

    A blank ``text`` is None too, where JavaScript gives 0: a blank string is no number.
    """
    if not text.strip(JS_SPACE):
        return None
    number = js_number(text)
    return number if math.isfinite(number) else None


def is_number(value: object) -> bool:
    """Whether ``value`` is a JSON number (a boolean is not)."""
    return type(value) is int or (isinstance(value, float) and math.isfinite(value))


def is_integer(value: object) -> bool:
    """Whether ``value`` is a JSON number with no fractional part."""
    return type(value) is int or (isinstance(value, float) and value.is_integer())


def to_string(value: object) -> object:
    """``value`` as a string (numbers and booleans as JavaScript prints them), or FAIL."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_string(value)
    return FAIL


def to_number(value: object) -> object:
    """``value`` as a number (numeric strings, booleans), or FAIL."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        number = string_number(value)
        return FAIL if number is None else js_number_value(number)
    return FAIL


def to_integer(value: object) -> object:
    """``value`` as an integer (whole numbers and their strings), or FAIL."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        number = string_number(value)
        return FAIL if number is None or not number.is_integer() else js_number_value(number)
    return FAIL


def to_boolean(value: object) -> object:
    """``value`` as a boolean (``"true"``/``"false"``, 1/0), or FAIL."""
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value, FAIL)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value == 1:
            return True
        if value == 0:
            return False
    return FAIL


TYPE_MATCHES: Final[Mapping[str, Callable[[object], bool]]] = {
    "string": lambda value: isinstance(value, str),
    "number": is_number,
    "integer": is_integer,
    "boolean": lambda value: isinstance(value, bool),
}
"""JSON Schema type -> whether a value already has it."""

CONVERTERS: Final[Mapping[str, Callable[[object], object]]] = {
    "string": to_string,
    "number": to_number,
    "integer": to_integer,
    "boolean": to_boolean,
}
"""JSON Schema type -> the lossless converter to it."""


def type_matcher(kinds: Sequence[str]) -> Callable[[object], bool]:
    """A predicate: does a value already have one of the JSON Schema ``kinds``?"""
    if len(kinds) == 1:
        return TYPE_MATCHES[kinds[0]]
    matchers = tuple(TYPE_MATCHES[kind] for kind in kinds)
    return lambda value: any(match(value) for match in matchers)


def choice_key(value: object) -> object:
    """A key under which choices compare as JSON values do (true is not 1), or FAIL."""
    # Choices compare as JSON values do: true is not 1, 1 is 1.0, "1" is neither.
    if value is None or isinstance(value, bool | str):
        return (type(value), value)
    if isinstance(value, int | float):
        return (float, value)
    return FAIL
