"""Attribute values: make warehouse values JSON-ready, and check them against attribute types.

Warehouses return more than JSON knows (``Decimal``, dates, times, UUIDs, bytes); they become
numbers and ISO 8601 strings. Then each value is checked against its attribute's type, with
the conversions a warehouse or a CSV file needs (a CSV cell ``"12.5"`` is a number, SQLite's
``0``/``1`` a boolean, a JSON array or comma-separated text a list). A value that cannot be
converted gives a sentence naming the attribute and the type, never the value itself.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import Any

from framework.errors import EventJsonError
from framework.event_json import decode_event_json
from framework.sync.config import AttributeType

__all__ = ["check_value", "jsonable"]

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def jsonable(value: Any) -> Any:
    """``value`` with every non-JSON type converted (Decimal, dates, UUID, bytes, tuples)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return int(value) if value == value.to_integral_value() else number
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() and "." not in value else number
    return None


def _list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = decode_event_json(text.encode("utf-8", "surrogatepass"))
            except EventJsonError:  # the rule events come in under: no NaN, no deep nesting
                return None
            if not isinstance(parsed, list):
                return None
            items = parsed
        else:  # comma-separated text: strings only, nothing more to check
            return [part for part in map(str.strip, text.split(",")) if part]
    else:
        return None
    if all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in items):
        return items
    return None


_DESCRIBE = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (true or false)",
    "list": "a list of strings or numbers (a JSON array or comma-separated text)",
}


def check_value(
    name: str, expected: AttributeType, value: Any, *, nullable: bool = True
) -> tuple[Any, str | None]:
    """The value converted to the attribute's type, and None; or None and the problem."""
    if value is None:
        if nullable:
            return None, None
        return None, f"The attribute '{name}' must not be empty (null)."
    if type(value) is str and expected == "string":  # the commonest case, first
        return value, None
    converted: Any = None
    if expected == "any":
        return value, None
    if expected == "string":
        if isinstance(value, str):
            converted = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            converted = str(value)
    elif expected in ("number", "integer"):
        converted = _number(value)
        if expected == "integer" and converted is not None:
            converted = int(converted) if float(converted).is_integer() else None
    elif expected == "boolean":
        if isinstance(value, bool):
            converted = value
        elif isinstance(value, int) and value in (0, 1):
            converted = bool(value)
        elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            converted = value.strip().lower() in _TRUE
    elif expected == "list":
        converted = _list(value)
    if converted is None:
        kind = type(value).__name__
        kind = {"str": "text", "dict": "an object", "list": "a list", "bool": "a boolean"}.get(
            kind, kind
        )
        return None, (
            f"The attribute '{name}' must be {_DESCRIBE[expected]}; "
            f"this row's value ({kind}) cannot be read as one."
        )
    return converted, None
