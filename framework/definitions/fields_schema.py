"""The JSON Schema of an action's payload, built from its fields, and what its formats mean.

The schema keeps the structure of Segment's ``fieldsToJsonSchema`` (actions-core 3.170.0): an
object whose properties are the fields, ``additionalProperties: false`` at the root, ``text``
and ``password`` as strings, ``datetime`` as a string or number with the ``date-like`` format,
``multiple`` as an array of items, ``allowNull`` as a type union with ``null``, choices as
``enum``. It differs where Segment silently drops a declared constraint (see
``docs/payload-validation.md``): ``minimum``/``maximum`` apply to integers, to ``0``, to text
and password lengths and to each item of a ``multiple`` field, and a declared ``format`` is
kept on text, password and ``multiple`` fields.

The schema is the specification; :class:`framework.definitions.payload.PayloadValidator`
compiles it into a fast plan, and :func:`format_checker` lets ``jsonschema`` check the same
formats.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from jsonschema import FormatChecker

from framework.definitions.models import FieldDefinition
from framework.errors import DefinitionError, Problem

__all__ = [
    "FORMAT_LABELS",
    "JSON_SCHEMA_DIALECT",
    "fields_to_json_schema",
    "format_checker",
    "format_predicates",
    "js_number_string",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every schema :func:`fields_to_json_schema` returns."""

_SCHEMA_TYPE: Final[Mapping[str, str | tuple[str, ...]]] = {
    "string": "string",
    "text": "string",
    "password": "string",
    "datetime": ("string", "number"),
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
}
# The format a type implies when the field declares none (Segment's UI hints and date-like).
_IMPLIED_FORMAT: Final[Mapping[str, str]] = {
    "datetime": "date-like",
    "text": "text",
    "password": "password",
}
_STRING_TYPES: Final = frozenset({"string", "text", "password"})
_NUMBER_TYPES: Final = frozenset({"number", "integer"})

FORMAT_LABELS: Final[Mapping[str, str]] = {
    "date-time": "date and time",
    "email": "email address",
    "uri": "URI",
    "https-url": "HTTPS URL",
    "date-like": "date-like",
}
"""How an error message names each checked format (``must be a valid URI string``)."""


def fields_to_json_schema(fields: Mapping[str, FieldDefinition]) -> dict[str, Any]:
    """The JSON Schema (2020-12) that a payload for these fields must satisfy.

    Raises :class:`DefinitionError` listing every field whose constraints could never hold as
    declared (a ``minimum`` on a boolean, a number choice on a string field, ...); each
    problem's pointer is ``/<field>/<attribute>`` within ``fields``.
    """
    problems: list[Problem] = []
    schema = _object_schema(fields, additional=False, pointer="", problems=problems)
    if problems:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        raise DefinitionError(f"The action's fields are invalid ({count} {noun}).", problems)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def _object_schema(
    fields: Mapping[str, FieldDefinition],
    *,
    additional: bool,
    pointer: str,
    problems: list[Problem],
) -> dict[str, Any]:
    properties = {
        key: _field_schema(field, f"{pointer}/{key}", problems) for key, field in fields.items()
    }
    return {
        "type": "object",
        "additionalProperties": additional,
        "properties": properties,
        "required": [key for key, field in fields.items() if field.required],
    }


def _field_schema(field: FieldDefinition, pointer: str, problems: list[Problem]) -> dict[str, Any]:
    problems.extend(_field_problems(field, pointer))
    base = _SCHEMA_TYPE[field.type]
    schema: dict[str, Any] = {"title": field.label}
    if field.description:
        schema["description"] = field.description

    # What one value must satisfy: the whole field, or each item of a `multiple` field.
    value: dict[str, Any] = {"type": base if isinstance(base, str) else list(base)}
    fmt = field.format or _IMPLIED_FORMAT.get(field.type)
    if fmt is not None:
        value["format"] = fmt
    if field.choices is not None:
        value["enum"] = [choice.value for choice in field.choices]
        if field.allow_null:
            # Segment lists null among the choices, for `multiple` fields too.
            value["enum"].append(None)
    value.update(_limits(field))
    if field.type == "object" and field.properties is not None:
        value.update(
            _object_schema(
                field.properties,
                additional=field.additional_properties,
                pointer=f"{pointer}/properties",
                problems=problems,
            )
        )

    if field.multiple:
        # An array is never nullable: Segment drops a null `multiple` value as empty.
        schema.update(type="array", items=value)
        return schema
    if field.allow_null:
        types = value["type"]
        value["type"] = [*([types] if isinstance(types, str) else types), "null"]
    schema.update(value)
    return schema


def _limits(field: FieldDefinition) -> dict[str, Any]:
    if field.type in _NUMBER_TYPES:
        names = ("minimum", "maximum")
    elif field.type in _STRING_TYPES:
        names = ("minLength", "maxLength")
    else:
        return {}
    limits: dict[str, Any] = {}
    for name, limit in zip(names, (field.minimum, field.maximum), strict=True):
        if limit is not None:
            # Lengths are whole numbers (checked in _field_problems); keep them as ints.
            limits[name] = int(limit) if name.endswith("Length") else _plain_number(limit)
    return limits


def _plain_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _field_problems(field: FieldDefinition, pointer: str) -> list[Problem]:
    problems: list[Problem] = []

    def problem(attribute: str, message: str) -> None:
        problems.append(Problem(f"{pointer}/{attribute}", message, "FIELD_INVALID"))

    limits = {"minimum": field.minimum, "maximum": field.maximum}
    for name, limit in limits.items():
        if limit is None:
            continue
        if field.type not in _NUMBER_TYPES | _STRING_TYPES:
            problem(name, f"'{name}' applies only to number, integer, and string fields.")
        elif field.type in _STRING_TYPES and not (limit >= 0 and float(limit).is_integer()):
            problem(name, f"'{name}' of a {field.type} field is a length: a whole number >= 0.")
    if field.minimum is not None and field.maximum is not None and field.minimum > field.maximum:
        problem("minimum", "'minimum' is greater than 'maximum': no value could satisfy both.")
    if field.format is not None and not (
        field.type in _STRING_TYPES or (field.type == "datetime" and field.format == "date-time")
    ):
        problem("format", f"A {field.type} field cannot have the format '{field.format}'.")
    if field.properties is not None and field.type != "object":
        problem("properties", "Only an object field can have 'properties'.")
    if field.choices is not None:
        accepts = _CHOICE_ACCEPTS[field.type]
        for index, choice in enumerate(field.choices):
            if not accepts(choice.value):
                problems.append(
                    Problem(
                        f"{pointer}/choices/{index}/value",
                        f"A {field.type} field cannot have this choice: no value of the "
                        "field's type would ever equal it.",
                        "FIELD_INVALID",
                    )
                )
    return problems


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


_CHOICE_ACCEPTS: Final[Mapping[str, Callable[[object], bool]]] = {
    "string": lambda value: isinstance(value, str),
    "text": lambda value: isinstance(value, str),
    "password": lambda value: isinstance(value, str),
    "datetime": lambda value: isinstance(value, str) or _is_number(value),
    "number": _is_number,
    "integer": lambda value: _is_number(value) and float(value).is_integer(),  # type: ignore[arg-type]
    "boolean": lambda value: isinstance(value, bool),
    "object": lambda value: False,
}


# -- numbers as JavaScript prints them ------------------------------------------------------


def js_number_string(value: float) -> str:
    """``String(value)`` in JavaScript: ``5.0`` is ``"5"``, ``1e21`` is ``"1e+21"``.

    An ``int`` is printed exactly below 10**21 (JavaScript would already have rounded one
    beyond 2**53 when it parsed the JSON; we keep its digits).
    """
    if isinstance(value, int):
        if abs(value) < 10**21:
            return str(value)
        if value.bit_length() > 1024:
            return "Infinity" if value > 0 else "-Infinity"
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, the same digits JavaScript picks.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        power = point - 1
        head = digits[0] if count == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{head}e{'+' if power >= 0 else '-'}{abs(power)}"
    return sign + text


# -- formats --------------------------------------------------------------------------------
# Each check takes a string; the validator only asks about strings, as ajv does.

# JavaScript's \s (WhiteSpace and LineTerminator), which ajv-formats splits a date-time on.
_JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DATE_TIME_SEPARATOR: Final = re.compile(f"[Tt{_JS_SPACE}]")
_FULL_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_FULL_TIME: Final = re.compile(
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= day <= (29 if month == 2 and leap else _DAYS_IN_MONTH[month])


def _is_date_time(text: str) -> bool:
    """RFC 3339 date-time as ajv-formats checks it: the offset may be left out (as in Segment)."""
    parts = _DATE_TIME_SEPARATOR.split(text)
    if len(parts) != 2:
        return False
    date = _FULL_DATE.fullmatch(parts[0])
    time = _FULL_TIME.fullmatch(parts[1])
    if date is None or time is None:
        return False
    hour, minute, second = (int(group) for group in time.groups())
    return _valid_date(*(int(group) for group in date.groups())) and (
        (hour <= 23 and minute <= 59 and second <= 59) or (hour, minute, second) == (23, 59, 60)
    )


_ATEXT: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
)
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.ASCII | re.IGNORECASE)


def _is_email(text: str) -> bool:
    """A dot-atom local part (RFC 5322), ``@``, and a domain of two or more host labels."""
    local, at, domain = text.partition("@")
    if not at:
        return False
    labels = domain.split(".")
    # Checked without a regular expression over the whole address: no backtracking.
    return (
        all(atom and _ATEXT.issuperset(atom) for atom in local.split("."))
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
    )


# RFC 3986, ASCII only. Every repetition below alternates disjoint character sets, so
# matching is linear. As in ajv-formats, the part after the scheme may not be empty.
_SUB: Final = r"a-z0-9\-._~!$&'()*+,;="
_PCT: Final = r"%[0-9a-f]{2}"
_PCHAR: Final = rf"(?:[{_SUB}:@]|{_PCT})"
_URI: Final = re.compile(
    rf"(?P<scheme>[a-z][a-z0-9+\-.]*):"
    rf"(?:"
    rf"//(?:(?:[{_SUB}:]|{_PCT})*@)?"
    rf"(?:\[(?P<literal>[^\]]*)\]|(?P<host>(?:[{_SUB}]|{_PCT})*))"
    rf"(?::[0-9]*)?(?:/{_PCHAR}*)*"
    rf"|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"
    rf"|{_PCHAR}+(?:/{_PCHAR}*)*"
    rf")"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?",
    re.ASCII | re.IGNORECASE,
)
_IP_FUTURE: Final = re.compile(rf"v[0-9a-f]+\.[{_SUB}:]+", re.ASCII | re.IGNORECASE)


def _uri_match(text: str) -> re.Match[str] | None:
    match = _URI.fullmatch(text)
    if match is None:
        return None
    literal = match["literal"]
    if literal is not None and not (_IP_FUTURE.fullmatch(literal) or _ipv6(literal)):
        return None
    return match


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    # ipaddress accepts a zone ("%eth0"), which a URI's IP-literal does not.
    if "%" in text:
        return None
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def _is_uri(text: str) -> bool:
    """An absolute URI (RFC 3986): a scheme, then a non-empty remainder."""
    return _uri_match(text) is not None


def _is_https_url(text: str) -> bool:
    """An ``https`` URL with a host, or an ``http`` one whose host is loopback.

    Loopback is ``localhost``, an IPv4 address in 127.0.0.0/8, or ``[::1]``.
    """
    match = _uri_match(text)
    if match is None or not text[match.end("scheme") + 1 :].startswith("//"):
        return False
    scheme = match["scheme"].lower()
    literal, host = match["literal"], match["host"]
    if scheme == "https":
        return bool(literal or host)
    if scheme != "http":
        return False
    if literal is not None:
        address = _ipv6(literal)
        return address is not None and address.is_loopback
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


# Seconds since the epoch, written exactly as JavaScript prints the number.
_CANONICAL_NUMBER: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?")
_LIKE_DATE: Final = re.compile(
    r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?"
    r"(?:[Zz]|[+-]([0-9]{2}):?([0-9]{2}))?)?)?)?",
)
# JavaScript dates span 8.64e15 milliseconds either side of the epoch.
_MAX_EPOCH_SECONDS: Final = 8.64e12


def _is_date_like(text: str) -> bool:
    """A date Segment's ``date-like`` format means, in the shapes we accept.

    Either a number of seconds since the epoch as JavaScript prints it (``"1700000000"``,
    ``"-1.5"``) within JavaScript's date range, or an ISO 8601 calendar date or date-time:
    ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, then optionally ``T`` (or a space) ``HH:MM``,
    ``:SS``, ``.fraction``, and ``Z`` or an offset ``±HH:MM`` / ``±HHMM``; every part must
    exist on the calendar and the clock.
    """
    match = _LIKE_DATE.fullmatch(text)
    if match is None:
        if _CANONICAL_NUMBER.fullmatch(text) is None:
            return False
        seconds = float(text)
        return js_number_string(seconds) == text and abs(seconds) <= _MAX_EPOCH_SECONDS
    year, month, day, hour, minute, second, offset_hour, offset_minute = match.groups()
    if month is None:
        return True
    if not _valid_date(int(year), int(month), int(day or 1)):
        return False
    return hour is None or (
        int(hour) <= 23
        and int(minute) <= 59
        and (second is None or int(second) <= 59)
        and (offset_hour is None or (int(offset_hour) <= 23 and int(offset_minute) <= 59))
    )


def format_predicates() -> dict[str, Callable[[str], bool]]:
    """Each checked format's name and its check; formats not listed (``text``) always pass."""
    return {
        "date-time": _is_date_time,
        "email": _is_email,
        "uri": _is_uri,
        "https-url": _is_https_url,
        "date-like": _is_date_like,
    }


def format_checker() -> FormatChecker:
    """A ``jsonschema`` format checker that checks the formats as the validator does."""
    checker = FormatChecker(formats=())
    for name, predicate in format_predicates().items():
        checker.checks(name)(_strings_only(predicate))
    return checker


def _strings_only(predicate: Callable[[str], bool]) -> Callable[[object], bool]:
    def check(instance: object) -> bool:
        return not isinstance(instance, str) or predicate(instance)

    return check
