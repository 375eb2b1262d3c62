"""Each user's entries in order in the SQLite queue: the keys table and the ordered take.

An entry's keys are the users its event touches (:func:`~framework.delivery.ordering.order_keys`),
stored in ``entry_keys (key, entry_id)`` by the put that stores the entry. Beside them each
entry keeps two numbers: ``nkeys``, how many keys it has (-1: not recorded yet, an entry of a
file written before keys were kept), and ``waits``, for how many of its keys an earlier entry
is still stored. An entry with ``waits = 0`` is a *head*: the first stored entry of each of
its keys (an entry without keys is always one). Puts and deletions keep ``waits`` exact with a
few index look-ups per key, so a take never scans the entries that are blocked behind a user's
earlier one, however many an outage piles up.

What a take hands out, in id order, at most ``max_count``: every head that is ready (not
leased, not deferred to a later time, not held by this process), and behind each such head
with one key, the run of that key's following entries for as long as each is ready and has
only that key. An entry with several keys (an alias) is handed out only as a head, and a run
stops at it: nothing after it sharing a key goes in the same take. Heads and runs are merged
lazily by id (a heap over SQLite cursors), so a take reads about as many rows as it hands out,
plus the deferred heads it steps over.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable

from framework.delivery.ordering import order_keys
from framework.queue.codec import decode_item

__all__ = ["choose", "forget", "prepare", "record_keys"]

_KEYS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entry_keys (key TEXT NOT NULL, entry_id INTEGER NOT NULL,"
    " PRIMARY KEY (key, entry_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entry_keys_entry ON entry_keys (entry_id)",
    "CREATE INDEX IF NOT EXISTS entries_heads ON entries (id, lease_until, visible_at, nkeys)"
    " WHERE waits = 0",
    "CREATE INDEX IF NOT EXISTS entries_visible ON entries (visible_at)",
    # The take of the first version; no query uses it now, and every write paid for it.
    "DROP INDEX IF EXISTS entries_lease",
)

_COLUMNS = {
    "visible_at": "REAL NOT NULL DEFAULT 0",
    "waits": "INTEGER NOT NULL DEFAULT 0",
    "nkeys": "INTEGER NOT NULL DEFAULT -1",
}
"""The columns of ``entries`` added since the first version, with their definitions."""

_RECOUNT = """
SELECT id, waits, counted FROM (
    SELECT e.id, e.waits, (
        SELECT COUNT(*) FROM entry_keys k WHERE k.entry_id = e.id AND EXISTS (
            SELECT 1 FROM entry_keys p WHERE p.key = k.key AND p.entry_id < k.entry_id
        )
    ) AS counted
    FROM entries e
) WHERE waits != counted
"""

_HEADS = """
SELECT e.id, CASE WHEN e.nkeys = 1 THEN (SELECT k.key FROM entry_keys k WHERE k.entry_id = e.id) END
FROM entries e
WHERE e.waits = 0 AND e.lease_until <= ? AND e.visible_at <= ?
ORDER BY e.id
"""

_RUN = """
SELECT k.entry_id, e.lease_until, e.visible_at, e.nkeys
FROM entry_keys k JOIN entries e ON e.id = k.entry_id
WHERE k.key = ? AND k.entry_id > ? AND k.entry_id < ?
ORDER BY k.entry_id
LIMIT ?
"""

_CHUNK = 16
"""Entries of a run read at a time."""

_NO_BOUND = 2**63 - 1
"""Above every entry id (SQLite's largest integer)."""


def prepare(db: sqlite3.Connection) -> None:
    """Bring a queue file's order bookkeeping up to date; called by its owner on open.

    Adds what a file of an earlier version lacks (columns, the keys table), records the keys
    of entries stored without them (an entry that does not decode gets none: a take sets it
    aside), drops keys whose entry is gone and recounts ``waits`` where it is off, so a file
    written by any version is ordered correctly. One transaction; the caller owns the file.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    db.execute("BEGIN IMMEDIATE")
    try:
        for name, definition in _COLUMNS.items():
            if name not in columns:
                db.execute(f"ALTER TABLE entries ADD COLUMN {name} {definition}")
        for statement in _KEYS_SCHEMA:
            db.execute(statement)
        unrecorded = db.execute("SELECT id, item FROM entries WHERE nkeys < 0 ORDER BY id")
        for entry_id, text in unrecorded.fetchall():
            item = decode_item(text)
            keys = order_keys(item.event) if item is not None else ()
            db.executemany(
                "INSERT OR IGNORE INTO entry_keys (key, entry_id) VALUES (?, ?)",
                [(key, entry_id) for key in keys],
            )
            db.execute("UPDATE entries SET nkeys = ? WHERE id = ?", (len(keys), entry_id))
        db.execute(
            "DELETE FROM entry_keys WHERE NOT EXISTS "
            "(SELECT 1 FROM entries e WHERE e.id = entry_keys.entry_id)"
        )
        db.executemany(
            "UPDATE entries SET waits = ? WHERE id = ?",
            [(counted, entry_id) for entry_id, _, counted in db.execute(_RECOUNT).fetchall()],
        )
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def record_keys(db: sqlite3.Connection, entry_id: int, keys: tuple[str, ...]) -> None:
    """Store the keys of the entry just inserted (the highest id yet) and set its counts.

    Called in the put's transaction, right after the entry's insert.
    """
    waits = 0
    for key in keys:
        if db.execute("SELECT 1 FROM entry_keys WHERE key = ? LIMIT 1", (key,)).fetchone():
            waits += 1
    db.executemany(
        "INSERT OR IGNORE INTO entry_keys (key, entry_id) VALUES (?, ?)",
        [(key, entry_id) for key in keys],
    )
    db.execute("UPDATE entries SET waits = ?, nkeys = ? WHERE id = ?", (waits, len(keys), entry_id))


def forget(db: sqlite3.Connection, entry_ids: Iterable[int]) -> None:
    """Drop the keys of entries being deleted, and unblock the entries that were behind them.

    Called in the deleting transaction (ack, dead, set aside), before or after the rows of
    ``entries`` go. When a deleted entry was the first of a key, the next entry of that key
    waits on one key fewer.
    """
    for entry_id in entry_ids:
        keys = [
            key
            for (key,) in db.execute(
                "SELECT key FROM entry_keys WHERE entry_id = ?", (entry_id,)
            ).fetchall()
        ]
        if not keys:
            continue
        db.execute("DELETE FROM entry_keys WHERE entry_id = ?", (entry_id,))
        for key in keys:
            earlier = db.execute(
                "SELECT 1 FROM entry_keys WHERE key = ? AND entry_id < ? LIMIT 1",
                (key, entry_id),
            ).fetchone()
            if earlier is not None:
                continue
            following = db.execute(
                "SELECT entry_id FROM entry_keys WHERE key = ? AND entry_id > ? "
                "ORDER BY entry_id LIMIT 1",
                (key, entry_id),
            ).fetchone()
            if following is not None:
                db.execute(
                    "UPDATE entries SET waits = MAX(waits - 1, 0) WHERE id = ?", (following[0],)
                )


class _Run:
    """The entries after a head sharing its one key, read a few at a time as they are asked.

    Each read is a short statement run to its end: an open cursor per run would stop SQLite's
    statement cache from serving the next run's query (it would be compiled again each time).
    """

    __slots__ = ("bound", "buffer", "head", "key", "last", "read_all")

    def __init__(self, head: int, key: str, bound: int) -> None:
        self.head = head
        self.key = key
        self.bound = bound
        self.last = head
        self.buffer: list[tuple[int, float, float, int]] = []
        self.read_all = False

    def next(self, db: sqlite3.Connection) -> tuple[int, float, float, int] | None:
        """The next entry of the run, or None past its last one (or the bound)."""
        if not self.buffer:
            if self.read_all:
                return None
            rows = db.execute(_RUN, (self.key, self.last, self.bound, _CHUNK)).fetchall()
            self.read_all = len(rows) < _CHUNK
            if not rows:
                return None
            rows.reverse()
            self.buffer = rows
        row = self.buffer.pop()
        self.last = row[0]
        return row


def choose(db: sqlite3.Connection, max_count: int, now: float, held: set[int]) -> list[int]:
    """The ids a take hands out at ``now``, in id order (see the module doc).

    ``held``: entries this process handed out and still handles (their lease may have
    expired): they are not ready, and they hold their keys like any stored entry.
    """
    heads: list[tuple[int, str | None]] = []
    cursor = db.execute(_HEADS, (now, now))
    for entry_id, key in cursor:
        if entry_id not in held:
            heads.append((entry_id, key))
            if len(heads) == max_count:
                break
    cursor.close()
    # With max_count ready heads, nothing after the last one can be among the first max_count
    # entries handed out: runs are read up to it only.
    bound = heads[-1][0] if len(heads) == max_count else _NO_BOUND
    # The next entry of each run that may be handed out, by id: (id, its run).
    pending: list[tuple[int, int]] = []
    runs: dict[int, _Run] = {}
    for head, key in heads:
        if key is not None:  # one key: a run may follow (none behind an alias or no key)
            runs[head] = _Run(head, key, bound)
            _advance(db, runs[head], now, held, pending)
    chosen: list[int] = []
    merged = iter(heads)
    next_head = next(merged, None)
    while len(chosen) < max_count and (next_head is not None or pending):
        if next_head is not None and (not pending or next_head[0] < pending[0][0]):
            chosen.append(next_head[0])
            next_head = next(merged, None)
            continue
        entry_id, head = heapq.heappop(pending)
        if entry_id != chosen[-1]:  # never twice, even were a count of waits ever off
            chosen.append(entry_id)
        _advance(db, runs[head], now, held, pending)
    return chosen


def _advance(
    db: sqlite3.Connection,
    run: _Run,
    now: float,
    held: set[int],
    pending: list[tuple[int, int]],
) -> None:
    """Queue the run's next entry when it may be handed out; otherwise the run ends there."""
    row = run.next(db)
    if row is None:
        return
    entry_id, lease_until, visible_at, nkeys = row
    # An alias ends a run (nothing after it sharing a key goes in the same take), and so
    # does an entry not ready: leased, deferred to a later time, or held.
    if nkeys == 1 and lease_until <= now and visible_at <= now and entry_id not in held:
        heapq.heappush(pending, (entry_id, run.head))
