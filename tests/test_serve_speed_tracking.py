"""The accept path's shortcuts decide exactly as the event-by-event rules do.

``events_of`` measures a whole batch with one serialisation, and ``fill_events`` reads one
urandom for all of a batch's messageIds; these tests hold them to the rules stated one event
at a time.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from framework.definitions.events import EventChecker
from framework.event_fill import Receipt, fill_events
from framework.server.body import Rejection
from framework.server.config import Limits
from framework.server.tracking import events_of, receipt_of

RECEIVED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LIMIT = 300


def run(body: dict[str, Any], limit: int = LIMIT) -> list[dict[str, Any]] | Rejection:
    return events_of(
        "batch",
        body,
        limits=Limits(max_event_bytes=limit),
        checker=EventChecker(),
    )


def size(event: dict[str, Any]) -> int:
    """An event's size as the rule states it: its compact JSON text in UTF-8."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def track(n: int, blob: str = "") -> dict[str, Any]:
    return {"type": "track", "userId": f"u{n}", "event": f"e{n}", "properties": {"b": blob}}


def test_a_batch_larger_than_an_event_may_be_is_accepted_when_each_event_fits() -> None:
    events = [track(n, "x" * 200) for n in range(10)]
    assert size({"batch": events}) > LIMIT
    assert all(size(event) <= LIMIT for event in events)
    accepted = run({"batch": events})
    assert isinstance(accepted, list)
    assert [event["event"] for event in accepted] == [f"e{n}" for n in range(10)]


def test_an_event_at_the_limit_fits_and_one_byte_more_does_not() -> None:
    base = track(1)
    exact = track(1, "x" * (LIMIT - size(base)))
    assert size(exact) == LIMIT
    over = track(2, "x" * (LIMIT - size(base) + 1))
    assert isinstance(run({"batch": [exact]}), list)
    refused = run({"batch": [exact, over, exact]})
    assert isinstance(refused, Rejection)
    assert refused.code == "EVENT_TOO_LARGE"
    assert [problem.pointer for problem in refused.errors] == ["/batch/1"]


def test_floats_written_shorter_by_orjson_are_measured_as_json_writes_them() -> None:
    # json writes 1e-07 where orjson writes 1e-7: the verdict is json's, to the byte.
    base = track(1)
    base["properties"]["n"] = [1e-07] * 40
    limit = size(base)
    assert isinstance(run({"batch": [base]}, limit), list)
    refused = run({"batch": [base]}, limit - 1)
    assert isinstance(refused, Rejection)
    assert refused.code == "EVENT_TOO_LARGE"


def test_problems_stay_in_the_order_of_the_batch() -> None:
    body = {"batch": [track(0), 7, track(2, "x" * LIMIT), {"type": "track"}]}
    refused = run(body)
    assert isinstance(refused, Rejection)
    pointers = [problem.pointer for problem in refused.errors]
    assert pointers == sorted(pointers, key=lambda p: int(p.split("/")[2]))
    assert {p.split("/")[2] for p in pointers} == {"1", "2", "3"}
    assert "/batch/2" in pointers


def test_the_shared_context_counts_in_each_events_size() -> None:
    event = track(1)
    room = LIMIT - size(event)
    body = {"batch": [event], "context": {"c": "x" * room}}
    refused = run(body)
    assert isinstance(refused, Rejection)
    assert refused.code == "EVENT_TOO_LARGE"


def test_missing_message_ids_are_distinct_random_uuid4s_and_given_ones_are_kept() -> None:
    events = [track(n) for n in range(60)]
    events[5]["messageId"] = "given-5"
    accepted = run({"batch": events}, limit=32 * 1024)
    assert isinstance(accepted, list)
    fill_events(accepted, Receipt(RECEIVED))
    ids = [event["messageId"] for event in accepted]
    assert ids[5] == "given-5"
    fresh = [uuid.UUID(value) for n, value in enumerate(ids) if n != 5]
    assert all(value.version == 4 for value in fresh)
    assert all(value.variant == uuid.RFC_4122 for value in fresh)
    assert all(str(value) == ids[n + (n >= 5)] for n, value in enumerate(fresh))
    assert len(set(ids)) == 60


blobs = st.text(alphabet=st.sampled_from('xé€😀\ud800"\\\n'), max_size=120)
numbers = st.lists(
    st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70), max_size=30
)


@given(
    st.lists(st.tuples(blobs, numbers), min_size=1, max_size=8),
    st.one_of(st.none(), blobs),
    st.sampled_from([40, 120, 200, 400, 1000, 3000]),
)
def test_the_verdict_on_sizes_is_the_event_by_event_one(
    properties: list[tuple[str, list[float | int]]], shared: str | None, limit: int
) -> None:
    events = [track(n, blob) for n, (blob, _) in enumerate(properties)]
    for event, (_, values) in zip(events, properties, strict=True):
        event["properties"]["n"] = values
    body: dict[str, Any] = {"batch": events}
    if shared is not None:
        body["context"] = {"shared": shared}
    too_large = []
    for n, event in enumerate(events):
        measured = dict(event)
        if shared is not None:
            measured["context"] = {"shared": shared}
        if size(measured) > limit:
            too_large.append(f"/batch/{n}")
    answer = run(body, limit)
    if too_large:
        assert isinstance(answer, Rejection)
        assert [p.pointer for p in answer.errors if p.code == "EVENT_TOO_LARGE"] == too_large
    else:
        assert isinstance(answer, list)
        assert len(answer) == len(events)


def test_each_events_clock_skew_is_corrected_with_the_batchs_sent_at_read_once() -> None:
    stamps = ["2026-12-04T11:59:50.000Z", "2026-12-04T11:59:40.000Z"] * 3 + [
        "0000-01-01T00:00:00Z",
        None,
    ]
    events = [track(n) for n in range(len(stamps))]
    for event, stamp in zip(events, stamps, strict=True):
        if stamp is not None:
            event["timestamp"] = stamp
    events[2]["sentAt"] = "2026-12-04T11:59:45.000Z"  # its own sentAt wins over the batch's
    body = {"batch": events, "sentAt": "2026-12-04T12:00:00.000Z"}
    accepted = run(body, limit=32 * 1024)
    assert isinstance(accepted, list)
    fill_events(accepted, receipt_of("batch", body, RECEIVED))
    # received 12:00:00.000; corrected = received - (sentAt - timestamp)
    assert [event["timestamp"] for event in accepted] == [
        "2026-12-04T11:59:50.000Z",
        "2026-12-04T11:59:40.000Z",
        "2026-12-04T12:00:05.000Z",  # 11:59:50 sent at 11:59:45: 5 s ahead
        "2026-12-04T11:59:40.000Z",
        "2026-12-04T11:59:50.000Z",
        "2026-12-04T11:59:40.000Z",
        "0000-01-01T00:00:00Z",  # a date Python cannot read: kept as sent
        "2026-12-04T12:00:00.000Z",  # none: receivedAt
    ]
    assert [event.get("originalTimestamp") for event in accepted] == [*stamps[:7], None]
