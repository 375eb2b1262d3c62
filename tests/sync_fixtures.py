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
