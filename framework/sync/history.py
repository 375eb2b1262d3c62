"""Run history of syncs: every run, its counts, its rows, rejected rows and API calls.

The store is a SQLite file (WAL mode: a debugger may read it while a sync writes it), by
default ``.actionkit/sync-history.sqlite``. Four tables:

- ``runs``: one row per run (:class:`RunRecord`): sync name, mode, dry run or not, status
  (``running``, ``succeeded``, ``partial`` when some rows were rejected, ``failed`` when the run
  stopped on an error, ``interrupted`` when its process stopped before the end), start and end
  (ISO 8601, UTC), the row counts (queried, added, changed, unchanged, removed, succeeded,
  rejected), the run's error message, if any, and the host and process id that ran it.
- ``calls``: the API calls of a run (:class:`CallRecord`): primary keys of the rows the request
  carried, method, URL, request (JSON, password values masked), HTTP status, response (the start
  of the body), outcome, attempts and error. Every failed call is kept; of the successful ones,
  the first ``keep_calls`` of each run (see the runner).
- ``rejected``: the rows of a run that did not reach the destination (:class:`RejectedRow`):
  primary key, error code and message, and the call they were part of (none for a row rejected
  before sending, e.g. a type error).
- ``row_groups``: the rows of a run (:class:`RowRecord`: primary key, operation (added,
  changed, unchanged, removed; none for a row refused before the diff), status (succeeded,
  rejected, skipped), error, and the call that carried it when that call was kept), stored a
  group at a time: one record per batch and (operation, status), holding how many rows, their
  keys, call ids and errors as JSON arrays. Every row sent, refused or removed is in one; an
  unchanged row that is not sent (mode ``update``) is only counted in its run.

Why groups: a first run of a million rows sends a million rows, and a record per row cost
more than the rest of the history together (an insert and two index entries per row, a few per
cent of the run). A group is one insert per batch whatever its size; a page of rows reads the
groups' counts (a thousand for a million rows) and decodes the one or two groups it covers; a
filter is an indexed condition on groups; a search by primary key looks for the key's JSON text
in the run's groups (``instr``) and decodes only those that hold it.

Files written before ``row_groups`` existed are migrated when opened: the table is created and
``runs`` gains ``rows_recorded`` (0 for the old runs, whose rows are read from ``rejected``:
their rejected rows only, without an operation).

The records are defined in :mod:`framework.sync.records` and importable from here too.

Read API (what the debugger and alerts use; all return frozen dataclasses with ``to_dict()``)::

    with RunHistory(path) as history:
        history.list_runs(sync=None, limit=100)      # newest first
        history.get_run(run_id)                      # RunRecord or None
        history.latest_run(sync)                     # newest finished run of a sync, or None
        history.rejected_rows(run_id, primary_key=None, limit=None)
        history.rows(run_id, status=None, operation=None, primary_key=None,
                     limit=200, offset=0)           # RowPage: rows and how many match
        history.calls(run_id, primary_key=None, limit=None, offset=0)
        history.count_calls(run_id, primary_key=None)
        history.get_call(call_id)                    # CallRecord or None
        history.find_primary_key(primary_key, sync=None)  # rejected rows of every run
        history.export(run_id, "csv" | "json", stream, primary_key=None)

Write API (the runner): ``start_run``, ``record``, ``finish_run``.

Interrupted runs: a process killed with ``kill -9`` (or a machine that stopped) never finishes
its run. Each run records its host and process id; whenever the history is opened, listed or
read, a ``running`` run of this host whose process is gone is marked ``interrupted``, ended
now, with an error saying so. (A run of another host is left ``running``: its process cannot
be seen from here.)
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

from framework.errors import StorageError
from framework.sync.history_export import write_rejected
from framework.sync.history_schema import (
    CALL_COLUMNS,
    MIGRATIONS,
    RUN_COLUMNS,
    SCHEMA,
    call_record,
    run_record,
)
from framework.sync.records import (
    COUNT_NAMES,
    OPERATIONS,
    ROW_STATUSES,
    CallRecord,
    RejectedRow,
    RowOperation,
    RowPage,
    RowRecord,
    RowStatus,
    RunBatch,
    RunRecord,
    RunStatus,
    decode_group,
    group_rows,
)

__all__ = [
    "COUNT_NAMES",
    "DEFAULT_HISTORY",
    "OPERATIONS",
    "ROW_STATUSES",
    "CallRecord",
    "RejectedRow",
    "RowOperation",
    "RowPage",
    "RowRecord",
    "RowStatus",
    "RunBatch",
    "RunHistory",
    "RunRecord",
    "RunStatus",
]

DEFAULT_HISTORY = Path(".actionkit") / "sync-history.sqlite"
"""Where run history is kept unless a sync says otherwise."""

logger = logging.getLogger("actionkit.sync")

INTERRUPTED_ERROR = (
    "The run stopped before the end: its process ended without finishing it (killed, or the "
    "machine stopped). Rows it sent before are in the state; run the sync again."
)
"""The error of a run found ``running`` whose process is gone."""


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunHistory:
    """The run history store (a SQLite file); safe to share between threads and processes."""

    def __init__(self, path: str | Path = DEFAULT_HISTORY) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # A commit per batch of rows, without an fsync each: in WAL mode the file stays
            # consistent; a power cut may lose the last batches' records, never corrupt it.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"The sync history {self.path} cannot be opened ({exc}); check the path."
            ) from exc
        self._lock = threading.Lock()
        self._settle_quietly()

    def _migrate(self) -> None:
        """Add to the ``runs`` of an older file the columns it lacks (in one transaction)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        missing = [steps for column, steps in MIGRATIONS if columns and column not in columns]
        if missing:
            with self._db:
                for steps in missing:
                    for statement in steps:
                        self._db.execute(statement)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(self._db.execute(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StorageError(f"The sync history {self.path} cannot be read ({exc}).") from exc

    # -- interrupted runs ----------------------------------------------------------------

    def settle_interrupted(self) -> list[int]:
        """Mark ``interrupted`` every running run of this host whose process is gone.

        Returns the ids of the runs marked. Called when the history is opened and before each
        run starts, list and read, so that a killed run never stays ``running``.
        """
        host = socket.gethostname()
        try:
            with self._lock, self._db:
                rows = self._db.execute(
                    "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)
                ).fetchall()
                gone = [run_id for run_id, pid in rows if pid is None or not _process_alive(pid)]
                self._db.executemany(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running'",
                    [(_now(), INTERRUPTED_ERROR, run_id) for run_id in gone],
                )
        except sqlite3.Error as exc:
            raise StorageError(f"The sync history {self.path} cannot be written ({exc}).") from exc
        return gone

    def _settle_quietly(self) -> None:
        """:meth:`settle_interrupted` for readers: a history they may not write is still read."""
        try:
            self.settle_interrupted()
        except StorageError as exc:
            logger.warning("interrupted runs were not marked: %s", exc.message)

    # -- write ---------------------------------------------------------------------------

    def start_run(self, sync: str, mode: str, *, dry_run: bool = False) -> int:
        """Record the start of a run (with this host and process); returns its id.

        Runs of this host left ``running`` by a process that is gone are marked
        ``interrupted`` first.
        """
        self.settle_interrupted()
        try:
            with self._lock, self._db:
                cursor = self._db.execute(
                    "INSERT INTO runs (sync, mode, dry_run, status, started_at, host, pid, "
                    "rows_recorded) VALUES (?, ?, ?, 'running', ?, ?, ?, 1)",
                    (sync, mode, int(dry_run), _now(), socket.gethostname(), os.getpid()),
                )
        except sqlite3.Error as exc:
            raise StorageError(f"The sync history {self.path} cannot be written ({exc}).") from exc
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def record(self, run_id: int, batch: RunBatch) -> None:
        """Store a batch's calls, rows and rejected rows, in one transaction."""
        if not batch.calls and not batch.rejected and not batch.rows:
            return
        try:
            with self._lock, self._db:
                ids: list[int] = []
                for call in batch.calls:
                    cursor = self._db.execute(
                        "INSERT INTO calls (run_id, primary_keys, method, url, request, status, "
                        "response, outcome, attempts, error_code, error_message) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            json.dumps(list(call.primary_keys)),
                            call.method,
                            call.url,
                            json.dumps(call.request) if call.request is not None else None,
                            call.status,
                            call.response,
                            call.outcome,
                            call.attempts,
                            call.error_code,
                            call.error_message,
                        ),
                    )
                    ids.append(cursor.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO rejected (run_id, primary_key, error_code, error, call_id) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (run_id, key, code, error, ids[index] if index is not None else None)
                        for key, code, error, index in batch.rejected
                    ],
                )
                self._db.executemany(
                    "INSERT INTO row_groups (run_id, operation, status, count, keys, call_ids, "
                    "errors) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, *group) for group in group_rows(batch.rows, ids)],
                )
        except sqlite3.Error as exc:
            raise StorageError(f"The sync history {self.path} cannot be written ({exc}).") from exc

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        counts: Mapping[str, int],
        *,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: its status, its row counts and the error that stopped it."""
        values = [int(counts.get(name, 0)) for name in COUNT_NAMES]
        assignments = ", ".join(f"{name} = ?" for name in COUNT_NAMES)
        try:
            with self._lock, self._db:
                self._db.execute(
                    f"UPDATE runs SET status = ?, ended_at = ?, error = ?, {assignments} "
                    "WHERE id = ?",
                    (status, _now(), error, *values, run_id),
                )
        except sqlite3.Error as exc:
            raise StorageError(f"The sync history {self.path} cannot be written ({exc}).") from exc

    # -- read ----------------------------------------------------------------------------

    def list_runs(self, sync: str | None = None, *, limit: int | None = 100) -> list[RunRecord]:
        """Runs, newest first; only those of ``sync`` when given."""
        self._settle_quietly()
        where, params = ("WHERE sync = ?", [sync]) if sync is not None else ("", [])
        rows = self._query(
            f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY id DESC LIMIT ?",
            [*params, -1 if limit is None else limit],
        )
        return [run_record(row) for row in rows]

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run, or None when there is no run with that id."""
        self._settle_quietly()
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", [run_id])
        return run_record(rows[0]) if rows else None

    def latest_run(self, sync: str) -> RunRecord | None:
        """The newest finished run of ``sync`` (not a dry run), or None."""
        rows = self._query(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE sync = ? AND status != 'running' "
            "AND dry_run = 0 ORDER BY id DESC LIMIT 1",
            [sync],
        )
        return run_record(rows[0]) if rows else None

    @staticmethod
    def _calls_where(run_id: int, primary_key: str | None) -> tuple[str, list[Any]]:
        if primary_key is None:
            return "WHERE run_id = ?", [run_id]
        carries = "EXISTS (SELECT 1 FROM json_each(calls.primary_keys) WHERE value = ?)"
        return f"WHERE run_id = ? AND {carries}", [run_id, primary_key]

    def calls(
        self,
        run_id: int,
        *,
        primary_key: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[CallRecord]:
        """The calls kept for a run, in the order they were made (only those carrying a key).

        ``limit`` and ``offset`` read one page.
        """
        where, params = self._calls_where(run_id, primary_key)
        rows = self._query(
            f"SELECT {CALL_COLUMNS} FROM calls {where} ORDER BY id LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, max(offset, 0)],
        )
        return [call_record(row) for row in rows]

    def count_calls(self, run_id: int, *, primary_key: str | None = None) -> int:
        """How many calls were kept for a run (only those carrying ``primary_key``)."""
        where, params = self._calls_where(run_id, primary_key)
        [(count,)] = self._query(f"SELECT COUNT(*) FROM calls {where}", params)
        return int(count)

    def rows(
        self,
        run_id: int,
        *,
        status: RowStatus | None = None,
        operation: RowOperation | None = None,
        primary_key: str | None = None,
        limit: int | None = 200,
        offset: int = 0,
    ) -> RowPage:
        """One page of a run's rows, filtered when asked: batch after batch, a batch's rows
        grouped by operation and status (the groups in the order of their first row).

        ``total`` counts every row that matches. A run written before rows were recorded
        (``rows_recorded`` false) answers from its rejected rows: status ``rejected``, no
        operation.
        """
        run = self.get_run(run_id)
        if run is not None and not run.rows_recorded:
            return self._rows_of_rejected(run_id, status, operation, primary_key, limit, offset)
        conditions: list[str] = ["run_id = ?"]
        params: list[Any] = [run_id]
        for column, value in (("status", status), ("operation", operation)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(conditions)
        start, stop = max(offset, 0), None if limit is None else max(offset, 0) + limit
        if primary_key is not None:
            return self._rows_with_key(run_id, primary_key, where, params, start, stop)
        counts = self._query(f"SELECT id, count FROM row_groups WHERE {where} ORDER BY id", params)
        total = sum(count for _, count in counts)
        wanted: list[tuple[int, int]] = []  # (group id, rows before it)
        seen = 0
        for group_id, count in counts:
            if seen + count > start and (stop is None or seen < stop):
                wanted.append((group_id, seen))
            seen += count
        items: list[RowRecord] = []
        for group_id, before in wanted:
            [group] = self._query(
                "SELECT operation, status, keys, call_ids, errors FROM row_groups WHERE id = ?",
                [group_id],
            )
            rows = decode_group(run_id, *group)
            items.extend(rows[max(start - before, 0) : None if stop is None else stop - before])
        return RowPage(items, total, start)

    def _rows_with_key(
        self,
        run_id: int,
        primary_key: str,
        where: str,
        params: list[Any],
        start: int,
        stop: int | None,
    ) -> RowPage:
        """The rows of a run with one primary key: the groups whose keys hold its JSON text."""
        groups = self._query(
            "SELECT operation, status, keys, call_ids, errors FROM row_groups "
            f"WHERE {where} AND instr(keys, ?) > 0 ORDER BY id",
            [*params, json.dumps(primary_key, ensure_ascii=False)],
        )
        found = [
            row
            for group in groups
            for row in decode_group(run_id, *group)
            if row.primary_key == primary_key
        ]
        return RowPage(found[start:stop], len(found), start)

    def _rows_of_rejected(
        self,
        run_id: int,
        status: RowStatus | None,
        operation: RowOperation | None,
        primary_key: str | None,
        limit: int | None,
        offset: int,
    ) -> RowPage:
        """The rows of a run recorded before rows were: its rejected rows."""
        if status not in (None, "rejected") or operation is not None:
            return RowPage([], 0, max(offset, 0))
        rejected = self.rejected_rows(run_id, primary_key)
        page = rejected[max(offset, 0) :][: limit if limit is not None else None]
        rows = [
            RowRecord(
                primary_key=row.primary_key,
                operation=None,
                status="rejected",
                error_code=row.error_code,
                error=row.error,
                call_id=row.call.id if row.call is not None else None,
                run_id=run_id,
                id=row.id,
            )
            for row in page
        ]
        return RowPage(rows, len(rejected), max(offset, 0))

    def get_call(self, call_id: int) -> CallRecord | None:
        """One call, or None."""
        rows = self._query(f"SELECT {CALL_COLUMNS} FROM calls WHERE id = ?", [call_id])
        return call_record(rows[0]) if rows else None

    def _rejected(self, where: str, params: list[Any], limit: int | None) -> list[RejectedRow]:
        columns = ", ".join(f"c.{name.strip()}" for name in CALL_COLUMNS.split(","))
        rows = self._query(
            f"SELECT r.id, r.run_id, r.primary_key, r.error_code, r.error, {columns} "
            "FROM rejected r "
            f"LEFT JOIN calls c ON c.id = r.call_id {where} ORDER BY r.id LIMIT ?",
            [*params, -1 if limit is None else limit],
        )
        return [
            RejectedRow(
                id=row[0],
                run_id=row[1],
                primary_key=row[2],
                error_code=row[3],
                error=row[4],
                call=call_record(row[5:]) if row[5] is not None else None,
            )
            for row in rows
        ]

    def rejected_rows(
        self, run_id: int, primary_key: str | None = None, *, limit: int | None = None
    ) -> list[RejectedRow]:
        """The rejected rows of a run, each with its call; only ``primary_key``'s when given."""
        if primary_key is None:
            return self._rejected("WHERE r.run_id = ?", [run_id], limit)
        return self._rejected(
            "WHERE r.run_id = ? AND r.primary_key = ?", [run_id, primary_key], limit
        )

    def find_primary_key(self, primary_key: str, sync: str | None = None) -> list[RejectedRow]:
        """Every rejection of one primary key, across runs (of ``sync`` when given)."""
        if sync is None:
            return self._rejected("WHERE r.primary_key = ?", [primary_key], None)
        return self._rejected(
            "WHERE r.primary_key = ? AND r.run_id IN (SELECT id FROM runs WHERE sync = ?)",
            [primary_key, sync],
            None,
        )

    def iter_rejected(self, run_id: int, *, page: int = 1000) -> Iterator[RejectedRow]:
        """Every rejected row of a run, read a page at a time (for large exports)."""
        last = 0
        while True:
            rows = self._rejected("WHERE r.run_id = ? AND r.id > ?", [run_id, last], page)
            if not rows:
                return
            yield from rows
            last = rows[-1].id or last

    def export(
        self,
        run_id: int,
        fmt: Literal["csv", "json"],
        stream: TextIO,
        *,
        primary_key: str | None = None,
    ) -> int:
        """Write a run's rejected rows to ``stream`` as CSV or JSON; returns how many.

        CSV has one line per rejected row (run id, primary key, error code, error, HTTP status,
        request and response as JSON text); JSON is ``{"run": ..., "rejected": [...]}``.
        """
        run = self.get_run(run_id)
        if run is None:
            raise StorageError(f"There is no run {run_id} in the sync history {self.path}.")
        rows: Iterable[RejectedRow] = (
            self.rejected_rows(run_id, primary_key)
            if primary_key is not None
            else self.iter_rejected(run_id)
        )
        return write_rejected(run, rows, fmt, stream)
