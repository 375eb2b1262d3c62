"""The string formats a field may require, checked as ajv-formats checks them.

``date-time``, ``email``, ``uri``, ``https-url`` (an https URL, or http on a loopback
address) and ``date-like``. :func:`format_predicates` gives each as a function of a string;
:func:`format_checker` gives them to ``jsonschema``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final

from jsonschema import FormatChecker

from framework.mapping.jsvalues import JS_SPACE, js_number_string

__all__ = ["FORMAT_LABELS", "format_checker", "format_predicates"]

FORMAT_LABELS: Final[Mapping[str, str]] = {
    "date-time": "date and time",
    "email": "email address",
    "uri": "URI",
    "https-url": "HTTPS URL",
    "date-like": "date-like",
}
"""How an error message names each checked format (``must be a valid URI string``)."""


# Each check takes a string; the validator only asks about strings, as ajv does.

# JavaScript's \s (WhiteSpace and LineTerminator), which ajv-formats splits a date-time on.
_DATE_TIME_SEPARATOR: Final = re.compile(f"[Tt{JS_SPACE}]")
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
