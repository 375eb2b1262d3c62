"""Warehouse fixtures for the sync tests: a users table in SQLite or PostgreSQL, and sync files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

COLUMNS = ("id", "user_uid", "plan", "ltv", "is_active", "audiences")


def user(index: int, **changes: Any) -> dict[str, Any]:
    """The fixture user number ``index`` as a row, with some columns changed."""
    row = {
        "id": index,
        "user_uid": f"user-{index}",
        "plan": ("free", "pro")[index % 2],
        "ltv": index * 1.5,
        "is_active": index % 2,
        "audiences": "newsletter,beta" if index % 3 == 0 else "newsletter",
    }
    row.update(changes)
    return row


def write_sqlite(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replace the ``users`` table of the SQLite file at ``path`` with ``rows``."""
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE IF EXISTS users")
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, user_uid TEXT, plan TEXT, ltv, "
            "is_active INTEGER, audiences TEXT)"
        )
        db.executemany(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
            [tuple(row[column] for column in COLUMNS) for row in rows],
        )
    db.close()


def instance_file(folder: Path, api_url: str) -> Path:
    """A Contentstack instance pointed at the emulator, written in ``folder``."""
    path = folder / "instance.json"
    path.write_text(
        json.dumps(
            {
                "destination": "contentstack",
                "name": "personalize",
                "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": api_url},
                "mappings": [],
                "delivery": {"allowLoopback": True},
            }
        )
    )
    return path


def sync_document(folder: Path, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A sync of the users table; state, history and dead letters inside ``folder``."""
    return {
        "name": "users",
        "source": source,
        "primaryKey": "id",
        "userUid": "user_uid",
        "fields": {
            "plan": "plan",
            "ltv": {"column": "ltv", "type": "number"},
            "active": {"column": "is_active", "type": "boolean"},
            "audiences": {"column": "audiences", "type": "list"},
        },
        "destination": "instance.json",
        "state": "state.sqlite",
        "history": "history.sqlite",
        "deadLetters": None,
        "concurrency": 1,
        **extra,
    }


def attributes(api_state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The emulator's attributes of each user of the project ``proj``."""
    users = api_state["projects"].get("proj", {}).get("users", {})
    return {uid: record["attributes"] for uid, record in users.items()}


# -- a run history written by the first version (before rows were recorded) -----------

FIRST_HISTORY_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sync TEXT NOT NULL, mode TEXT NOT NULL,
    dry_run INTEGER NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
    queried INTEGER NOT NULL DEFAULT 0, added INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0, error TEXT
);
CREATE TABLE calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    primary_keys TEXT NOT NULL, method TEXT, url TEXT, request TEXT, status INTEGER,
    response TEXT, outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error_code TEXT,
    error_message TEXT
);
CREATE TABLE rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    primary_key TEXT NOT NULL, error_code TEXT NOT NULL, error TEXT NOT NULL,
    call_id INTEGER REFERENCES calls (id)
);
INSERT INTO runs (sync, mode, dry_run, status, started_at, ended_at, queried, added, succeeded,
                  rejected)
VALUES ('users', 'update', 0, 'partial', '2026-12-01T10:00:00.000+00:00',
        '2026-12-01T10:00:03.500+00:00', 3, 3, 1, 2);
INSERT INTO calls (run_id, primary_keys, method, url, status, outcome, attempts)
VALUES (1, '["u1"]', 'PATCH', 'http://127.0.0.1:1/user-attributes', 400, 'permanent_failure', 1);
INSERT INTO rejected (run_id, primary_key, error_code, error, call_id)
VALUES (1, 'u1', 'INTEGRATION_ERROR', 'The API refused the request.', 1),
       (1, 'u2', 'ATTRIBUTE_TYPE_MISMATCH', 'plan must be a string.', NULL);
"""


def write_old_history(path: Path, *, with_process: bool = False) -> None:
    """A history file in the first schema (with ``host`` and ``pid`` when asked)."""
    db = sqlite3.connect(path)
    with db:
        db.executescript(FIRST_HISTORY_SCHEMA)
        if with_process:
            db.execute("ALTER TABLE runs ADD COLUMN host TEXT")
            db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.close()
