"""The embedded event queue: a SQLite file between the server and the router of one process.

Durability: the file is in WAL mode, and a put commits with ``synchronous=FULL``, so it is on
disk (the WAL is fsynced) before :meth:`SqliteQueue.put` returns; the server answers 200 only
after that, and a process crash or a power cut loses nothing answered. ``NORMAL`` would
survive a process crash but could lose the last commits on a power cut, which would break
that promise. Takes, acks and fails commit with ``NORMAL``: losing one to a power cut only
hands an entry out again. Concurrent puts are committed together (group commit), so the
fsync is shared under load. A server's puts (``put_events``) store a request's events whole,
as one row of the inbox, which the next take makes entries (:mod:`.sqlite_inbox`).

One process owns the file at a time, and others may read its dead entries meanwhile. The
owner holds an exclusive lock on a lock file beside it (``queue.sqlite.lock``: ``flock`` on
POSIX, ``msvcrt.locking`` on Windows) for as long as the queue is open; a second owner, in this
process or another, gets a :class:`~framework.errors.QueueError`. The operating system drops
that lock when its process ends, however it ends, so when the file is opened any lease in it
belongs to a process that is gone, and is cleared: entries taken and not acked before a crash
are handed out again at once. Within the process, an entry is leased for ``claim_idle``
seconds when taken and is not handed out again while its handler runs; should its ack or fail
not reach the file, it is handed out again once the lease expires.

Order and retries: each entry's keys (the users its event touches) are stored beside it by
the put, and a take hands out a user's entries in queue order, one run at a time
(:mod:`framework.queue.sqlite_order`). A deferred entry keeps its retry state and the time it
is due (``visible_at``); unlike a lease that time is kept on open, so an entry waiting for a
retry waits across restarts, and it holds its users' later entries meanwhile. A file written
before keys were kept is brought up to date on open.

The database itself is in SQLite's normal locking mode, so WAL lets another process read it
while the owner writes: :class:`SqliteDeadEntries` lists, counts and removes the
``dead_entries`` of a file whose server is running (``actionkit dlq``). It never takes the
owner's lock, never touches ``entries`` and never clears a lease; the rows it may delete are
ones the owner only ever inserts, and each write is one short transaction, serialised with
the owner's by SQLite.

SQLite calls run on one dedicated thread, off the event loop, with one exception: a put's
group commit runs on the event loop itself when that thread has nothing to do and commits have
been quick (:data:`_INLINE_COMMIT_MOST` on average). Handing a commit to a thread and back
costs the thread two waits for the GIL, and an event loop busy with requests gives it up
late: about a millisecond each, measured, against a commit of about 0.3 ms here
(docs/benchmarks.md, "2026-12-05, night: commits on the event loop"). The connection is used
by one thread at a time (the loop only writes while no call is handed to the thread). A put
that finds the file locked by another process (``actionkit dlq``) goes to the thread, which
waits for the lock; a slow disk sends every put there, so the loop never stalls on one.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from framework.errors import QueueError, QueueFullError
from framework.event_fill import Receipt
from framework.queue.base import (
    DEAD_NOT_QUEUED_EVENT,
    DEAD_TRIES_EXHAUSTED,
    Entry,
    OnDead,
    QueuedEvent,
    check_queue_bounds,
)
from framework.queue.codec import decode_item, encode_batch_bytes, encode_item
from framework.queue.sqlite_inbox import SCHEMA as _INBOX_SCHEMA
from framework.queue.sqlite_inbox import inbox_events, inbox_rows, insert_batches, move_inbox
from framework.queue.sqlite_order import choose, forget, prepare
from framework.queue.sqlite_put import insert_entries

__all__ = ["SqliteDeadEntries", "SqliteQueue"]

T = TypeVar("T")

_Put = list[QueuedEvent] | tuple[str, int]
"""What one put stores: entries, or a batch for the inbox (its text and event count)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    visible_at REAL NOT NULL DEFAULT 0,
    waits INTEGER NOT NULL DEFAULT 0,
    nkeys INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS dead_entries (
    id INTEGER PRIMARY KEY,
    item TEXT NOT NULL,
    tries INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL,
    code TEXT
);
"""

_UNREADABLE = "The entry is not a queued event."

_FULL_RETRY_AFTER = 1.0
"""Seconds a client is asked to wait when the queue is full."""

_MIN_WAKE = 0.001
"""Seconds a take waits at least for a deferred entry's time (no spinning on clock skew)."""

_BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another connection's write (a ``dlq replay`` removing a row)."""

_INLINE_COMMIT_MOST = 0.005
"""Seconds a put's commit may take on average (a moving average over the last few, wherever
they ran) for the event loop to run the next one itself."""

_COMMIT_WEIGHT = 0.2
"""The weight of the latest commit's time in that moving average."""


def _in_use(path: Path) -> QueueError:
    return QueueError(
        f"The queue file {path} is in use by another process; one process owns a queue file "
        "at a time."
    )


def _lock_path(path: Path) -> Path:
    """The owner's lock file: beside the queue file, named after it."""
    return path.with_name(path.name + ".lock")


def _take_ownership(path: Path) -> int:
    """Lock the queue file's lock file for this process; its descriptor, to close to unlock.

    Raises :class:`~framework.errors.QueueError` when another owner holds it.
    """
    lock = _lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise QueueError(f"Cannot open the queue's lock file {lock}: {exc}.") from exc
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise _in_use(path) from exc
    return fd


def _legacy_code(error: str) -> str:
    """The code of a dead entry stored before dead entries had one."""
    return DEAD_NOT_QUEUED_EVENT if error == _UNREADABLE else DEAD_TRIES_EXHAUSTED


@contextmanager
def _transaction(db: sqlite3.Connection, *, durable: bool = False) -> Iterator[None]:
    """One write transaction, taken at once (no lock upgrade that could fail midway).

    ``durable``: fsync the commit (a put). Takes, acks and fails are not fsynced on their own:
    should a power cut lose one, the entry is only handed out again (at least once), and the
    next durable commit writes them all to disk anyway.
    """
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SqliteQueue:
    """A durable :class:`~framework.queue.EventQueue` in one SQLite file (see the module doc).

    ``max_length``: entries stored at most; a put that would pass it raises
    :class:`~framework.errors.QueueFullError` and stores nothing. ``claim_idle``: seconds an
    entry stays leased to its taker. ``max_tries``: takes after which a failed entry moves to
    the ``dead_entries`` table with its code and error (``on_dead``, when set, is told); a
    take that ends in a defer is not counted. The file is opened on the first call; use
    ``async with`` or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_length: int = 100_000,
        claim_idle: float = 30.0,
        max_tries: int = 5,
    ) -> None:
        check_queue_bounds(max_length, claim_idle, max_tries)
        self.path = Path(path)
        self.max_length = max_length
        self.claim_idle = claim_idle
        self.max_tries = max_tries
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._lock: int | None = None
        self._depth = 0
        self._inbox = 0
        """Batches in the inbox (this process is the file's one writer of it)."""
        self._held: set[int] = set()
        self._pending: list[tuple[_Put, asyncio.Future[list[str]]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None
        self._arrived: asyncio.Event | None = None
        self._closed = False
        self._handed = 0
        """Calls handed to the thread (written by the event loop only)."""
        self._returned = 0
        """Calls the thread has finished (written by the thread only): none is running when
        the two counts are equal, so the loop may use the connection itself."""
        self._commit_seconds = 0.0
        """The moving average of a put's commit time (see :data:`_INLINE_COMMIT_MOST`)."""
        self.on_dead: OnDead | None = None

    async def __aenter__(self) -> SqliteQueue:
        await self._run(lambda: None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the thread that owns the connection ---------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"Cannot open the queue file {self.path}: {exc}.") from exc
        self._lock = _take_ownership(self.path)
        try:
            return self._connect()
        except BaseException:
            self._unlock()
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            # Used by one thread at a time: this queue's thread, or the event loop's for a
            # put while that thread is idle (see the module docstring).
            connection = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise QueueError(f"Cannot open the queue file {self.path}: {exc}.") from exc
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            connection.execute(_INBOX_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(dead_entries)")}
            if "code" not in columns:  # a file written before dead entries had a code
                connection.execute("ALTER TABLE dead_entries ADD COLUMN code TEXT")
            prepare(connection)  # keys and visible-at, for a file of an earlier version too
            # The lock is ours: any lease left in the file belongs to a process that ended,
            # so its entries are handed out again now.
            connection.execute("UPDATE entries SET lease_until = 0 WHERE lease_until > 0")
            (entries,) = connection.execute("SELECT COUNT(*) FROM entries").fetchone()
            self._depth = entries + inbox_events(connection)
            self._inbox = inbox_rows(connection)
        except sqlite3.OperationalError as exc:
            connection.close()
            if "locked" in str(exc):  # an older actionkit holding the file exclusively
                raise _in_use(self.path) from exc
            raise QueueError(f"Cannot use the queue file {self.path}: {exc}.") from exc
        except sqlite3.Error as exc:
            connection.close()
            raise QueueError(f"Cannot use the queue file {self.path}: {exc}.") from exc
        return connection

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    async def _run(self, work: Callable[[], T]) -> T:
        if self._closed:
            raise QueueError("The queue is closed.")

        def call() -> T:
            self._db()
            try:
                return work()
            except sqlite3.Error as exc:
                raise self._failed(exc) from exc

        return await self._hand(call)

    def _failed(self, exc: sqlite3.Error) -> QueueError:
        """What a failed SQLite call raises."""
        return QueueError(f"The queue file {self.path} failed: {exc}.")

    def _hand(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``call`` on the queue's thread, counted (see ``_handed``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="actionkit-queue")

        def counted() -> T:
            try:
                return call()
            finally:
                self._returned += 1

        self._handed += 1
        return asyncio.get_running_loop().run_in_executor(self._executor, counted)

    # -- put: group commit ---------------------------------------------------------------

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        """Store ``items`` durably, all or none; returns their entry IDs in order.

        Raises :class:`~framework.errors.QueueFullError` when they would take the queue past
        ``max_length``, :class:`~framework.errors.QueueError` when the file cannot be written.
        """
        if not items:
            return []
        return await self._stored(list(items))

    async def put_events(
        self,
        events: list[dict[str, Any]],
        instances: tuple[str, ...],
        receipt: Receipt | None = None,
    ) -> None:
        """Store fresh ``events`` routed to ``instances`` as one batch of the inbox, all or
        none, durably (:mod:`framework.queue.sqlite_inbox`); the take makes them entries,
        filled from ``receipt`` when given (:mod:`framework.event_fill`).

        Raises :class:`~framework.errors.QueueFullError` when they would take the queue past
        ``max_length``, :class:`~framework.errors.QueueError` when the file cannot be written
        or an event holds a lone surrogate, NaN or Infinity.
        """
        if events:
            text = encode_batch_bytes(events, instances, receipt).decode("utf-8")
            await self._stored((text, len(events)))

    async def _stored(self, put: _Put) -> list[str]:
        """Store ``put`` with the next group commit; its entry IDs (none for a batch)."""
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._pending.append((put, future))
        if not self._flushing:
            self._flushing = True
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                # Let the requests this turn of the event loop is handling put theirs first:
                # under load one commit then holds about every client's request, not half.
                await asyncio.sleep(0)
                groups, self._pending = self._pending, []
                try:
                    results = self._write_here(groups)
                    if results is None:
                        results = await self._run(functools.partial(self._write, groups))
                except Exception as exc:  # handed to every waiting put, never swallowed
                    error = (
                        exc
                        if isinstance(exc, QueueError)
                        else QueueError(f"The queue file {self.path} cannot be written: {exc}.")
                    )
                    for _, future in groups:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(groups, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, QueueFullError):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                if self._arrived is not None:
                    self._arrived.set()
        finally:
            self._flushing = False

    def _write_here(
        self, groups: list[tuple[_Put, asyncio.Future[list[str]]]]
    ) -> list[list[str] | QueueFullError] | None:
        """:meth:`_write` on the event loop's thread, when it may run there (see the module
        docstring); None when it may not, or when another process holds the file's lock."""
        db = self._connection
        if (
            db is None
            or self._closed
            or self._handed != self._returned
            or self._commit_seconds > _INLINE_COMMIT_MOST
        ):
            return None
        db.execute("PRAGMA busy_timeout=0")  # never wait here: the thread waits instead
        try:
            return self._write(groups)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                if db.in_transaction:  # nothing was stored; the thread starts afresh
                    db.execute("ROLLBACK")
                return None
            raise self._failed(exc) from exc
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        finally:
            db.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT * 1000)}")

    def _write(
        self, groups: list[tuple[_Put, asyncio.Future[list[str]]]]
    ) -> list[list[str] | QueueFullError]:
        """Store each group that fits, all in one durable transaction; a result per group."""
        db = self._db()
        results: list[list[str] | QueueFullError] = []
        depth = self._depth
        entries: list[list[QueuedEvent]] = []
        batches: list[tuple[str, int]] = []
        for put, _ in groups:
            count = put[1] if isinstance(put, tuple) else len(put)
            if depth + count > self.max_length:
                results.append(
                    QueueFullError(
                        f"The event queue is full ({self.max_length} entries); try again shortly.",
                        retry_after=_FULL_RETRY_AFTER,
                    )
                )
                continue
            results.append([])
            depth += count
            if isinstance(put, tuple):
                batches.append(put)
            else:
                entries.append(put)
        if not entries and not batches:
            return results
        started = time.monotonic()
        with _transaction(db, durable=True):
            ids = iter(insert_entries(db, [item for items in entries for item in items]))
            insert_batches(db, batches)
        took = time.monotonic() - started
        self._commit_seconds += _COMMIT_WEIGHT * (took - self._commit_seconds)
        self._depth = depth
        self._inbox += len(batches)
        for index, ((put, _), result) in enumerate(zip(groups, results, strict=True)):
            if isinstance(result, list) and isinstance(put, list):
                results[index] = [next(ids) for _ in put]
        return results

    # -- take, ack, fail, defer ---------------------------------------------------------

    async def take(self, max_count: int, *, block: float = 1.0) -> list[Entry]:
        """Up to ``max_count`` entries, waiting at most ``block`` seconds for the first.

        Each user's entries in queue order (see :mod:`framework.queue.sqlite_order`). While
        it waits, a put, an ack, a fail or a defer due now wakes it, and so does the time the
        earliest deferred entry becomes visible.
        """
        if max_count < 1:
            return []
        if self._arrived is None:
            self._arrived = asyncio.Event()
        deadline = time.monotonic() + block
        while True:
            self._arrived.clear()
            entries, wake_at = await self._run(lambda: self._take(max_count))
            remaining = deadline - time.monotonic()
            if entries or remaining <= 0:
                return entries
            delay = remaining
            if wake_at is not None:
                # At least a millisecond: the loop's clock may fire a hair before the wall's.
                delay = min(remaining, max(wake_at - time.time(), _MIN_WAKE))
            try:
                await asyncio.wait_for(self._arrived.wait(), delay)
            except TimeoutError:
                if delay >= remaining:
                    # One more look: a lease may have expired meanwhile.
                    entries, _ = await self._run(lambda: self._take(max_count))
                    return entries

    def _take(self, max_count: int) -> tuple[list[Entry], float | None]:
        """The entries handed out now, and when the next deferred one becomes visible."""
        db = self._db()
        now = time.time()
        if self._inbox:
            with _transaction(db):
                moved, made, declared = move_inbox(db)
            self._inbox = max(0, self._inbox - moved)  # a row written by hand is moved too
            self._depth += made - declared
        # Held entries are in flight in this process: never hand them out twice. An entry
        # leaves ``held`` when its ack, fail or defer ends, even one that failed to reach the
        # file; such an entry is handed out again once its lease expires.
        chosen = choose(db, max_count, now, self._held)
        if not chosen:
            row = db.execute(
                "SELECT MIN(visible_at) FROM entries WHERE visible_at > ?", (now,)
            ).fetchone()
            return [], row[0]
        lease = now + self.claim_idle
        with _transaction(db):
            db.executemany(
                "UPDATE entries SET tries = tries + 1, lease_until = ? WHERE id = ?",
                [(lease, key) for key in chosen],
            )
            rows = [
                db.execute("SELECT item, tries FROM entries WHERE id = ?", (key,)).fetchone()
                for key in chosen
            ]
        entries: list[Entry] = []
        unreadable: list[int] = []
        for key, (text, tries) in zip(chosen, rows, strict=True):
            item = decode_item(text)
            if item is None:
                unreadable.append(key)
            else:
                entries.append(Entry(str(key), item, tries))
        if unreadable:
            # Not one of ours (a file edited by hand, a newer format): set it aside, never
            # fail the consumer on it.
            with _transaction(db):
                db.executemany(
                    "INSERT OR REPLACE INTO dead_entries (id, item, tries, error, failed_at, code)"
                    " SELECT id, item, tries, ?, ?, ? FROM entries WHERE id = ?",
                    [(_UNREADABLE, now, DEAD_NOT_QUEUED_EVENT, key) for key in unreadable],
                )
                forget(db, unreadable)
                db.executemany("DELETE FROM entries WHERE id = ?", [(key,) for key in unreadable])
            self._depth -= len(unreadable)
            for _ in unreadable:
                self._tell_dead(DEAD_NOT_QUEUED_EVENT, _UNREADABLE)
        self._held.update(int(entry.id) for entry in entries)
        return entries, None

    def _wake(self) -> None:
        """Tell a waiting take that something may be handed out now."""
        if self._arrived is not None:
            self._arrived.set()

    async def ack(self, ids: list[str]) -> None:
        """Remove these entries for good: every delivery of each has ended.

        The user's next entries may then be handed out.
        """
        keys = [int(entry_id) for entry_id in ids]
        if not keys:
            return

        def work() -> None:
            db = self._db()
            try:
                with _transaction(db):
                    forget(db, keys)
                    cursor = db.executemany(
                        "DELETE FROM entries WHERE id = ?", [(key,) for key in keys]
                    )
                self._depth -= max(cursor.rowcount, 0)
            finally:
                self._held.difference_update(keys)

        await self._run(work)
        self._wake()

    async def fail(self, entry: Entry, error: str) -> None:
        """Hand ``entry`` back for another try, or move it to ``dead_entries`` after too many.

        A dead entry no longer holds its users' later entries back.
        """
        key = int(entry.id)

        def work() -> bool:
            db = self._db()
            try:
                if entry.tries < self.max_tries:
                    db.execute(
                        "UPDATE entries SET lease_until = 0, last_error = ? WHERE id = ?",
                        (error, key),
                    )
                    return False
                with _transaction(db):
                    db.execute(
                        "INSERT OR REPLACE INTO dead_entries (id, item, tries, error, failed_at,"
                        " code) SELECT id, item, tries, ?, ?, ? FROM entries WHERE id = ?",
                        (error, time.time(), DEAD_TRIES_EXHAUSTED, key),
                    )
                    forget(db, [key])
                    cursor = db.execute("DELETE FROM entries WHERE id = ?", (key,))
                moved = cursor.rowcount > 0
                self._depth -= max(cursor.rowcount, 0)
                return moved
            finally:
                self._held.discard(key)

        if await self._run(work):
            self._tell_dead(DEAD_TRIES_EXHAUSTED, error)
        self._wake()

    async def defer(self, entry: Entry, item: QueuedEvent, *, at: float) -> None:
        """Keep ``entry`` as ``item`` (its new retry state), to be handed out again at ``at``.

        One transaction stores the item, its visible-at time (kept across a restart, unlike a
        lease) and gives back the try its take counted. Until it is acked or set aside, its
        users' later entries stay behind it.
        """
        key = int(entry.id)
        text = encode_item(item)

        def work() -> None:
            db = self._db()
            try:
                with _transaction(db):
                    db.execute(
                        "UPDATE entries SET item = ?, visible_at = ?, lease_until = 0,"
                        " tries = MAX(tries - 1, 0), last_error = ? WHERE id = ?",
                        (text, at, item.last_error, key),
                    )
            finally:
                self._held.discard(key)

        await self._run(work)
        # Due now, it may be handed out; due later, a waiting take must learn its time (it
        # wakes up by itself then, from the file's earliest visible-at).
        self._wake()

    async def waiting(self) -> int:
        """How many entries are deferred to a time still to come."""

        def work() -> int:
            row = (
                self._db()
                .execute("SELECT COUNT(*) FROM entries WHERE visible_at > ?", (time.time(),))
                .fetchone()
            )
            return int(row[0])

        return await self._run(work)

    async def retry_now(self) -> int:
        """Make every waiting entry due now (a destination recovered); returns how many.

        Their retry state is kept; each still waits behind its users' earlier entries.
        """

        def work() -> int:
            db = self._db()
            with _transaction(db):
                cursor = db.execute(
                    "UPDATE entries SET visible_at = 0 WHERE visible_at > ?", (time.time(),)
                )
            return max(cursor.rowcount, 0)

        count = await self._run(work)
        if count:
            self._wake()
        return count

    # -- inspection and closing ----------------------------------------------------------

    async def depth(self) -> int:
        """How many entries are stored and not yet acked (dead entries not counted)."""
        return await self._run(lambda: self._depth)

    def _tell_dead(self, code: str, error: str) -> None:
        if self.on_dead is not None:
            self.on_dead(code, error)

    async def dead_entries(self) -> list[dict[str, Any]]:
        """The entries set aside, oldest first: id, code, error, event, instances, tries,
        failed_at (a Unix time). ``event`` is None for an entry that was not a queued event.
        """
        return await self._run(lambda: _dead_rows(self._db()))

    async def dead_count(self) -> int:
        """How many entries are set aside in ``dead_entries``."""
        return await self._run(lambda: _dead_count(self._db()))

    async def remove_dead(self, ids: list[str]) -> int:
        """Forget these dead entries (they were replayed); returns how many were there."""
        return await self._run(lambda: _remove_dead(self._db(), ids))

    async def close(self) -> None:
        """Close the file; entries taken and not acked stay stored (handed out on reopen)."""
        if self._closed:
            return
        self._closed = True  # from now on no call is taken, and no put runs on the loop
        executor = self._executor
        if executor is not None:

            def shut() -> None:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
                self._unlock()

            await self._hand(shut)
            executor.shutdown(wait=True)
        self._executor = None


# -- dead entries, read by the owner and by others -------------------------------------------


def _dead_rows(db: sqlite3.Connection) -> list[dict[str, Any]]:
    columns = {row[1] for row in db.execute("PRAGMA table_info(dead_entries)")}
    if not columns:
        return []  # not a queue file yet: its owner has not created the table
    code = "code" if "code" in columns else "NULL"
    rows = db.execute(
        f"SELECT id, item, tries, error, failed_at, {code} FROM dead_entries ORDER BY id"
    )
    result = []
    for key, item, tries, error, failed_at, entry_code in rows:
        queued = decode_item(item)
        result.append(
            {
                "id": str(key),
                "code": entry_code or _legacy_code(error),
                "event": queued.event if queued else None,
                "instances": list(queued.instances) if queued else [],
                "tries": tries,
                "error": error,
                "failed_at": failed_at,
            }
        )
    return result


def _has_dead_entries(db: sqlite3.Connection) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dead_entries'"
    ).fetchone()
    return row is not None


def _dead_count(db: sqlite3.Connection) -> int:
    if not _has_dead_entries(db):
        return 0
    (count,) = db.execute("SELECT COUNT(*) FROM dead_entries").fetchone()
    return int(count)


def _remove_dead(db: sqlite3.Connection, ids: list[str]) -> int:
    keys = [(int(entry_id),) for entry_id in ids if entry_id.isdigit()]
    if not keys or not _has_dead_entries(db):
        return 0
    with _transaction(db):
        cursor = db.executemany("DELETE FROM dead_entries WHERE id = ?", keys)
    return max(cursor.rowcount, 0)


class SqliteDeadEntries:
    """The dead entries of a queue file, read beside its owner (a running server).

    What ``actionkit dlq`` reads: it lists, counts and removes rows of ``dead_entries`` only,
    and never takes the owner's lock (see the module doc). The file must exist; it is opened
    for each call and closed after it, so nothing is held between calls. Failures raise
    :class:`~framework.errors.QueueError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def __aenter__(self) -> SqliteDeadEntries:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _with(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            # mode=rw: an absent file is an error, never created (and never made a queue) here.
            db = sqlite3.connect(
                self.path.absolute().as_uri() + "?mode=rw",
                uri=True,
                timeout=_BUSY_TIMEOUT,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise QueueError(f"Cannot open the queue file {self.path}: {exc}.") from exc
        try:
            return work(db)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):  # an older actionkit holding the file exclusively
                raise _in_use(self.path) from exc
            raise QueueError(f"Cannot read the queue file {self.path}: {exc}.") from exc
        except sqlite3.Error as exc:
            raise QueueError(f"Cannot read the queue file {self.path}: {exc}.") from exc
        finally:
            db.close()

    async def dead_entries(self) -> list[dict[str, Any]]:
        """The entries set aside, oldest first (as :meth:`SqliteQueue.dead_entries`)."""
        return await asyncio.to_thread(self._with, _dead_rows)

    async def dead_count(self) -> int:
        """How many entries are set aside."""
        return await asyncio.to_thread(self._with, _dead_count)

    async def remove_dead(self, ids: list[str]) -> int:
        """Forget these dead entries (they were replayed); returns how many were there."""
        return await asyncio.to_thread(self._with, functools.partial(_remove_dead, ids=ids))

    async def close(self) -> None:
        """Nothing is held between calls: there is nothing to release."""
