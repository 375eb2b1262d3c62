"""Events stored with their request's receipt are filled once, when the queue makes them
entries (framework/event_fill.py, framework/queue/codec.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.event_fill import Receipt, fill_events, iso_ms
from framework.queue.codec import decode_batch, encode_batch_bytes
from framework.queue.sqlite import SqliteQueue

RECEIVED = datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC)


def track(n: int, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": f"u{n}", "event": f"E{n}", **fields}


def without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in event.items() if k != "messageId"} for event in events]


@pytest.mark.parametrize(
    "events",
    [
        [track(0), track(1, timestamp="2026-12-05T11:59:50.000Z"), track(2, messageId="m2")],
        # null in an event: the batch is written event by event, the receipt after them
        [track(0, properties={"gone": None}), track(1, sentAt="2026-12-05T11:59:58.000Z")],
    ],
)
@pytest.mark.parametrize("sent_at", [None, "2026-12-05T12:00:01.000Z"])
def test_a_batch_with_a_receipt_is_read_filled_as_fill_events_fills(
    events: list[dict[str, Any]], sent_at: str | None
) -> None:
    receipt = Receipt(RECEIVED, sent_at)
    text = encode_batch_bytes(events, ("a",), receipt).decode("utf-8")
    assert "messageId" not in text.replace('"messageId":"m2"', "")  # stored as they came
    items = decode_batch(text)
    assert items is not None
    expected = [dict(event) for event in events]
    fill_events(expected, receipt)
    taken = [item.event for item in items]
    assert without_ids(taken) == without_ids(expected)
    assert all(event["receivedAt"] == "2026-12-05T12:00:00.123Z" for event in taken)
    for given_event, event in zip(events, taken, strict=True):
        if "messageId" in given_event:
            assert event["messageId"] == given_event["messageId"]
        else:
            assert uuid.UUID(event["messageId"]).version == 4


def test_a_batch_without_a_receipt_is_read_as_it_was_stored() -> None:
    # A row an earlier version wrote, its events filled at accept time.
    events = [track(0, messageId="m0", receivedAt="2026-12-01T00:00:00.000Z")]
    items = decode_batch(encode_batch_bytes(events, ("a",)).decode("utf-8"))
    assert items is not None
    assert [item.event for item in items] == events


@pytest.mark.parametrize(
    "received",
    [None, 7, "", "yesterday", "2026-12-05T12:00:00", "9999-12-31T23:59:59-14:00"],
)
def test_a_batch_whose_receipt_is_not_a_time_is_not_a_batch(received: object) -> None:
    text = '{"events": [{"type": "track", "userId": "u", "event": "E"}], "instances": []'
    text += ', "received": ' + ("null" if received is None else repr(received).replace("'", '"'))
    assert decode_batch(text + "}") is None


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    )
)
def test_a_receipt_stores_its_moment_to_the_microsecond(moment: datetime) -> None:
    stored = Receipt(moment, "2026-12-05T12:00:00Z").stored()
    again = Receipt.from_stored(stored["received"], stored.get("sentAt"))
    assert again == Receipt(moment, "2026-12-05T12:00:00Z")
    assert iso_ms(again.received) == iso_ms(moment)


def test_an_event_is_filled_once_its_messageid_kept_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"

    async def first() -> list[dict[str, Any]]:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(0), track(1)], ("a",), Receipt(RECEIVED))
            entries = await queue.take(10, block=0.1)  # taken, never acked
            return [entry.item.event for entry in entries]

    async def second() -> list[dict[str, Any]]:
        async with SqliteQueue(path) as queue:
            entries = await queue.take(10, block=0.1)
            return [entry.item.event for entry in entries]

    taken = asyncio.run(first())
    again = asyncio.run(second())
    assert [event["event"] for event in taken] == ["E0", "E1"]
    assert again == taken
    assert all(event["receivedAt"] == "2026-12-05T12:00:00.123Z" for event in again)
    with sqlite3.connect(path) as db:
        (inbox,) = db.execute("SELECT COUNT(*) FROM inbox").fetchone()
    assert inbox == 0
