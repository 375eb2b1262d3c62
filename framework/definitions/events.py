"""Checking that an event is a Segment-spec event before any trigger sees it.

``schemas/event.schema.json`` is the documented contract; :class:`EventChecker` applies the
same rules by hand, because a general JSON Schema validator takes about 200 µs per event and
this check runs on every event (the tests hold the two to the same verdict). The rules:

- the event is a JSON object whose ``type`` is one of :data:`EVENT_TYPES`;
- ``userId`` and ``anonymousId`` are strings or null, and at least one is a non-empty string
  (Segment requires one for every type). Ids are strings, as Segment's libraries send them: a
  number is refused, not silently converted, since triggers never coerce types;
- ``track`` needs a non-empty ``event``, ``group`` a non-empty ``groupId``, ``alias`` a
  non-empty ``previousId``; ``event``, ``groupId``, ``previousId`` and ``messageId`` are
  strings wherever they appear, ``name`` and ``category`` strings or null;
- ``timestamp``, ``originalTimestamp``, ``sentAt`` and ``receivedAt`` are ISO-8601 date-times
  naming a real calendar date (seconds, fractions and the offset may be left out);
- ``context``, ``properties`` and ``traits`` are objects; ``integrations`` is an object whose
  ``All`` is a boolean and whose other values are booleans or objects of options.

Other fields are allowed. Each problem is a :class:`~framework.errors.Problem` whose ``code``
names its kind (``NOT_AN_OBJECT``, ``MISSING_FIELD``, ``UNKNOWN_TYPE``, ``MISSING_IDENTITY``,
``WRONG_TYPE``, ``EMPTY``, ``BAD_DATE_TIME``) and whose message says what is wrong and where
without repeating the event: only short strings are quoted, and they are truncated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from framework.errors import EventError, Problem, sort_problems

__all__ = ["EVENT_TYPES", "EventChecker"]

EVENT_TYPES: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")
"""The event types actionkit accepts, in Segment's order."""

# The schema's #/$defs/dateTime pattern. The date part admits only real calendar dates (month
# lengths and leap years: every 4th year, but of centuries only every 4th), so that the schema
# alone is the whole contract. fullmatch gives it ECMA-262 anchoring: Python's ``$`` would also
# accept a trailing newline.
_DATE = (
    r"(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[048]|[2468][048]|[13579][26])00)-02-29)"
)
_TIME = (
    r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?"
)
_DATE_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_OBJECT_FIELDS = ("context", "properties", "traits")
_STRING_FIELDS = ("messageId", "event", "groupId", "previousId")
_NULLABLE_STRING_FIELDS = ("name", "category")
_ID_FIELDS = ("userId", "anonymousId")
# The field each type cannot do without, and what it is for the message.
_REQUIRED_BY_TYPE = {
    "track": ("event", "an 'event' name, such as \"Order Completed\""),
    "group": ("groupId", "a 'groupId'"),
    "alias": ("previousId", "a 'previousId'"),
}
_TYPE_LIST = ", ".join(EVENT_TYPES)
_TYPE_SET = frozenset(EVENT_TYPES)
# What EventChecker.passes asks of each field it finds, by field name.
_STRING, _NULLABLE_STRING, _OBJECT, _DATE_TIME, _INTEGRATIONS = range(5)
_FIELD_RULES: dict[object, int] = {
    **dict.fromkeys(_STRING_FIELDS, _STRING),
    **dict.fromkeys(_NULLABLE_STRING_FIELDS, _NULLABLE_STRING),
    **dict.fromkeys(_OBJECT_FIELDS, _OBJECT),
    **dict.fromkeys(_DATE_TIME_FIELDS, _DATE_TIME),
    "integrations": _INTEGRATIONS,
}
_QUOTE_LIMIT = 40


class EventChecker:
    """Checks events against the Segment spec (see the module docstring for the rules).

    Build one and reuse it: the checks are prepared once, here, and each call is a pure
    function of the event. A typical track event checks in a few microseconds.
    """

    __slots__ = ("_date_time",)

    def __init__(self) -> None:
        self._date_time = re.compile(_DATE + _TIME)

    def check(self, event: object) -> None:
        """Return if ``event`` is a Segment event; otherwise raise :class:`EventError`.

        The error carries the first problem that :meth:`problems` lists: its message and its
        JSON pointer. Nothing else is ever raised, whatever ``event`` is.
        """
        problems = self.problems(event)
        if problems:
            first = problems[0]
            raise EventError(first.message, pointer=first.pointer)

    def problems(self, event: object) -> list[Problem]:
        """Every problem of ``event``, sorted by JSON pointer; empty when it is valid."""
        if event.__class__ is dict and self.passes(event):
            return []
        return self.all_problems(event)

    def passes(self, event: dict[str, Any]) -> bool:
        """Whether the dict ``event`` is valid, the rules checked in one pass over its fields.

        The verdict of :meth:`all_problems` (empty or not) on a parsed JSON object, without
        building any problem: a typical event has fewer fields than the rules name, so this
        walks its fields once rather than asking for each of the rules' fields. False also
        when a value is no JSON value but passes the rules (a non-dict mapping as an object):
        :meth:`problems` then asks :meth:`all_problems`, whose verdict holds.
        """
        kind = event.get("type")
        if not isinstance(kind, str) or kind not in _TYPE_SET:
            return False
        required = _REQUIRED_BY_TYPE.get(kind)
        if required is not None and event.get(required[0], "") == "":
            return False
        user, anonymous = event.get("userId"), event.get("anonymousId")
        if not (user is None or isinstance(user, str)):
            return False
        if not (anonymous is None or isinstance(anonymous, str)):
            return False
        if not user and not anonymous:  # neither is a non-empty string
            return False
        date_time = self._date_time
        for field, value in event.items():
            rule = _FIELD_RULES.get(field)
            if rule is None:
                continue
            if rule == _STRING:
                if not isinstance(value, str):
                    return False
            elif rule == _NULLABLE_STRING:
                if value is not None and not isinstance(value, str):
                    return False
            elif rule == _OBJECT:
                if value.__class__ is not dict:
                    return False
            elif rule == _DATE_TIME:
                if not isinstance(value, str) or date_time.fullmatch(value) is None:
                    return False
            elif not _integrations_pass(value):
                return False
        return True

    def all_problems(self, event: object) -> list[Problem]:
        """Every problem of ``event``, sorted by JSON pointer, each rule asked in turn.

        What :meth:`problems` gives; call that one, which skips straight to the verdict when
        a dict passes every rule.
        """
        if not isinstance(event, Mapping):
            return [
                Problem(
                    "",
                    f"The event must be a JSON object, but it is {_kind(event)}.",
                    "NOT_AN_OBJECT",
                )
            ]
        found: list[Problem] = []
        self._check_type(event, found)
        self._check_identity(event, found)
        for field in _STRING_FIELDS:
            if field in event and not isinstance(event[field], str):
                found.append(_wrong_type(field, "a string", event[field]))
        for field in _NULLABLE_STRING_FIELDS:
            value = event.get(field)
            if value is not None and not isinstance(value, str):
                found.append(_wrong_type(field, "a string or null", value))
        for field in _OBJECT_FIELDS:
            if field in event and not isinstance(event[field], Mapping):
                found.append(_wrong_type(field, "an object", event[field]))
        for field in _DATE_TIME_FIELDS:
            if field in event and not self._is_date_time(event[field]):
                found.append(_bad_date_time(field, event[field]))
        if "integrations" in event:
            _check_integrations(event["integrations"], found)
        return sort_problems(found) if found else found

    def _check_type(self, event: Mapping[Any, Any], found: list[Problem]) -> None:
        if "type" not in event:
            found.append(
                Problem(
                    "/type",
                    f"The event has no 'type'; it must be one of {_TYPE_LIST}.",
                    "MISSING_FIELD",
                )
            )
            return
        kind = event["type"]
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            found.append(
                Problem(
                    "/type",
                    f"The event's 'type' must be one of {_TYPE_LIST}, but it is {_show(kind)}.",
                    "UNKNOWN_TYPE",
                )
            )
            return
        required = _REQUIRED_BY_TYPE.get(kind)
        if required is None:
            return
        field, wanted = required
        if field not in event:
            found.append(
                Problem(
                    f"/{field}",
                    f"A {kind} event needs {wanted}, but this one has none.",
                    "MISSING_FIELD",
                )
            )
        elif event[field] == "":
            found.append(
                Problem(
                    f"/{field}",
                    f"The {kind} event's '{field}' is empty; it needs {wanted}.",
                    "EMPTY",
                )
            )

    def _is_date_time(self, value: object) -> bool:
        return isinstance(value, str) and self._date_time.fullmatch(value) is not None

    @staticmethod
    def _check_identity(event: Mapping[Any, Any], found: list[Problem]) -> None:
        present = False
        for field in _ID_FIELDS:
            value = event.get(field)
            if isinstance(value, str):
                present = present or value != ""
            elif value is not None:
                hint = " (send ids as strings)" if _is_number(value) else ""
                found.append(
                    Problem(
                        f"/{field}",
                        f"The event's '{field}' must be a string or null, "
                        f"but it is {_kind(value)}{hint}.",
                        "WRONG_TYPE",
                    )
                )
                # A mistyped id is the problem to fix; "it has neither" would only add noise.
                present = True
        if not present:
            found.append(
                Problem(
                    "/userId",
                    "The event needs a non-empty 'userId' or 'anonymousId', but it has neither.",
                    "MISSING_IDENTITY",
                )
            )


def _integrations_pass(integrations: object) -> bool:
    """Whether ``integrations`` is a dict :func:`_check_integrations` finds nothing in.

    False for any other mapping too (the full check then decides).
    """
    if integrations.__class__ is not dict:
        return False
    for name, value in integrations.items():
        # bool has no subclasses: ``__class__ is bool`` is ``isinstance(value, bool)``.
        if value.__class__ is not bool and (name == "All" or value.__class__ is not dict):
            return False
    return True


def _check_integrations(integrations: object, found: list[Problem]) -> None:
    if not isinstance(integrations, Mapping):
        found.append(_wrong_type("integrations", "an object", integrations))
        return
    for name, value in integrations.items():
        if name == "All":
            if not isinstance(value, bool):
                found.append(
                    Problem(
                        "/integrations/All",
                        f"The event's integrations.All must be true or false, "
                        f"but it is {_kind(value)}.",
                        "WRONG_TYPE",
                    )
                )
        elif not isinstance(value, bool | Mapping):
            found.append(
                Problem(
                    f"/integrations/{_escape(str(name))}",
                    f"The event's integrations[{_quote(str(name))}] must be true, false or an "
                    f"object of options, but it is {_kind(value)}.",
                    "WRONG_TYPE",
                )
            )


def _wrong_type(field: str, wanted: str, value: object) -> Problem:
    return Problem(
        f"/{field}",
        f"The event's '{field}' must be {wanted}, but it is {_kind(value)}.",
        "WRONG_TYPE",
    )


def _bad_date_time(field: str, value: object) -> Problem:
    return Problem(
        f"/{field}",
        f"The event's '{field}' must be an ISO-8601 date-time such as "
        f'"2024-05-01T12:30:00Z", but it is {_show(value)}.',
        "BAD_DATE_TIME",
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: object) -> str:
    """The JSON type of ``value`` as a noun phrase; never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if value == "" else "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__} (not a JSON value)"


def _show(value: object) -> str:
    """A string quoted (and truncated), anything else by its kind."""
    return _quote(value) if isinstance(value, str) and value else _kind(value)


def _quote(text: str) -> str:
    if len(text) > _QUOTE_LIMIT:
        return json.dumps(text[:_QUOTE_LIMIT] + "…", ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False)


def _escape(token: str) -> str:
    """One JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")
