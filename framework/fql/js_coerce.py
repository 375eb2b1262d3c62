"""JavaScript's ``String(...)`` and ``Number(...)`` of a condition's value, as Segment's
``validate()`` applies them (packages/destination-subscriptions/src/validate.ts).

A structure's ``value`` is any JSON value, or absent (``undefined``): ``=`` compares with
``String(value)``, the number operators with ``Number(value)``, the text operators search for
``String(value)``. Reading a structure applies the same coercions once, so the trigger keeps
the meaning the structure had in Segment.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from framework.mapping.jsvalues import UNDEFINED, js_string

__all__ = ["js_number", "number_literal"]

# JavaScript's whitespace and line terminators, which Number() ignores around a numeral.
_JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RADIX: Final = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")
_INFINITY: Final = re.compile(r"([+-]?)Infinity")
_SAFE_INTEGER: Final = 2**53


def number_literal(number: float) -> int | float:
    """A finite JavaScript number as a trigger literal: whole numbers as ``int`` (``5``, not
    ``5.0``) while they are exact."""
    if number.is_integer() and abs(number) < _SAFE_INTEGER:
        return int(number)
    return number


def js_number(value: Any) -> float:
    """``Number(value)`` for a JSON value (``UNDEFINED`` for absent): NaN when it reads as none.

    ``true`` is 1, ``false``, ``null`` and ``""`` are 0, strings are read as JavaScript reads
    numerals (whitespace around, ``0x``/``0o``/``0b``, ``Infinity``), arrays through their
    ``String()``, objects and ``undefined`` are NaN.
    """
    if value is UNDEFINED or isinstance(value, dict):
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple):
        return js_number(js_string(value))
    if not isinstance(value, str):
        return math.nan
    text = value.strip(_JS_SPACE)
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
    base = {"x": 16, "o": 8, "b": 2}[radix.lastgroup or "x"]
    whole = int(radix[radix.lastgroup or "x"], base)
    try:
        return float(whole)
    except OverflowError:
        return math.inf
