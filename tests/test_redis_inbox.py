"""The Redis queue's inbox on a real redis-server: batches put whole, moved into the
partitions in order, once, within the bound (framework/queue/redis_inbox.py)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from redis_queue_helpers import run, take_until
from redis_server import RedisServer

from framework.errors import QueueError, QueueFullError
from framework.event_fill import Receipt
from framework.queue import Entry, QueuedEvent, redis_stream
from framework.queue.base import DEAD_NOT_QUEUED_EVENT
from framework.queue.codec import decode_batch, encode_batch_bytes
from framework.queue.redis_inbox import MOVE_EVENTS
from framework.queue.redis_stream import RedisStreamQueue


def track(n: int, user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": f"E{n}"}


def inbox_of(stream: str) -> str:
    return f"{{{stream}}}:inbox"


def in_partitions(admin: redis.Redis, stream: str) -> int:
    """Entries of the partition streams (markers included)."""
    return sum(int(admin.xlen(f"{{{stream}}}:p{index}")) for index in range(16))


def test_a_batch_is_one_inbox_entry_counted_by_depth_until_a_worker_moves_it(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[int, int, int, list[Entry], int]:
        async with RedisStreamQueue(server.url, stream=stream) as producer:
            await producer.put_events([track(i) for i in range(3)], ("a", "b"))
            depth = await producer.depth()
            inbox, partitions = int(admin.xlen(inbox_of(stream))), in_partitions(admin, stream)
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as worker:
            entries = await take_until(worker, 3)
            await worker.ack([entry.id for entry in entries])
            return depth, inbox, partitions, entries, await worker.depth()

    depth, inbox, partitions, entries, after = run(scenario())
    assert (depth, inbox, partitions) == (3, 1, 0)
    assert [entry.item.event["event"] for entry in entries] == ["E0", "E1", "E2"]
    assert {entry.item.instances for entry in entries} == {("a", "b")}
    assert {entry.tries for entry in entries} == {1}
    assert after == 0
    assert admin.xlen(inbox_of(stream)) == 0
    assert admin.get(f"{inbox_of(stream)}:events") is None


def test_a_batch_put_with_its_receipt_is_taken_filled(server: RedisServer, stream: str) -> None:
    received = datetime(2026, 12, 5, 12, 0, 0, 250000, tzinfo=UTC)

    async def scenario() -> list[Entry]:
        async with RedisStreamQueue(server.url, stream=stream) as producer:
            receipt = Receipt(received, "2026-12-05T12:00:01.000Z")
            await producer.put_events([track(0), track(1)], ("a",), receipt)
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as worker:
            return await take_until(worker, 2)

    events = [entry.item.event for entry in run(scenario())]
    assert [event["event"] for event in events] == ["E0", "E1"]
    assert {event["receivedAt"] for event in events} == {"2026-12-05T12:00:00.250Z"}
    assert {event["sentAt"] for event in events} == {"2026-12-05T12:00:01.000Z"}
    assert len({event["messageId"] for event in events}) == 2


def test_the_idle_owner_of_partition_0_moves_a_batch_as_soon_as_it_comes(
    server: RedisServer, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the owner polling an empty inbox, the second batch would wait half a minute.
    monkeypatch.setattr(redis_stream, "_INBOX_POLL", 30.0)

    async def scenario() -> list[str]:
        async with (
            RedisStreamQueue(server.url, stream=stream, consumer="w") as worker,
            RedisStreamQueue(server.url, stream=stream) as producer,
        ):
            await producer.put_events([track(0)], ())
            first = await take_until(worker, 1)
            await worker.ack([entry.id for entry in first])
            await asyncio.sleep(0.2)  # the owner has found the inbox empty, and waits on it
            await producer.put_events([track(1)], ())
            second = await take_until(worker, 1, timeout=10)
            return [entry.item.event["event"] for entry in first + second]

    assert run(scenario()) == ["E0", "E1"]


def test_each_users_events_keep_the_order_their_batches_were_accepted_in(
    server: RedisServer, stream: str
) -> None:
    users = [f"user-{n}" for n in range(7)]
    batches = [[track(b * 10 + i, users[(b + i) % 7]) for i in range(10)] for b in range(30)]

    async def scenario() -> list[Entry]:
        async with RedisStreamQueue(server.url, stream=stream) as producer:
            await asyncio.gather(*(producer.put_events(batch, ()) for batch in batches))
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as worker:
            taken: list[Entry] = []
            while len(taken) < 300:
                entries = await take_until(worker, 1)
                taken += entries
                await worker.ack([entry.id for entry in entries])
            return taken

    taken = run(scenario())
    assert sorted(entry.item.event["event"] for entry in taken) == sorted(
        event["event"] for batch in batches for event in batch
    )
    for user in users:
        numbers = [int(e.item.event["event"][1:]) for e in taken if e.item.event["userId"] == user]
        assert numbers == sorted(numbers), user


def test_the_bound_counts_the_inbox_and_the_partitions_together(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[str], int]:
        outcomes: list[str] = []
        async with RedisStreamQueue(server.url, stream=stream, max_length=60) as queue:
            await queue.put_events([track(i) for i in range(25)], ())
            await queue.put([])  # nothing: no change
            for attempt in (
                queue.put_events([track(i) for i in range(25)], ()),
                queue.put_events([track(i) for i in range(25)], ()),
            ):
                try:
                    await attempt
                    outcomes.append("stored")
                except QueueFullError as exc:
                    outcomes.append(f"full, retry after {exc.retry_after:g}")
            try:
                await queue.put([QueuedEvent(track(99))] * 11)
                outcomes.append("stored")
            except QueueFullError:
                outcomes.append("full")
            await queue.put([QueuedEvent(track(99))] * 10)
            return outcomes, await queue.depth()

    outcomes, depth = run(scenario())
    assert outcomes == ["stored", "full, retry after 1", "full"]
    assert depth == 60
    assert int(admin.get(f"{inbox_of(stream)}:events") or 0) == 50


def test_an_alias_moved_from_the_inbox_gets_its_marker_and_waits_for_both_users(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    # Users whose partitions differ (crc32 % 16: 10 and 14), so that the alias needs a marker.
    source, target = "anon-1", "user-2"
    events = [
        track(0, source),
        {"type": "alias", "userId": target, "previousId": source},
        track(1, target),
        track(2, source),
    ]

    async def scenario() -> tuple[list[str], int, int]:
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as queue:
            await queue.put_events(events, ())
            order: list[str] = []
            for _ in range(4):
                entries = await take_until(queue, 1)
                order += [str(entry.item.event.get("event", "alias")) for entry in entries]
                markers = sum(
                    int(admin.hlen(f"{{{stream}}}:p{index}:markers")) for index in range(16)
                )
                depth = await queue.depth()
                await queue.ack([entry.id for entry in entries])
                if entries[0].item.event["type"] == "alias":
                    return order, markers, depth
            raise AssertionError(f"no alias in {order}")

    order, markers, depth = run(scenario())
    assert order == ["E0", "alias"]  # the source's earlier event first
    assert markers == 1
    assert depth == 3  # the marker is not an entry


def test_an_unreadable_inbox_entry_is_dead_lettered_and_the_next_batch_still_moves(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[Entry], list[dict[str, Any]], int]:
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as queue:
            await queue.put_events([track(0)], ())
            admin.xadd(inbox_of(stream), {"batch": "not json", "events": "2"})
            admin.incrby(f"{inbox_of(stream)}:events", 2)
            await queue.put_events([track(1)], ())
            entries = await take_until(queue, 2)
            await queue.ack([entry.id for entry in entries])
            return entries, await queue.dead_entries(), await queue.depth()

    entries, dead, depth = run(scenario())
    assert [entry.item.event["event"] for entry in entries] == ["E0", "E1"]
    assert len(dead) == 1
    assert dead[0]["code"] == DEAD_NOT_QUEUED_EVENT
    assert dead[0]["entry_id"].startswith("inbox/")
    assert dead[0]["event"] is None
    assert depth == 0
    assert admin.xlen(inbox_of(stream)) == 0


def test_a_move_of_batches_another_worker_moved_first_changes_nothing(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[bool, bool, int]:
        async with (
            RedisStreamQueue(server.url, stream=stream) as one,
            RedisStreamQueue(server.url, stream=stream) as other,
        ):
            await one.put_events([track(i) for i in range(4)], ())
            await one.put_events([track(i) for i in range(4, 6)], ())
            seen_by_one, seen_by_other = await one._inbox.oldest(), await other._inbox.oldest()
            assert [entry_id for entry_id, _ in seen_by_one] == [i for i, _ in seen_by_other]
            ids = [entry_id for entry_id, _ in seen_by_one]
            items = [
                item for _, fields in seen_by_one for item in decode_batch(fields["batch"]) or []
            ]
            first = await one._inbox.move(ids, items)
            second = await other._inbox.move(ids, items)
            return first, second, await one.depth()

    first, second, depth = run(scenario())
    assert (first, second) == (True, False)
    assert depth == 6
    assert in_partitions(admin, stream) == 6  # stored once
    assert admin.xlen(inbox_of(stream)) == 0


def test_a_move_carries_at_most_its_share_of_events_and_the_rest_follows(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    big = [track(i, f"u{i % 50}") for i in range(MOVE_EVENTS - 10)]

    async def scenario() -> tuple[list[int], int]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put_events(big, ())
            await queue.put_events([track(i) for i in range(20)], ())
            page = await queue._inbox.oldest()
            counts = [len(decode_batch(fields["batch"]) or []) for _, fields in page]
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as worker:
            entries = await take_until(worker, MOVE_EVENTS + 10, timeout=30)
            await worker.ack([entry.id for entry in entries])
            return counts, await worker.depth()

    counts, depth = run(scenario())
    assert counts == [MOVE_EVENTS - 10]  # the second batch would pass MOVE_EVENTS
    assert depth == 0


def test_put_events_refuses_what_a_batch_cannot_carry_and_stores_nothing(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> list[str]:
        errors: list[str] = []
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put_events([], ("a",))
            for value in ("\ud800", float("nan"), float("inf")):
                try:
                    await queue.put_events([track(0), {**track(1), "value": value}], ())
                except QueueError as exc:
                    errors.append(str(exc))
        return errors

    errors = run(scenario())
    assert len(errors) == 3
    assert "lone surrogate" in errors[0]
    assert all("NaN or Infinity" in error for error in errors[1:])
    assert admin.xlen(inbox_of(stream)) == 0
    assert admin.get(f"{inbox_of(stream)}:events") is None


def test_a_failed_move_is_logged_and_tried_again(
    server: RedisServer, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[Entry]:
        async with RedisStreamQueue(server.url, stream=stream, consumer="w") as queue:
            await queue.put_events([track(0)], ())
            real = queue._inbox.oldest
            calls = itertools.count()

            async def flaky() -> list[tuple[str, dict[str, Any]]]:
                if next(calls) == 0:
                    raise redis.exceptions.ConnectionError("Redis went away")
                return await real()

            queue._inbox.oldest = flaky  # type: ignore[method-assign]
            return await take_until(queue, 1, timeout=10)

    with caplog.at_level(logging.WARNING, logger="actionkit.queue"):
        entries = run(scenario())
    assert [entry.item.event["event"] for entry in entries] == ["E0"]
    assert any("cannot move the queue's inbox" in r.getMessage() for r in caplog.records)
    assert any("Redis went away" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "events",
    [
        [track(0), {"type": "track", "value": None, "big": 2**70, "small": -(2**64)}],
        [{"type": "identify", "traits": {"é€😀": [1.5, 1e-7, None, "null"]}}],
        [track(n, f"u{n}") for n in range(5)],
    ],
)
def test_a_batch_round_trips_whichever_writer_writes_its_events(
    events: list[dict[str, Any]],
) -> None:
    text = encode_batch_bytes(events, ("x", "y"))
    items = decode_batch(text.decode("utf-8"))
    assert items is not None
    assert [item.event for item in items] == events
    assert {item.instances for item in items} == {("x", "y")}


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "[]",
        '{"events": [1], "instances": []}',
        '{"events": [], "instances": [1]}',
        '{"events": {}, "instances": []}',
        '{"instances": []}',
        '{"events": [{"type": "track", "n": NaN}], "instances": []}',
    ],
)
def test_what_is_not_a_batch_decodes_to_none(text: str | None) -> None:
    assert decode_batch(text) is None
