"""The dead-letter store: deliveries that finally failed, kept with all it takes to replay them.

The embedded default is a SQLite file (WAL mode, safe for several processes on one machine).
Each letter holds the event, the instance and mapping it was for, the error, the number of
attempts and the (redacted) last request. A replayed letter that succeeds is removed.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from framework.errors import DeadLetterStoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    instance TEXT NOT NULL,
    mapping TEXT NOT NULL,
    action TEXT NOT NULL,
    message_id TEXT,
    event TEXT NOT NULL,
    error_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    status INTEGER,
    attempts INTEGER NOT NULL,
    request TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_instance ON dead_letters (instance, id);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One failed delivery; ``id`` and ``created_at`` are set by the store."""

    instance: str
    mapping: str
    action: str
    event: dict[str, Any]
    error_code: str
    error_message: str
    attempts: int
    status: int | None = None
    request: dict[str, Any] | None = None
    id: int | None = None
    created_at: str | None = None

    @property
    def message_id(self) -> str | None:
        """The event's messageId, when it has one."""
        value = self.event.get("messageId")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the letter."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "instance": self.instance,
            "mapping": self.mapping,
            "action": self.action,
            "message_id": self.message_id,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "status": self.status,
            "attempts": self.attempts,
            "event": self.event,
            "request": self.request,
        }


def _row_to_letter(row: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        instance=row["instance"],
        mapping=row["mapping"],
        action=row["action"],
        event=json.loads(row["event"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        attempts=row["attempts"],
        status=row["status"],
        request=json.loads(row["request"]) if row["request"] else None,
        id=row["id"],
        created_at=row["created_at"],
    )


class DeadLetterStore:
    """A SQLite file of dead letters; usable from several threads (calls are serialised)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DeadLetterStoreError(
                f"Cannot open the dead-letter store at {path}: {exc}."
            ) from exc

    def __enter__(self) -> DeadLetterStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock, self._db:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DeadLetterStoreError(
                f"The dead-letter store at {self.path} failed: {exc}."
            ) from exc

    def add(self, letter: DeadLetter) -> int:
        """Store a letter; returns its id."""
        created = letter.created_at or datetime.now(UTC).isoformat(timespec="milliseconds")
        try:
            with self._lock, self._db:
                cursor = self._db.execute(
                    "INSERT INTO dead_letters (created_at, instance, mapping, action, message_id,"
                    " event, error_code, error_message, status, attempts, request)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        created,
                        letter.instance,
                        letter.mapping,
                        letter.action,
                        _storable(letter.message_id),
                        _json_text(letter.event),
                        letter.error_code,
                        _storable(letter.error_message),
                        letter.status,
                        letter.attempts,
                        _json_text(letter.request) if letter.request is not None else None,
                    ),
                )
        except sqlite3.Error as exc:
            raise DeadLetterStoreError(
                f"The dead-letter store at {self.path} failed: {exc}."
            ) from exc
        return int(cursor.lastrowid or 0)

    def list(
        self, *, instance: str | None = None, limit: int | None = None
    ) -> builtins.list[DeadLetter]:
        """Letters, oldest first, optionally only one instance's."""
        sql = "SELECT * FROM dead_letters"
        params: tuple[Any, ...] = ()
        if instance is not None:
            sql += " WHERE instance = ?"
            params = (instance,)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        return [_row_to_letter(row) for row in self._run(sql, params)]

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(self.list())

    def get(self, letter_id: int) -> DeadLetter | None:
        """One letter by id, or ``None``."""
        rows = self._run("SELECT * FROM dead_letters WHERE id = ?", (letter_id,))
        return _row_to_letter(rows[0]) if rows else None

    def remove(self, letter_id: int) -> bool:
        """Remove a letter; True when it was there."""
        before = self.count()
        self._run("DELETE FROM dead_letters WHERE id = ?", (letter_id,))
        return self.count() < before

    def record_retry(
        self,
        letter_id: int,
        *,
        error_code: str,
        error_message: str,
        attempts: int,
        status: int | None,
    ) -> None:
        """A replay of the letter failed again: keep its latest error, add its attempts."""
        self._run(
            "UPDATE dead_letters SET error_code = ?, error_message = ?, status = ?,"
            " attempts = attempts + ? WHERE id = ?",
            (error_code, error_message, status, attempts, letter_id),
        )

    def count(self, *, instance: str | None = None) -> int:
        """How many letters are stored (for one instance, if given)."""
        if instance is None:
            rows = self._run("SELECT COUNT(*) AS n FROM dead_letters")
        else:
            rows = self._run(
                "SELECT COUNT(*) AS n FROM dead_letters WHERE instance = ?", (instance,)
            )
        return int(rows[0]["n"])


def _utf8(text: str) -> bool:
    """Whether SQLite can store ``text``: a lone surrogate (JSON's ``"\\ud800"``) cannot be
    written in UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_text(value: Any) -> str:
    """``value`` as JSON text to store: readable UTF-8, or with every non-ASCII character
    escaped when it holds a lone surrogate (read back, the value is the same)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if _utf8(text) else json.dumps(value)


def _storable(text: str | None) -> str | None:
    """``text`` with any lone surrogate written as its escape (``\\ud800``), so that the
    letter is stored rather than lost."""
    if text is None or _utf8(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
