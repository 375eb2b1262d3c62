"""JavaScript value semantics the mapping kit reproduces: undefined, truthiness, String().

Segment's mapping kit runs on JavaScript, and several of its results depend on how JS treats
values: ``undefined`` is not ``null``, ``0`` and ``""`` are falsy, ``String(140.0)`` is
``"140"``, an object prints as ``[object Object]``, strings are indexed by UTF-16 code unit.
Event values arrive as JSON-parsed Python objects (``int`` and ``float`` both possible, ``bool``
never a number); these helpers give them their JS meaning. All are pure functions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final, final

__all__ = [
    "JS_SPACE",
    "UNDEFINED",
    "copy_json",
    "is_array_index",
    "js_code_units",
    "js_json_parse",
    "js_json_stringify",
    "js_keys",
    "js_length",
    "js_loosely_empty",
    "js_number",
    "js_number_string",
    "js_number_value",
    "js_string",
    "js_truthy",
    "js_type",
    "strip_undefined",
]


@final
class _Undefined:
    """The type of :data:`UNDEFINED`; there is exactly one instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Copying or pickling must give back the one sentinel, never a second instance.
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()
"""JavaScript ``undefined``: a missing value. A key whose value is undefined is dropped from
the output (inside an array it becomes ``None``), unlike ``None`` (JSON ``null``), which is kept.
"""

JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""JavaScript's whitespace and line terminators (``\\s``): what ``Number()`` and ``trim()``
ignore around a text, and what ``str.strip(JS_SPACE)`` removes."""

_MAX_ARRAY_INDEX: Final = 2**32 - 2
_SAFE_INTEGER: Final = 2**53
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RADIX: Final = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")
_INFINITY: Final = re.compile(r"([+-]?)Infinity")
_RADIX_BASE: Final = {"x": 16, "o": 8, "b": 2}
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def js_truthy(value: Any) -> bool:
    """JS truthiness: ``undefined``, ``null``, ``false``, ``0``, ``NaN`` and ``""`` are falsy.

    Every object and array is truthy, even an empty one.
    """
    if value is None or value is UNDEFINED:
        return False
    kind = type(value)
    if kind is bool:
        return bool(value)
    if kind is str:
        return bool(value)
    if kind is int:
        return bool(value)
    if kind is float:
        return bool(value) and not math.isnan(value)
    return True


def js_type(value: Any) -> str:
    """The type name Segment reports (``realTypeOf``): object, array, string, number, ...

    Python values JSON has no word for are named by their Python type (``set``, ``tuple``).
    """
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def js_number_string(number: float) -> str:
    """``String(number)`` as JavaScript prints it: ``140.0`` -> ``"140"``, ``1e21`` -> ``"1e+21"``.

    Integers print exactly below 1e21 (a Python ``int`` is exact where a JS number would have
    been rounded to a double when the JSON was parsed); from 1e21 up they take JS's exponent form.
    """
    if isinstance(number, int):
        if -(10**21) < number < 10**21:
            return str(number)
        try:
            number = float(number)
        except OverflowError:
            return "Infinity" if number > 0 else "-Infinity"
    if number != number:
        return "NaN"
    if number in (math.inf, -math.inf):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    text = repr(number)
    if "e" not in text:
        # Without an exponent Python and JS print the same digits; JS drops a ".0".
        return text[:-2] if text.endswith(".0") else text
    sign = "-" if number < 0 else ""
    # repr() gives the shortest digits that round-trip, the same digits JS chooses.
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        power = point - 1
        head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{head}e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + text


def js_string(value: Any) -> str:
    """``String(value)``: arrays joined by commas (null items empty), objects as
    ``[object Object]``."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return js_number_string(value)
    if isinstance(value, list | tuple):
        return ",".join(
            "" if item is None or item is UNDEFINED else js_string(item) for item in value
        )
    # Subclasses (liquid's JS-printing float, say) after the exact types of the fast path.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_string(value)
    return "[object Object]"


def js_loosely_empty(value: Any) -> bool:
    """``value == ''`` with JS loose equality: ``""``, ``0``, ``false``, ``[]`` and ``[null]``.

    ``null`` and ``undefined`` are not loosely equal to ``""``; an object never is.
    """
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, str):
        return value == ""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, list):
        return js_string(value) == ""
    return False


def js_length(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units, so an emoji counts 2."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def js_code_units(text: str) -> list[str]:
    """The string as JS indexes it: one item per UTF-16 code unit (lone surrogates included)."""
    if text.isascii() or all(ord(char) <= 0xFFFF for char in text):
        return list(text)
    raw = text.encode("utf-16-le", "surrogatepass")
    return [raw[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(raw), 2)]


def is_array_index(key: str) -> bool:
    """Whether ``key`` is a canonical JS array index: ``"0"``, ``"12"``; not ``"01"``, ``"-1"``."""
    if not key.isascii() or not key.isdigit():
        return False
    return (key == "0" or key[0] != "0") and int(key) <= _MAX_ARRAY_INDEX


def js_keys(obj: Mapping[str, Any]) -> list[str]:
    """An object's keys in JS order: array-index keys ascending first, then the rest as inserted."""
    keys = list(obj)
    if not any(key[:1].isdigit() for key in keys):
        return keys
    indexes = sorted((key for key in keys if is_array_index(key)), key=int)
    if not indexes:
        return keys
    chosen = set(indexes)
    return indexes + [key for key in keys if key not in chosen]


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _json_quote(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    # JSON.stringify writes a lone surrogate as an escape; json.dumps would emit it raw.
    return _SURROGATE.sub(_escape_surrogate, quoted) if _SURROGATE.search(quoted) else quoted


def js_json_stringify(value: Any) -> Any:
    """``JSON.stringify(value)``: compact, JS number format, undefined keys left out.

    Returns :data:`UNDEFINED` for ``undefined`` itself, as JSON.stringify does.
    """
    if value is UNDEFINED:
        return UNDEFINED
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "null"
        return js_number_string(value)
    if isinstance(value, str):
        return _json_quote(value)
    if isinstance(value, list | tuple):
        items = (js_json_stringify(item) for item in value)
        return "[" + ",".join("null" if item is UNDEFINED else item for item in items) + "]"
    if isinstance(value, Mapping):
        parts = []
        for key in js_keys(value):
            text = js_json_stringify(value[key])
            if text is not UNDEFINED:
                parts.append(f"{_json_quote(key)}:{text}")
        return "{" + ",".join(parts) + "}"
    return UNDEFINED


class _NotJson(ValueError):
    """A constant JSON.parse refuses (NaN, Infinity)."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def _parse_float(text: str) -> Any:
    number = float(text)
    # JSON.parse gives Infinity for 1e400; JSON can only write that back as null.
    return number if math.isfinite(number) else None


def _parse_int(text: str) -> Any:
    # Past 308 digits a double overflows; below, a Python int is exact where JS would round.
    return _parse_float(text) if len(text) > 309 else int(text)


def js_json_parse(text: str) -> Any:
    """``JSON.parse(text)``, or :data:`UNDEFINED` where JavaScript would throw.

    Numbers that overflow a double become ``None`` (JS Infinity, which JSON writes as null).
    """
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except (ValueError, RecursionError):
        return UNDEFINED


def strip_undefined(value: Any) -> Any:
    """A copy without ``undefined``: such keys dropped, such array items made ``None``.

    This is Segment's final ``removeUndefined`` pass; containers are always copied.
    """
    if type(value) is dict:
        return {key: strip_undefined(item) for key, item in value.items() if item is not UNDEFINED}
    if type(value) is list:
        return [None if item is UNDEFINED else strip_undefined(item) for item in value]
    return value


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value, copying only dicts and lists (scalars are immutable)."""
    kind = type(value)
    if kind is dict:
        copied = value.copy()
        for key, item in copied.items():
            if type(item) is dict or type(item) is list:
                copied[key] = copy_json(item)
        return copied
    if kind is list:
        return [
            copy_json(item) if type(item) is dict or type(item) is list else item for item in value
        ]
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    return value


def js_number(value: Any) -> float:
    """JavaScript's ``Number(value)`` for a JSON value (``UNDEFINED`` for absent), NaN included.

    ``true`` is 1, ``false``, ``null`` and a blank string are 0; strings are read as JavaScript
    reads numerals: whitespace around, decimals with exponents, ``0x``/``0o``/``0b`` integers
    without sign or underscores (an overflowing one is Infinity), ``Infinity`` with a sign;
    anything else is NaN. Arrays are read through their ``String()``; objects and
    ``undefined`` are NaN.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if value is None:
        return 0.0
    if isinstance(value, list | tuple):
        value = js_string(list(value))
    if not isinstance(value, str):
        return math.nan
    text = value.strip(JS_SPACE)
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    infinity = _INFINITY.fullmatch(text)
    if infinity:
        return -math.inf if infinity[1] == "-" else math.inf
    radix = _RADIX.fullmatch(text)
    if radix is None:
        return math.nan
    digits = radix.lastgroup or "x"
    try:
        return float(int(radix[digits], _RADIX_BASE[digits]))
    except OverflowError:
        return math.inf


def js_number_value(number: float) -> int | float:
    """A JavaScript number as Python holds it best: whole numbers as ``int`` (``5``, not
    ``5.0``) while a double holds them exactly, others as they are."""
    if number.is_integer() and abs(number) < _SAFE_INTEGER:
        return int(number)
    return number
