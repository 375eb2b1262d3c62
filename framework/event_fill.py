"""The fields Segment's Tracking API fills in an accepted event, from the request's receipt.

An accepted event gets a ``messageId`` when it has none (a UUID4), ``receivedAt`` (the server's
clock when the request came: ISO 8601, milliseconds, ``Z``), the batch's ``sentAt`` when it
has none of its own, and a skew-corrected ``timestamp``: the client's ``timestamp`` becomes
``originalTimestamp``, and ``timestamp`` is ``receivedAt - (sentAt - originalTimestamp)``
when ``sentAt`` says when the client sent it. Without ``sentAt`` the client's ``timestamp``
is kept, and an event with none gets ``receivedAt``. The arithmetic is total: when the
correction cannot be made (a date Python cannot read, such as year 0000, or a corrected time
outside the years 1 to 9999, as ``sentAt`` in 9999 against a ``timestamp`` in year 1 gives),
the client's ``timestamp`` is kept uncorrected, as without ``sentAt``; ``originalTimestamp``
still records it. Segment documents no rule for that case; an event is never refused for its
clock.

The server stores a request's events with its :class:`Receipt` and answers; the queue fills
them (:func:`fill_events`) when it makes them entries (``framework.queue.codec.decode_batch``),
once, so the accept path does not pay for it (docs/benchmarks.md, "2026-12-05, night:
commits on the event loop"). What a consumer takes is the same either way.

Pure functions of the events, the receipt and ``os.urandom``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Receipt", "fill_events", "iso_ms", "parse_time"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """How a request's events arrived: the server's clock when the request came
    (``received``, aware), and the batch's ``sentAt`` (None for a single event, whose own
    ``sentAt`` is in it, or a batch without one)."""

    received: datetime
    sent_at: object = None

    def stored(self) -> dict[str, Any]:
        """The receipt as JSON fields: ``received`` to the microsecond, ``sentAt`` if any."""
        fields: dict[str, Any] = {"received": self.received.isoformat()}
        if self.sent_at is not None:
            fields["sentAt"] = self.sent_at
        return fields

    @classmethod
    def from_stored(cls, received: object, sent_at: object) -> Receipt | None:
        """The receipt :meth:`stored` wrote; None when ``received`` is not an aware time
        whose UTC reading falls within the years 1 to 9999 (a row edited by hand)."""
        if not isinstance(received, str):
            return None
        try:
            moment = datetime.fromisoformat(received)
            if moment.tzinfo is None:
                return None
            iso_ms(moment)
        except (ValueError, OverflowError):
            return None
        return cls(moment, sent_at)


def iso_ms(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with milliseconds and ``Z``: ``2024-05-01T12:30:00.123Z``.

    The year has four digits (``0001``), as ``datetime.isoformat`` writes it. Raises
    OverflowError when ``moment`` in UTC would fall outside the years 1 to 9999.
    """
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # A time in UTC writes its offset as +00:00; milliseconds are truncated, not rounded.
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"


def fill_events(events: list[dict[str, Any]], receipt: Receipt) -> None:
    """Fill each event's messageId, receivedAt, sentAt and timestamps in place, as the
    module docstring states."""
    received = receipt.received
    received_at = iso_ms(received)
    # Random bytes for every event, though those with a messageId use none: one read either way.
    message_ids = _message_ids(len(events))
    times: dict[str, datetime | None] = {}
    for event in events:
        _fill(event, received, received_at, receipt.sent_at, message_ids, times)


def parse_time(value: object) -> datetime | None:
    """``value`` read as an ISO-8601 date-time (UTC when it names no offset); None when it
    is not a string Python's ``datetime.fromisoformat`` reads."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read_time(value: object, times: dict[str, datetime | None]) -> datetime | None:
    """:func:`parse_time` of ``value``, each text read once per ``times``."""
    if not isinstance(value, str):
        return None
    if value not in times:
        times[value] = parse_time(value)
    return times[value]


def _corrected(received: datetime, sent: datetime, original: datetime) -> str | None:
    """``received - (sent - original)`` as :func:`iso_ms`; None when outside years 1-9999."""
    # A difference of two datetimes always fits a timedelta (it spans ±999,999,999 days);
    # only the subtraction from ``received`` can leave datetime's range.
    try:
        return iso_ms(received - (sent - original))
    except OverflowError:
        return None


def _message_ids(count: int) -> Iterator[str]:
    """``count`` random UUID4 strings, as ``str(uuid.uuid4())`` gives, from one read of urandom.

    One ``os.urandom`` call for a whole batch rather than one per event (each is a system
    call): the same 122 random bits each, the version (4) and variant (RFC 4122) bits set.
    """
    hexed = os.urandom(16 * count).hex()
    variant = _VARIANT
    for start in range(0, 32 * count, 32):
        h = hexed[start : start + 32]
        yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""The first hex digit of a UUID's fourth group, its two top bits set to ``10``."""


def _fill(
    event: dict[str, Any],
    received: datetime,
    received_at: str,
    sent_at: object,
    message_ids: Iterator[str],
    times: dict[str, datetime | None],
) -> None:
    """Fill messageId, receivedAt and the skew-corrected timestamp, as Segment does.

    ``received_at`` is :func:`iso_ms` of ``received``; ``message_ids`` gives a fresh
    messageId when the event has none; ``times`` holds the dates already read in the request
    (its events share the batch's ``sentAt``, and often their timestamps).
    """
    if event.get("messageId") is None:
        event["messageId"] = next(message_ids)
    event["receivedAt"] = received_at
    if "sentAt" not in event and sent_at is not None:
        event["sentAt"] = sent_at
    original = event.get("originalTimestamp", event.get("timestamp"))
    sent = event.get("sentAt")
    corrected = None
    if original is not None and sent is not None:
        event["originalTimestamp"] = original
        original_time, sent_time = _read_time(original, times), _read_time(sent, times)
        if original_time is not None and sent_time is not None:
            corrected = _corrected(received, sent_time, original_time)
    if corrected is not None:
        event["timestamp"] = corrected
    elif event.get("timestamp") is None:
        event["timestamp"] = original if original is not None else received_at
