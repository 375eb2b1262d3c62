"""The SQLite queue's inbox: each batch a server accepts is one row, moved into entries by
the take.

A server's put is its accept path. Storing each event as an entry costs, per event, its text,
its keys and their look-ups, and three index updates, all inside the durable commit that the
server waits for; storing the request's batch whole costs one row (docs/benchmarks.md,
"2026-12-05, evening: the inbox").

- **Put** (:func:`insert_batches`): the batch's text (fresh events and the instances they
  route to, :func:`~framework.queue.codec.encode_batch_bytes`) and its event count go into
  table ``inbox``, in the same durable group commit as the entries of other puts. The queue's
  bound counts the inbox's events with the entries.
- **Move** (:func:`move_inbox`): each take first moves the inbox's oldest batches (at most
  :data:`MOVE_EVENTS` events, at least one batch) into entries, in the order they were
  accepted, with their keys (:func:`~framework.queue.sqlite_put.insert_entries`), and deletes
  them, in one transaction. A batch stored with its request's receipt is filled as it is read
  (:func:`~framework.queue.codec.decode_batch`), so its entries are stored filled.
  A row that is not a batch becomes one entry holding its text,
  which the take then sets aside as not a queued event.

Order: a user's events keep the order their batches were accepted in. Events put with
:meth:`~framework.queue.sqlite.SqliteQueue.put` become entries at once: between the two ways
no order is kept (a server only uses the inbox).
"""

from __future__ import annotations

import sqlite3

from framework.queue.base import QueuedEvent
from framework.queue.codec import decode_batch
from framework.queue.sqlite_put import insert_entries

__all__ = ["MOVE_EVENTS", "SCHEMA", "inbox_events", "inbox_rows", "insert_batches", "move_inbox"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "batch TEXT NOT NULL, events INTEGER NOT NULL)"
)
"""The inbox table: a batch's text and how many events it holds."""

MOVE_EVENTS = 2000
"""Events one move carries at most (unless its first batch alone holds more)."""

_PAGE = 64
"""Inbox rows read at most for one move."""


def insert_batches(db: sqlite3.Connection, batches: list[tuple[str, int]]) -> None:
    """Store ``(text, event count)`` batches in order, in the caller's transaction."""
    db.executemany("INSERT INTO inbox (batch, events) VALUES (?, ?)", batches)


def inbox_events(db: sqlite3.Connection) -> int:
    """How many events the inbox's batches hold."""
    (count,) = db.execute("SELECT COALESCE(SUM(events), 0) FROM inbox").fetchone()
    return int(count)


def inbox_rows(db: sqlite3.Connection) -> int:
    """How many batches the inbox holds."""
    (count,) = db.execute("SELECT COUNT(*) FROM inbox").fetchone()
    return int(count)


def move_inbox(db: sqlite3.Connection) -> tuple[int, int, int]:
    """Move the inbox's oldest batches into entries, in the caller's transaction.

    Returns how many batches were moved, how many entries they made and how many events they
    declared (the last two differ only for a row that was not a batch).
    """
    rows = db.execute("SELECT id, batch, events FROM inbox ORDER BY id LIMIT ?", (_PAGE,))
    moved: list[int] = []
    items: list[QueuedEvent] = []
    made = declared = 0
    for row_id, text, events in rows.fetchall():
        if moved and declared + events > MOVE_EVENTS:
            break
        moved.append(row_id)
        declared += events
        batch = decode_batch(text if isinstance(text, str) else None)
        if batch is not None:
            items += batch
            continue
        # In its place: the entries of the batches before it first.
        made += len(insert_entries(db, items)) + 1
        items = []
        db.execute("INSERT INTO entries (item, waits, nkeys) VALUES (?, 0, 0)", (str(text),))
    if not moved:
        return 0, 0, 0
    made += len(insert_entries(db, items))
    db.execute(f"DELETE FROM inbox WHERE id <= {moved[-1]:d}")
    return len(moved), made, declared
