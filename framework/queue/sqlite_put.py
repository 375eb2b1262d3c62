"""Storing a put's entries in the SQLite queue: their rows, counts and keys, all at once.

:func:`insert_entries` runs inside the durable transaction of a group commit
(:meth:`framework.queue.sqlite.SqliteQueue.put`). It does what
:func:`~framework.queue.sqlite_order.record_keys` states entry by entry, for a whole group:
``waits`` counts the keys an earlier stored entry has (this put's earlier entries included),
``nkeys`` the entry's keys. One query finds which of the keys are stored already, the entries
go in by multi-row INSERTs, and their keys by one more statement.
"""

from __future__ import annotations

import functools
import json
import sqlite3

from framework.delivery.ordering import order_keys
from framework.errors import QueueError
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item

__all__ = ["ROWS_PER_INSERT", "insert_entries"]

_KEYS_PER_QUERY = 1000
"""Keys looked up by one query."""

_STORED_KEYS = (
    "SELECT wanted.value FROM json_each(?) AS wanted"
    " WHERE EXISTS (SELECT 1 FROM entry_keys WHERE key = wanted.value)"
)
"""Which of the keys of a JSON array have an entry stored: one index look-up each."""

ROWS_PER_INSERT = 300
"""Entries one INSERT stores: 900 parameters, under the 999 of SQLite before 3.32."""


@functools.cache
def _insert_rows(count: int) -> str:
    """The INSERT of ``count`` entries: their item, waits and nkeys, in order."""
    return "INSERT INTO entries (item, waits, nkeys) VALUES " + ", ".join(["(?, ?, ?)"] * count)


def insert_entries(db: sqlite3.Connection, items: list[QueuedEvent]) -> list[str]:
    """Insert ``items`` in order with their keys, in the caller's transaction; their IDs.

    The IDs of one INSERT's rows are consecutive, ending at its ``lastrowid``: the table is
    AUTOINCREMENT, so each row takes one more than the largest ID the table has had, row
    after row, and the caller's transaction holds the write lock.
    """
    keyed = [(encode_item(item), order_keys(item.event)) for item in items]
    wanted = list({key for _, keys in keyed for key in keys})
    stored: set[str] = set()
    for start in range(0, len(wanted), _KEYS_PER_QUERY):
        chunk = wanted[start : start + _KEYS_PER_QUERY]
        stored.update(key for (key,) in db.execute(_STORED_KEYS, (json.dumps(chunk),)))
    values: list[str | int] = []
    for text, keys in keyed:
        values += (text, sum(1 for key in keys if key in stored), len(keys))
        stored.update(keys)
    ids: list[int] = []
    for start in range(0, len(keyed), ROWS_PER_INSERT):
        count = min(ROWS_PER_INSERT, len(keyed) - start)
        cursor = db.execute(_insert_rows(count), values[3 * start : 3 * (start + count)])
        last = cursor.lastrowid
        if last is None or cursor.rowcount != count:  # never: the driver's types allow it
            raise QueueError("The queue file gave no ids to its entries.")
        ids.extend(range(last - count + 1, last + 1))
    pairs = [
        (key, entry_id) for (_, keys), entry_id in zip(keyed, ids, strict=True) for key in keys
    ]
    db.executemany("INSERT OR IGNORE INTO entry_keys (key, entry_id) VALUES (?, ?)", pairs)
    return [str(entry_id) for entry_id in ids]
