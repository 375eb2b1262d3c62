"""The Edge API's request bodies: what each endpoint accepts, and every problem of one that
it refuses (each at its JSON pointer), for :mod:`framework.emulators.contentstack`."""

from __future__ import annotations

from typing import Any

from framework.emulators.api import ApiError

__all__ = ["Problem", "check_attributes", "check_events", "check_merge", "recorded_event", "refuse"]

_EVENT_TYPES = ("EVENT", "IMPRESSION")
_IMPRESSION_FIELDS = ("experienceShortUid", "variantShortUid")
_MERGE_FIELDS = ("sourceUserUid", "targetUserUid")

Problem = dict[str, str]


def _problem(pointer: str, message: str, code: str = "INVALID_BODY") -> Problem:
    return {"pointer": pointer, "message": message, "code": code}


def refuse(problems: list[Problem]) -> ApiError:
    """One 400 listing every problem; its code is the problems' when they all share one."""
    codes = {problem["code"] for problem in problems}
    code = codes.pop() if len(codes) == 1 else "INVALID_BODY"
    message = problems[0]["message"]
    if len(problems) > 1:
        more = len(problems) - 1
        message += f" {more} more {'problem is' if more == 1 else 'problems are'} in errors."
    return ApiError(400, code, message, errors=tuple(problems))


def _is_uid(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_events(body: object, defined: frozenset[str] | None) -> list[Problem]:
    """Every problem of an ``/events`` body (a JSON array of events); empty when valid."""
    if not isinstance(body, list):
        return [_problem("", "The body must be a JSON array of events.")]
    problems: list[Problem] = []
    for index, item in enumerate(body):
        where = f"/{index}"
        if not isinstance(item, dict):
            problems.append(_problem(where, f"Event {index} must be a JSON object."))
            continue
        kind = item.get("type")
        if kind not in _EVENT_TYPES:
            problems.append(
                _problem(
                    f"{where}/type", f'The type of event {index} must be "EVENT" or "IMPRESSION".'
                )
            )
        elif kind == "EVENT":
            key = item.get("eventKey")
            if not (isinstance(key, str) and key):
                problems.append(
                    _problem(f"{where}/eventKey", f"Event {index} needs an eventKey (a string).")
                )
            elif defined is not None and key not in defined:
                problems.append(
                    _problem(
                        f"{where}/eventKey",
                        f"The eventKey of event {index} is not an event defined in the project.",
                        "UNDEFINED_EVENT",
                    )
                )
        else:
            problems.extend(
                _problem(f"{where}/{name}", f"Impression {index} needs a {name} (a string).")
                for name in _IMPRESSION_FIELDS
                if not (isinstance(item.get(name), str) and item[name])
            )
    return problems


def check_attributes(body: object, defined: frozenset[str] | None) -> list[Problem]:
    """Every problem of a ``/user-attributes`` body (a JSON object); empty when valid."""
    if not isinstance(body, dict):
        return [_problem("", "The body must be a JSON object of attribute keys and values.")]
    problems: list[Problem] = []
    for key in body:
        pointer = "/" + key.replace("~", "~0").replace("/", "~1")
        if not key:
            problems.append(_problem(pointer, "An attribute key must not be empty."))
        elif defined is not None and key not in defined:
            problems.append(
                _problem(
                    pointer,
                    f"The attribute key at {pointer} is not an attribute defined in the project.",
                    "UNDEFINED_ATTRIBUTE",
                )
            )
    return problems


def check_merge(body: object) -> list[Problem]:
    """Every problem of a merge body (``sourceUserUid`` and ``targetUserUid``); empty if valid."""
    if not isinstance(body, dict):
        return [
            _problem("", "The body must be a JSON object with sourceUserUid and targetUserUid.")
        ]
    return [
        _problem(f"/{name}", f"The merge needs a {name} (a non-empty string).")
        for name in _MERGE_FIELDS
        if not _is_uid(body.get(name))
    ]


def recorded_event(item: dict[str, Any]) -> dict[str, str]:
    """What the state keeps of an accepted event item: its type and its own fields."""
    if item["type"] == "EVENT":
        return {"type": "EVENT", "eventKey": item["eventKey"]}
    return {"type": "IMPRESSION", **{name: item[name] for name in _IMPRESSION_FIELDS}}
