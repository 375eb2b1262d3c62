"""The SQLite queue's multi-row INSERTs give each entry the ID the put returns for it.

A put stores its entries by INSERTs of many rows and derives their IDs from the last one;
whatever the number of entries (across the rows one INSERT takes) and the IDs acked before,
each returned ID names the entry of its item.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.sqlite import SqliteQueue
from framework.queue.sqlite_put import ROWS_PER_INSERT


def item(n: int) -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": f"u{n % 7}", "event": f"E{n}"}, ("i",))


@pytest.mark.parametrize(
    "count", [1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 2 * ROWS_PER_INSERT + 5]
)
def test_each_returned_id_names_its_items_entry(tmp_path: Path, count: int) -> None:
    path = tmp_path / "q.sqlite"

    async def run() -> list[tuple[list[str], list[QueuedEvent]]]:
        async with SqliteQueue(path) as queue:
            first = [item(n) for n in range(3)]
            ids = await queue.put(first)
            await queue.ack(ids[-1:])  # the largest ID is gone: AUTOINCREMENT never reuses it
            puts = [(ids, first)]
            for round_ in range(2):
                items = [item(1000 * round_ + n) for n in range(count)]
                puts.append((await queue.put(items), items))
            return puts

    puts = asyncio.run(run())
    db = sqlite3.connect(path)
    try:
        stored = dict(db.execute("SELECT id, item FROM entries").fetchall())
    finally:
        db.close()
    seen: list[int] = []
    for ids, items in puts[1:]:
        assert len(ids) == len(items)
        for entry_id, queued in zip(ids, items, strict=True):
            assert stored[int(entry_id)] == encode_item(queued)
        seen += [int(entry_id) for entry_id in ids]
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    assert min(seen) > int(puts[0][0][-1])
