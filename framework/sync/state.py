"""The diff state of syncs: the last successfully sent values of every row, by primary key.

A row's entry is the hash of what was sent (user UID and attributes) and the values
themselves, as JSON; it is written only when the destination accepted the row. So a row that
failed keeps its previous entry (or none) and differs again on the next run: it is retried
until it succeeds. Rows seen during a run are noted in a temporary table; what the state holds
and the run did not see are the removed rows. ``reset`` forgets a sync (``--full-resync``).

Two stores with one interface (:class:`StateStore`): a SQLite file (the embedded default) and
PostgreSQL (a ``postgresql://`` URL, through psycopg). Failures raise
:class:`~framework.errors.StorageError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from framework.errors import StorageError
from framework.sync.sources import redact_url

__all__ = ["StateStore", "open_state"]

_TABLE = """
CREATE TABLE IF NOT EXISTS sync_state (
    sync TEXT NOT NULL,
    pk TEXT NOT NULL,
    hash TEXT NOT NULL,
    sent TEXT NOT NULL,
    PRIMARY KEY (sync, pk)
)
"""
_SEEN = "CREATE TEMPORARY TABLE IF NOT EXISTS sync_seen (pk TEXT PRIMARY KEY)"


class StateStore:
    """The state of syncs in a SQL database (SQLite or PostgreSQL); use as a context manager.

    Subclasses set the connection and the placeholder style; the SQL is shared.
    """

    _mark = "?"

    def __init__(self, connection: Any, where: str, error: type[Exception]) -> None:
        self._db = connection
        self.where = where
        self._error = error
        self._execute(_TABLE)
        self._execute(_SEEN)
        self._commit()

    # -- the SQL dialect -----------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self._mark == "?" else sql.replace("?", self._mark)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._db.execute(self._sql(sql), tuple(params))
        except self._error as exc:
            raise StorageError(f"The sync state {self.where} failed: {exc}.") from exc

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            self._db.cursor().executemany(self._sql(sql), rows)
        except self._error as exc:
            raise StorageError(f"The sync state {self.where} failed: {exc}.") from exc

    def _commit(self) -> None:
        try:
            self._db.commit()
        except self._error as exc:
            raise StorageError(f"The sync state {self.where} failed: {exc}.") from exc

    # -- the interface -------------------------------------------------------------------

    def begin(self) -> None:
        """Start a run: forget the rows seen by the previous one."""
        self._execute("DELETE FROM sync_seen")
        self._commit()

    def lookup(self, sync: str, keys: Sequence[str]) -> dict[str, str]:
        """The stored hash of each of ``keys`` that has an entry."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._execute(
                f"SELECT pk, hash FROM sync_state WHERE sync = ? AND pk IN ({marks})",
                [sync, *chunk],
            ).fetchall()
            found.update({row[0]: row[1] for row in rows})
        return found

    def mark_seen(self, keys: Sequence[str]) -> None:
        """Note that this run saw these primary keys."""
        self._executemany(
            "INSERT INTO sync_seen (pk) VALUES (?) ON CONFLICT (pk) DO NOTHING",
            [(key,) for key in keys],
        )

    def save(self, sync: str, entries: Sequence[tuple[str, str, str]]) -> None:
        """Store (primary key, hash, values as JSON) of rows the destination accepted."""
        self._executemany(
            "INSERT INTO sync_state (sync, pk, hash, sent) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sync, pk) DO UPDATE SET hash = excluded.hash, sent = excluded.sent",
            [(sync, key, digest, sent) for key, digest, sent in entries],
        )
        self._commit()

    def removed(self, sync: str, *, page: int = 1000) -> Iterator[list[str]]:
        """The keys in the state that this run did not see, a page at a time."""
        last = ""
        while True:
            rows = self._execute(
                "SELECT pk FROM sync_state WHERE sync = ? AND pk > ? AND pk NOT IN "
                "(SELECT pk FROM sync_seen) ORDER BY pk LIMIT ?",
                [sync, last, page],
            ).fetchall()
            if not rows:
                return
            keys = [row[0] for row in rows]
            yield keys
            last = keys[-1]

    def forget(self, sync: str, keys: Sequence[str]) -> None:
        """Remove these rows' entries (rows gone from the source)."""
        self._executemany(
            "DELETE FROM sync_state WHERE sync = ? AND pk = ?", [(sync, key) for key in keys]
        )
        self._commit()

    def sent_values(self, sync: str, key: str) -> str | None:
        """The JSON of the values last sent for one row, or None."""
        row = self._execute(
            "SELECT sent FROM sync_state WHERE sync = ? AND pk = ?", [sync, key]
        ).fetchone()
        return None if row is None else str(row[0])

    def count(self, sync: str) -> int:
        """How many rows of ``sync`` the state holds."""
        row = self._execute("SELECT count(*) FROM sync_state WHERE sync = ?", [sync]).fetchone()
        return int(row[0])

    def reset(self, sync: str) -> None:
        """Forget every row of ``sync``: the next run sends them all (``--full-resync``)."""
        self._execute("DELETE FROM sync_state WHERE sync = ?", [sync])
        self._commit()

    def rollback(self) -> None:
        """Drop uncommitted changes (a dry run notes seen rows and keeps nothing)."""
        self._db.rollback()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SQLiteState(StateStore):
    """The embedded default: a SQLite file."""

    def __init__(self, path: str | Path) -> None:
        where = str(path)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"The sync state {where} cannot be opened ({exc}).") from exc
        super().__init__(connection, where, sqlite3.Error)


class PostgresState(StateStore):
    """The state in a PostgreSQL database (table ``sync_state``)."""

    _mark = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        where = redact_url(url)
        try:
            connection = psycopg.connect(url)
        except psycopg.Error as exc:
            raise StorageError(f"The sync state {where} cannot be reached ({exc}).") from exc
        super().__init__(connection, where, psycopg.Error)


def open_state(target: str | Path) -> StateStore:
    """The state store at ``target``: a ``postgresql://`` URL, or a SQLite file path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresState(text)
    return SQLiteState(text)
