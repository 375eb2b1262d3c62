"""liquidjs's value rules for the ``@liquid`` sandbox: printing, math filters, string limits.

python-liquid prints and computes as Python does (``2.0``, integer division, an error on
dividing by zero); Segment's liquidjs does as JavaScript does. The filters here replace
python-liquid's where the two disagree on ordinary data: ``abs at_least at_most ceil floor
divided_by minus plus times modulo round`` (JS doubles, ``+value || 0`` coercion), ``append
prepend join capitalize upcase downcase`` (JS string forms and case mapping).
:func:`limited` caps every string a filter returns.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from liquid.exceptions import LiquidError
from liquid.undefined import Undefined

from framework.mapping.jsvalues import js_number, js_number_string, js_string

__all__ = [
    "JS_FILTERS",
    "STRING_LIMIT",
    "JSNumber",
    "TooLarge",
    "capped",
    "guard_replace",
    "jsify",
    "limited",
    "liquid_text",
]

STRING_LIMIT: Final = 100_000
"""Longest string (characters) a filter may produce or one output statement may print."""

_MAX_SAFE_INTEGER: Final = 2**53 - 1


class TooLarge(LiquidError):
    """A filter or output produced a string past :data:`STRING_LIMIT`."""


class JSNumber(float):
    """A float that prints as JavaScript does (``2.0`` -> ``2``), for python-liquid's str()."""

    __slots__ = ()

    def __str__(self) -> str:
        return js_number_string(float(self))


def jsify(value: Any) -> Any:
    """A copy of event data in which floats print as JS numbers."""
    kind = type(value)
    if kind is float:
        return JSNumber(value)
    if kind is dict:
        return {key: jsify(item) for key, item in value.items()}
    if kind is list:
        return [jsify(item) for item in value]
    return value


def liquid_text(value: Any) -> str:
    """liquidjs's ``stringify``: how a value prints and how append/prepend see it."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_string(value)
    if isinstance(value, list | tuple | range):
        return "".join(liquid_text(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _check_size(size: int) -> None:
    if size > STRING_LIMIT:
        raise TooLarge(f"string longer than {STRING_LIMIT} characters", token=None)


def capped(text: str) -> str:
    """``text``, or :class:`TooLarge` raised when it passes :data:`STRING_LIMIT`."""
    _check_size(len(text))
    return text


def _number(value: Any) -> float:
    """liquidjs's ``toNumber``: ``+value || 0``."""
    number = js_number(value)
    return 0.0 if math.isnan(number) else number


def _result(number: float) -> int | JSNumber:
    """A JS number back to Python: an int when it is one a double holds exactly."""
    if math.isfinite(number) and number.is_integer() and abs(number) <= _MAX_SAFE_INTEGER:
        return int(number)
    return JSNumber(number)


def _divide(dividend: float, divisor: float = 0.0, integer: float = 0.0) -> float:
    if divisor == 0:
        if dividend == 0 or dividend != dividend:
            return math.nan
        quotient = math.copysign(math.inf, dividend) * math.copysign(1.0, divisor)
    else:
        quotient = dividend / divisor
    return float(math.floor(quotient)) if integer and math.isfinite(quotient) else quotient


def _remainder(dividend: float, divisor: float) -> float:
    """JavaScript's ``%``."""
    if divisor == 0 or math.isinf(dividend) or math.isnan(dividend) or math.isnan(divisor):
        return math.nan
    if math.isinf(divisor):
        return dividend
    return math.fmod(dividend, divisor)


def _whole(function: Callable[[float], int]) -> Callable[[float], float]:
    def apply(number: float) -> float:
        return float(function(number)) if math.isfinite(number) else number

    return apply


def _js_round(number: float) -> float:
    """``Math.round`` for a number that is not negative: halves go up."""
    floor = math.floor(number)
    return float(floor + 1 if number - floor >= 0.5 else floor)


def _shift(number: float, exponent: float) -> float:
    """liquidjs's ``shiftDecimal``: move the decimal point through the number's JS text."""
    mantissa, _, power = js_number_string(number).partition("e")
    total = float(power or 0) + exponent
    if not total.is_integer():
        return math.nan
    return float(f"{mantissa}e{int(total)}")


def _round(value: Any, places: Any = 0, *_: Any, **__: Any) -> int | JSNumber:
    number, digits = _number(value), _number(places)
    scaled = _shift(abs(number), digits)
    if not scaled <= _MAX_SAFE_INTEGER:
        return _result(number)
    rounded = _shift(_js_round(scaled), -digits)
    return _result(-rounded if number < 0 else rounded)


def _math(function: Callable[..., float]) -> Callable[..., int | JSNumber]:
    def apply(value: Any, *args: Any, **_: Any) -> int | JSNumber:
        return _result(function(_number(value), *(_number(arg) for arg in args)))

    return apply


def _append(value: Any, other: Any = None, *_: Any, **__: Any) -> str:
    left, right = liquid_text(value), liquid_text(other)
    _check_size(len(left) + len(right))
    return left + right


def _prepend(value: Any, other: Any = None, *_: Any, **__: Any) -> str:
    left, right = liquid_text(value), liquid_text(other)
    _check_size(len(left) + len(right))
    return right + left


def _join(value: Any, separator: Any = None, *_: Any, **__: Any) -> str:
    items = list(value) if isinstance(value, list | tuple) else [value]
    glue = " " if separator is None or isinstance(separator, Undefined) else liquid_text(separator)
    texts = [
        "" if item is None or isinstance(item, Undefined) else js_string(item) for item in items
    ]
    _check_size(sum(map(len, texts)) + len(glue) * max(len(texts) - 1, 0))
    return glue.join(texts)


def _capitalize(value: Any, *_: Any, **__: Any) -> str:
    text = liquid_text(value)
    if not text:
        return ""
    # JS upper-cases the first UTF-16 unit: half of an astral character stays as it is.
    head = text[0] if ord(text[0]) > 0xFFFF else text[0].upper()
    return head + text[1:].lower()


def _upcase(value: Any, *_: Any, **__: Any) -> str:
    return liquid_text(value).upper()


def _downcase(value: Any, *_: Any, **__: Any) -> str:
    return liquid_text(value).lower()


JS_FILTERS: Final[Mapping[str, Callable[..., Any]]] = {
    "abs": _math(abs),
    "at_least": _math(lambda a, b=0.0: max(a, b)),
    "at_most": _math(lambda a, b=0.0: min(a, b)),
    "ceil": _math(_whole(math.ceil)),
    "floor": _math(_whole(math.floor)),
    "divided_by": _math(_divide),
    "minus": _math(lambda a, b=0.0: a - b),
    "plus": _math(lambda a, b=0.0: a + b),
    "times": _math(lambda a, b=0.0: a * b),
    "modulo": _math(lambda a, b=0.0: _remainder(_remainder(a, b) + b, b)),
    "round": _round,
    "append": _append,
    "prepend": _prepend,
    "join": _join,
    "capitalize": _capitalize,
    "upcase": _upcase,
    "downcase": _downcase,
}
"""Filters that follow liquidjs, replacing python-liquid's of the same name."""


def guard_replace(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a replace filter to refuse a result past the limit before building it."""

    @functools.wraps(function)
    def guarded(value: Any, old: Any = "", new: Any = "", *args: Any, **kwargs: Any) -> Any:
        text, pattern = liquid_text(value), liquid_text(old)
        growth = text.count(pattern) * max(len(liquid_text(new)) - len(pattern), 0)
        _check_size(len(text) + growth)
        return function(value, old, new, *args, **kwargs)

    return guarded


def limited(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that a string result past :data:`STRING_LIMIT` raises TooLarge."""

    @functools.wraps(function)  # keeps python-liquid's with_environment/with_context marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        return capped(result) if isinstance(result, str) else result

    return checked
