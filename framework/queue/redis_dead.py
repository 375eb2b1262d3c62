"""The dead entries of a Redis queue: the stream ``{stream}:dead``, as ``actionkit dlq`` lists it.

Each dead entry keeps the entry's stored item, its queue ID (``entry_id``), ``tries``,
``code``, ``error`` and ``failed_at``. Entries buried by older versions, without a code, are
given one from their error; fields edited by hand are read as 0, never as a failure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from framework.queue.base import (
    DEAD_NEVER_ACKNOWLEDGED,
    DEAD_NOT_QUEUED_EVENT,
    DEAD_TRIES_EXHAUSTED,
    QueuedEvent,
)
from framework.queue.codec import decode_item

__all__ = ["DEAD_PAGE", "UNREADABLE", "after", "dead_entry", "decode_fields", "safe_url"]

UNREADABLE = "The entry is not a queued event."
"""The error of a dead entry that is not a queued event."""

DEAD_PAGE = 1000
"""Dead-letter stream entries read per XRANGE: the stream is read whole, a page at a time."""


def decode_fields(fields: dict[str, str] | None) -> QueuedEvent | None:
    """The queued event of an entry's fields; None when they are not one of ours."""
    return decode_item((fields or {}).get("item"))


def _legacy_code(error: str) -> str:
    """The code of a dead entry buried before dead entries had one."""
    if error == UNREADABLE:
        return DEAD_NOT_QUEUED_EVENT
    if "never acknowledged" in error:
        return DEAD_NEVER_ACKNOWLEDGED
    return DEAD_TRIES_EXHAUSTED


def after(stream_id: str) -> str:
    """The smallest stream ID after ``stream_id`` (``ms-seq``): where the next page starts."""
    millis, _, seq = stream_id.partition("-")
    return f"{millis}-{int(seq) + 1}"


def _number(text: str | None) -> float:
    """A dead entry's number field; 0 when it is missing or not a number (edited by hand)."""
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def dead_entry(dead_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A dead-letter stream entry as ``RedisStreamQueue.dead_entries`` lists it."""
    item = decode_fields(fields)
    return {
        "id": dead_id,
        "entry_id": fields.get("entry_id"),
        "code": fields.get("code") or _legacy_code(fields.get("error", "")),
        "event": item.event if item else None,
        "instances": list(item.instances) if item else [],
        "tries": int(_number(fields.get("tries"))),
        "error": fields.get("error", ""),
        "failed_at": _number(fields.get("failed_at")),
    }


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
