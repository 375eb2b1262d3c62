"""The SQLite queue's put stores a whole group of puts at once, exactly as entry by entry.

:meth:`SqliteQueue.put` looks up the stored keys of all its entries in one query and inserts
each entry with its counts; :func:`~framework.queue.sqlite_order.record_keys` states the rule
one entry at a time. Whatever the puts, with acks between them, the file holds the same.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.delivery.ordering import order_keys
from framework.queue.base import QueuedEvent
from framework.queue.codec import decode_item
from framework.queue.sqlite import SqliteQueue
from framework.queue.sqlite_order import forget, record_keys

USERS = ["u1", "u2", "u3", ""]


def event(kind: str, user: str, previous: str) -> dict[str, Any]:
    document: dict[str, Any] = {"type": kind, "event": "E"}
    if user:
        document["userId"] = user
    if kind == "alias" and previous:
        document["previousId"] = previous
    return document


events = st.builds(
    event,
    st.sampled_from(["track", "alias"]),
    st.sampled_from(USERS),
    st.sampled_from(USERS),
)
# A step: a round of concurrent puts (each a list of events), then how many of the oldest
# entries to ack.
steps = st.tuples(
    st.lists(st.lists(events, min_size=1, max_size=4), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=3),
)


def state(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        entries = db.execute("SELECT id, item, waits, nkeys FROM entries ORDER BY id").fetchall()
        keys = db.execute("SELECT key, entry_id FROM entry_keys ORDER BY key, entry_id").fetchall()
    finally:
        db.close()
    return entries, keys


def replay(path: Path, log: list[tuple[list[tuple[int, str]], list[int]]]) -> None:
    """The reference: each step's entries stored one by one with record_keys, then its acks."""
    reference = SqliteQueue(path)

    async def create() -> None:
        await reference.depth()  # creates the schema
        await reference.close()

    asyncio.run(create())
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for stored, acked in log:
            for entry_id, text in stored:
                db.execute("INSERT INTO entries (id, item) VALUES (?, ?)", (entry_id, text))
                item = decode_item(text)
                assert item is not None
                record_keys(db, entry_id, order_keys(item.event))
            if acked:
                forget(db, acked)
                db.executemany("DELETE FROM entries WHERE id = ?", [(key,) for key in acked])
    finally:
        db.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(steps, min_size=1, max_size=5))
def test_puts_store_the_keys_and_counts_record_keys_gives_entry_by_entry(
    tmp_path_factory: Any, script: list[tuple[list[list[dict[str, Any]]], int]]
) -> None:
    folder = tmp_path_factory.mktemp("q")
    log: list[tuple[list[tuple[int, str]], list[int]]] = []

    async def run() -> None:
        queue = SqliteQueue(folder / "ours.sqlite")
        try:
            alive: list[int] = []
            for puts, acks in script:
                groups = [[QueuedEvent(e, ("i",)) for e in put] for put in puts]
                results = await asyncio.gather(*(queue.put(group) for group in groups))
                for ids in results:
                    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
                new = sorted(int(i) for ids in results for i in ids)
                db = sqlite3.connect(folder / "ours.sqlite")
                stored = [
                    db.execute("SELECT id, item FROM entries WHERE id = ?", (i,)).fetchone()
                    for i in new
                ]
                db.close()
                alive += new
                acked, alive = alive[:acks], alive[acks:]
                if acked:
                    await queue.ack([str(i) for i in acked])
                log.append((stored, acked))
        finally:
            await queue.close()

    asyncio.run(run())
    replay(folder / "reference.sqlite", log)
    assert state(folder / "ours.sqlite") == state(folder / "reference.sqlite")


def test_a_put_of_many_users_at_once_counts_each_users_earlier_entries(tmp_path: Path) -> None:
    async def run() -> list[tuple[Any, ...]]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            users = [f"user-{n}" for n in range(1500)]  # more keys than one look-up takes
            await queue.put([QueuedEvent(event("track", u, ""), ("i",)) for u in users[::2]])
            await queue.put([QueuedEvent(event("track", u, ""), ("i",)) for u in users])
        db = sqlite3.connect(tmp_path / "q.sqlite")
        rows = db.execute("SELECT waits FROM entries ORDER BY id").fetchall()
        db.close()
        return rows

    waits = [row[0] for row in asyncio.run(run())]
    assert waits[:750] == [0] * 750
    assert waits[750:] == [1 - n % 2 for n in range(1500)]
