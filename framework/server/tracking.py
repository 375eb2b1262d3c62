"""Segment's HTTP Tracking API: the write key, the events of a body and their receipt.

Pure functions of the request's parts and the clock's reading; the app (``app.py``) does the
I/O. What Segment does, and what this does the same way:

- The write key is the HTTP Basic user name (the password is empty), or ``writeKey`` in the
  body. ``writeKey`` never reaches the queue.
- ``/v1/track`` (and identify, page, screen, group, alias) take one event whose ``type`` is
  the path's; a body ``type`` that disagrees is refused. ``/v1/batch`` and ``/v1/import``
  take ``{"batch": [...]}``, each item with its own ``type``; the body's ``context`` and
  ``integrations`` apply to every item (merged under the item's own keys), and its
  ``sentAt`` to every item that has none.
- The fields the API fills (``messageId``, ``receivedAt``, the batch's ``sentAt``, the
  skew-corrected ``timestamp``) are filled from the request's receipt
  (:func:`receipt_of`) by the queue when it makes the events entries
  (:mod:`framework.event_fill`, which states the rules).

Where this is stricter than Segment (which answers 200 and drops a bad event later): an event
that is not a Segment event, an event over 32 KB and a batch over 2500 events are answered
400, and a batch with one bad event is refused whole, so nothing is ever queued in part.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from framework.definitions.events import EventChecker
from framework.errors import Problem
from framework.event_fill import Receipt, parse_time
from framework.server.body import Rejection
from framework.server.config import Limits

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json measures alone, slower
    orjson = None  # type: ignore[assignment]

__all__ = [
    "BATCH_ENDPOINTS",
    "EVENT_ENDPOINTS",
    "basic_auth_key",
    "events_of",
    "receipt_of",
]

EVENT_ENDPOINTS: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")
"""Endpoints that take one event, whose type is the endpoint's name."""

BATCH_ENDPOINTS: tuple[str, ...] = ("batch", "import")
"""Endpoints that take ``{"batch": [...]}``; ``import`` is Segment's older name for batch."""


def basic_auth_key(header: str | None) -> str | None:
    """The write key of an ``Authorization: Basic`` header (its user name), else ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def _size(event: Mapping[str, Any] | list[dict[str, Any]]) -> int:
    # surrogatepass: the size of any decoded string, a lone surrogate included, never an error.
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _fits(value: dict[str, Any] | list[dict[str, Any]], limit: int) -> bool:
    """Whether ``value``, as :func:`_size` measures it, is at most ``limit`` bytes.

    orjson first, when installed: its text differs from ``json.dumps``'s only in a float's
    exponent (``1e-7`` against ``1e-07``, one character in at least three), so ``json``'s is
    at most four thirds as long, and a value orjson writes in three quarters of the limit
    fits. Otherwise (larger, or what orjson refuses: a lone surrogate, an integer past 64
    bits) ``json`` measures it.
    """
    return _surely_fits(value, limit) or _size(value) <= limit


def _surely_fits(value: dict[str, Any] | list[dict[str, Any]], limit: int) -> bool:
    """:func:`_fits`'s quick yes: orjson writes ``value`` in three quarters of ``limit``.
    False says nothing (too large for the quick yes, refused by orjson, or no orjson)."""
    if orjson is not None:
        try:
            return 4 * len(orjson.dumps(value)) <= 3 * limit
        except TypeError:
            pass
    return False


def _merged(item: dict[str, Any], shared: Mapping[str, Any], key: str) -> None:
    common = shared.get(key)
    # None first, and dict before the (much slower) Mapping check: parsed JSON holds dicts.
    if common is None or not isinstance(common, (dict, Mapping)):
        return
    own = item.get(key)
    if own is None:
        item[key] = dict(common)
    elif isinstance(own, (dict, Mapping)):
        item[key] = {**common, **own}


def _prefixed(problems: list[Problem], prefix: str) -> list[Problem]:
    return [Problem(prefix + p.pointer, p.message, p.code) for p in problems]


def _shared_problems(body: Mapping[str, Any]) -> tuple[Problem, ...]:
    """Problems of what a batch body shares with its events: context, integrations, sentAt."""
    problems = [
        Problem(f"/{key}", f"The batch's '{key}' must be an object.", "WRONG_TYPE")
        for key in ("context", "integrations")
        if body.get(key) is not None and not isinstance(body[key], Mapping)
    ]
    if body.get("sentAt") is not None and parse_time(body["sentAt"]) is None:
        problems.append(
            Problem(
                "/sentAt",
                "The batch's 'sentAt' must be an ISO-8601 date-time such as "
                '"2024-05-01T12:30:00Z".',
                "BAD_DATE_TIME",
            )
        )
    return tuple(problems)


def _items(endpoint: str, body: dict[str, Any], limits: Limits) -> list[Any] | Rejection:
    if endpoint in EVENT_ENDPOINTS:
        declared = body.get("type", endpoint)
        if declared != endpoint:
            return Rejection(
                400,
                "EVENT_INVALID",
                f"The event's 'type' disagrees with the endpoint /v1/{endpoint}.",
                (Problem("/type", f'The type must be "{endpoint}" here.', "WRONG_TYPE"),),
            )
        return [{**body, "type": endpoint}]
    items = body.get("batch")
    if not isinstance(items, list):
        return Rejection(
            400,
            "EVENT_INVALID",
            "A batch body needs a 'batch' array of events.",
            (Problem("/batch", "The 'batch' must be an array of events.", "WRONG_TYPE"),),
        )
    shared = _shared_problems(body)
    if shared:
        return Rejection(400, "EVENT_INVALID", "The batch body is refused; see 'errors'.", shared)
    if len(items) > limits.max_batch_events:
        return Rejection(
            400,
            "BATCH_TOO_LARGE",
            f"A batch holds at most {limits.max_batch_events} events, but this one has "
            f"{len(items)}; split it.",
        )
    return items


def receipt_of(endpoint: str, body: dict[str, Any], received: datetime) -> Receipt:
    """The receipt of a request's events: ``received`` (the server's clock when it came) and,
    for a batch, the body's ``sentAt``."""
    return Receipt(received, body.get("sentAt") if endpoint in BATCH_ENDPOINTS else None)


def events_of(
    endpoint: str,
    body: dict[str, Any],
    *,
    limits: Limits,
    checker: EventChecker,
) -> list[dict[str, Any]] | Rejection:
    """The events of a parsed request body, checked (their fields not filled yet: see
    :func:`receipt_of`), or why it is refused.

    ``endpoint`` is the path's last part (``track`` ... ``batch``, ``import``). Every problem
    of every event is reported, by JSON pointer into the body (``/batch/3/userId``); then
    nothing is accepted.
    """
    items = _items(endpoint, body, limits)
    if isinstance(items, Rejection):
        return items
    batch = endpoint in BATCH_ENDPOINTS
    # What a batch shares with its events, merged into each: nothing, most often.
    shared = batch and (body.get("context") is not None or body.get("integrations") is not None)
    candidates: list[dict[str, Any] | None] = []
    for item in items:
        if not isinstance(item, dict):
            candidates.append(None)
            continue
        event = dict(item)
        event.pop("writeKey", None)
        if shared:
            _merged(event, body, "context")
            _merged(event, body, "integrations")
        candidates.append(event)
    # One serialisation for the whole batch: when all of it fits, each event does (the list
    # holds each event's text and more), and none needs measuring on its own. Only orjson's
    # quick yes: a batch it cannot vouch for is measured event by event, not once more whole.
    limit = limits.max_event_bytes
    each_fits = _surely_fits([event for event in candidates if event is not None], limit)
    problems_of = checker.problems
    problems: list[Problem] = []
    events: list[dict[str, Any]] = []
    for index, candidate in enumerate(candidates):
        if candidate is None:
            problems.extend(_prefixed(checker.problems(items[index]), _at(batch, index)))
            continue
        event = candidate
        if not each_fits and not _fits(event, limit):
            problems.append(
                Problem(
                    _at(batch, index),
                    f"The event is larger than {limits.max_event_bytes} bytes as JSON, the "
                    "most an event may take.",
                    "EVENT_TOO_LARGE",
                )
            )
            continue
        found = problems_of(event)
        if found:
            problems.extend(_prefixed(found, _at(batch, index)))
            continue
        events.append(event)
    if problems:
        too_large = all(p.code == "EVENT_TOO_LARGE" for p in problems)
        count = len({p.pointer.split("/")[2] if batch else "" for p in problems})
        noun = "event is" if count == 1 else "events are"
        return Rejection(
            400,
            "EVENT_TOO_LARGE" if too_large else "EVENT_INVALID",
            f"{count} {noun} refused, so nothing was accepted; see 'errors'."
            if batch
            else "The event is refused; see 'errors'.",
            tuple(problems),
        )
    return events


def _at(batch: bool, index: int) -> str:
    """The JSON pointer of the body's event ``index``: ``/batch/3``, or the body itself."""
    return f"/batch/{index}" if batch else ""
