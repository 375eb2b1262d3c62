"""The last status each alert channel of each sync delivered, in a small SQLite file.

One row per (sync, channel), written only when the channel accepted the alert: a channel
that failed keeps its old status and is sent the alert again after the next run, while the
others move on. One :class:`AlertState` is one transaction (``BEGIN IMMEDIATE`` at open,
held until :meth:`AlertState.close`), so that two runs of one sync finishing together alert
once; several processes may share the file.

Files written before channels existed hold one status per sync (table ``alert_state``): it
is read as the last status of the channel named ``webhook`` (the single webhook of the old
configuration) until that channel writes its own row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from framework.errors import StorageError
from framework.sync.alert_event import HealthStatus

__all__ = ["DEFAULT_ALERT_STATE", "LEGACY_CHANNEL", "AlertState"]

DEFAULT_ALERT_STATE = Path(".actionkit") / "alert-state.sqlite"
"""Where the last alert status of each sync is kept unless the caller says otherwise."""

LEGACY_CHANNEL = "webhook"
"""The channel that inherits a sync's status from a file written before channels existed."""

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS alert_state (
        sync TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        run_id INTEGER,
        changed_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS alert_channel_state (
        sync TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL,
        run_id INTEGER,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (sync, channel)
    )
    """,
)


class AlertState:
    """One transaction on the alert state file; :meth:`close` commits or rolls it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            for statement in _SCHEMA:
                self.db.execute(statement)
            self.db.execute("BEGIN IMMEDIATE")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"The alert state {path} cannot be opened ({exc}); check the path."
            ) from exc

    def get(self, sync: str, channel: str) -> HealthStatus | None:
        """The status ``channel`` last delivered for ``sync`` (None: never one)."""
        row = self.db.execute(
            "SELECT status FROM alert_channel_state WHERE sync = ? AND channel = ?",
            (sync, channel),
        ).fetchone()
        if row is None and channel == LEGACY_CHANNEL:
            row = self.db.execute(
                "SELECT status FROM alert_state WHERE sync = ?", (sync,)
            ).fetchone()
        return cast(HealthStatus, row[0]) if row else None

    def put(self, sync: str, channel: str, status: HealthStatus, run_id: int | None) -> None:
        """Record that ``channel`` delivered ``status`` for ``sync`` (after run ``run_id``)."""
        self.db.execute(
            "INSERT INTO alert_channel_state (sync, channel, status, run_id, changed_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sync, channel) DO UPDATE SET "
            "status = excluded.status, run_id = excluded.run_id, "
            "changed_at = excluded.changed_at",
            (sync, channel, status, run_id, datetime.now(UTC).isoformat(timespec="seconds")),
        )

    def close(self, commit: bool) -> None:
        """End the transaction (commit or roll back) and close the file."""
        try:
            self.db.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.Error as exc:
            raise StorageError(f"The alert state {self.path} cannot be written ({exc}).") from exc
        finally:
            self.db.close()
