"""The SQLite queue's inbox: batches stored whole by one durable commit, made entries by the
take in the order they were accepted (framework/queue/sqlite_inbox.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from framework.errors import QueueError, QueueFullError
from framework.queue import Entry, QueuedEvent
from framework.queue.base import DEAD_NOT_QUEUED_EVENT
from framework.queue.sqlite import SqliteQueue
from framework.queue.sqlite_inbox import MOVE_EVENTS


def track(n: int, user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": f"E{n}"}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def inbox_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM inbox").fetchone()
    return int(count)


async def take_all(queue: SqliteQueue, count: int) -> list[Entry]:
    """Take and ack until ``count`` entries came (a take hands out one run a user at a time)."""
    taken: list[Entry] = []
    for _ in range(10 * count):
        entries = await queue.take(count, block=0.2)
        taken += entries
        await queue.ack([entry.id for entry in entries])
        if len(taken) >= count:
            return taken
    raise AssertionError(f"took {len(taken)} entries of {count}")


def test_a_batch_is_one_inbox_row_counted_by_depth_until_a_take_makes_it_entries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> tuple[int, int, list[Entry], int]:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(i) for i in range(3)], ("a", "b"))
            depth, rows = await queue.depth(), inbox_rows(path)
            entries = await queue.take(10, block=0.1)
            await queue.ack([entry.id for entry in entries])
            return depth, rows, entries, await queue.depth()

    depth, rows, entries, after = run(scenario())
    assert (depth, rows) == (3, 1)
    assert [entry.item.event["event"] for entry in entries] == ["E0", "E1", "E2"]
    assert {entry.item.instances for entry in entries} == {("a", "b")}
    assert {entry.tries for entry in entries} == {1}
    assert after == 0
    assert inbox_rows(path) == 0


def test_a_batch_answered_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    script = (
        "import asyncio, os\n"
        "from framework.queue.sqlite import SqliteQueue\n"
        "async def main():\n"
        f"    q = SqliteQueue({str(path)!r})\n"
        "    await q.put_events([{'type': 'track', 'userId': 'u', 'event': 'E'}], ('a',))\n"
        "    print('stored', flush=True)\n"
        "    os._exit(9)  # no close, no cleanup\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "stored", result.stderr

    async def reopen() -> tuple[int, list[Entry]]:
        async with SqliteQueue(path) as queue:
            return await queue.depth(), await queue.take(5, block=0)

    depth, [entry] = run(reopen())
    assert depth == 1
    assert (entry.item.event["event"], entry.item.instances) == ("E", ("a",))


def test_the_bound_counts_the_inbox_and_the_entries_together(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], int]:
        outcomes: list[str] = []
        async with SqliteQueue(tmp_path / "q.sqlite", max_length=60) as queue:
            await queue.put_events([track(i) for i in range(25)], ())
            for attempt in (
                queue.put_events([track(i) for i in range(25)], ()),
                queue.put_events([track(i) for i in range(25)], ()),
                queue.put([QueuedEvent(track(99))] * 11),
            ):
                try:
                    await attempt
                    outcomes.append("stored")
                except QueueFullError:
                    outcomes.append("full")
            await queue.put([QueuedEvent(track(99))] * 10)
            return outcomes, await queue.depth()

    outcomes, depth = run(scenario())
    assert outcomes == ["stored", "full", "full"]
    assert depth == 60


def test_each_users_events_keep_the_order_their_batches_were_accepted_in(tmp_path: Path) -> None:
    users = [f"user-{n}" for n in range(7)]
    batches = [[track(b * 10 + i, users[(b + i) % 7]) for i in range(10)] for b in range(30)]

    async def scenario() -> list[Entry]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await asyncio.gather(*(queue.put_events(batch, ()) for batch in batches))
            return await take_all(queue, 300)

    taken = run(scenario())
    assert len({entry.id for entry in taken}) == 300
    for user in users:
        numbers = [int(e.item.event["event"][1:]) for e in taken if e.item.event["userId"] == user]
        assert len(numbers) == sum(1 for b in batches for e in b if e["userId"] == user)
        assert numbers == sorted(numbers), user


def test_a_moved_event_waits_behind_its_users_deferred_entry(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put_events([track(0, "u1")], ())
            [first] = await queue.take(5, block=0.1)
            await queue.defer(first, first.item, at=time.time() + 60)
            await queue.put_events([track(1, "u1"), track(2, "u2")], ())
            taken = await queue.take(5, block=0.1)
            await queue.ack([entry.id for entry in taken])
            await queue.retry_now()
            rest = await queue.take(5, block=0.1)
            return (
                [entry.item.event["event"] for entry in taken],
                [entry.item.event["event"] for entry in rest],
            )

    taken, rest = run(scenario())
    assert taken == ["E2"]  # E1 waits behind its user's deferred E0
    assert rest == ["E0", "E1"]


def test_a_row_that_is_not_a_batch_is_set_aside_and_the_others_are_delivered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite"

    async def first() -> None:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(0)], ())

    run(first())
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO inbox (batch, events) VALUES ('not json', 2)")

    async def second() -> tuple[int, list[Entry], list[dict[str, Any]], int]:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(1)], ())
            depth = await queue.depth()
            entries = await take_all(queue, 2)
            return depth, entries, await queue.dead_entries(), await queue.depth()

    depth, entries, dead, after = run(second())
    assert depth == 4  # as the rows declare: 1 + 2 + 1
    assert [entry.item.event["event"] for entry in entries] == ["E0", "E1"]
    assert [(row["code"], row["event"]) for row in dead] == [(DEAD_NOT_QUEUED_EVENT, None)]
    assert after == 0
    assert inbox_rows(path) == 0


def test_a_take_moves_at_most_its_share_of_events_and_the_rest_follows(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    big = [track(i, f"u{i % 50}") for i in range(MOVE_EVENTS - 10)]

    async def scenario() -> tuple[int, int]:
        async with SqliteQueue(path) as queue:
            await queue.put_events(big, ())
            await queue.put_events([track(i, "last") for i in range(20)], ())
            first = await queue.take(1, block=0)
            left = inbox_rows(path)
            await queue.ack([entry.id for entry in first])
            await take_all(queue, MOVE_EVENTS + 9)
            return left, await queue.depth()

    left, depth = run(scenario())
    assert left == 1  # the second batch would have passed MOVE_EVENTS
    assert depth == 0


@pytest.mark.parametrize("value", ["\ud800", float("nan"), float("-inf")])
def test_put_events_refuses_what_a_batch_cannot_carry_and_stores_nothing(
    tmp_path: Path, value: object
) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> tuple[str, int]:
        async with SqliteQueue(path) as queue:
            await queue.put_events([], ())
            with pytest.raises(QueueError) as caught:
                await queue.put_events([track(0), {**track(1), "value": value}], ())
            return str(caught.value), await queue.depth()

    message, depth = run(scenario())
    assert "nothing was queued" in message
    assert depth == 0
    assert inbox_rows(path) == 0
