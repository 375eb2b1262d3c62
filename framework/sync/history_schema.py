"""The run history's SQLite layout: its tables, the migrations of older files, and rows read
back as records (:mod:`framework.sync.history` keeps the store itself)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from framework.sync.records import COUNT_NAMES, CallRecord, RunRecord

__all__ = ["CALL_COLUMNS", "MIGRATIONS", "RUN_COLUMNS", "SCHEMA", "call_record", "run_record"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sync TEXT NOT NULL,
    mode TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    queried INTEGER NOT NULL DEFAULT 0,
    added INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    host TEXT,
    pid INTEGER,
    rows_recorded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_sync ON runs (sync, id);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    primary_keys TEXT NOT NULL,
    method TEXT,
    url TEXT,
    request TEXT,
    status INTEGER,
    response TEXT,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id, id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    primary_key TEXT NOT NULL,
    error_code TEXT NOT NULL,
    error TEXT NOT NULL,
    call_id INTEGER REFERENCES calls (id)
);
CREATE INDEX IF NOT EXISTS rejected_run ON rejected (run_id, primary_key);
CREATE INDEX IF NOT EXISTS rejected_key ON rejected (primary_key);
CREATE TABLE IF NOT EXISTS row_groups (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    operation TEXT,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    keys TEXT NOT NULL,
    call_ids TEXT,
    errors TEXT
);
CREATE INDEX IF NOT EXISTS row_groups_run ON row_groups (run_id, status, operation);
"""
"""The tables and indexes of a history file, made when missing."""

MIGRATIONS = (
    # (column of runs, the statements that add it to a file written before it existed)
    ("pid", ("ALTER TABLE runs ADD COLUMN host TEXT", "ALTER TABLE runs ADD COLUMN pid INTEGER")),
    (
        "rows_recorded",
        ("ALTER TABLE runs ADD COLUMN rows_recorded INTEGER NOT NULL DEFAULT 0",),
    ),
)
"""Columns added to ``runs`` since the first version; new tables need no migration (``CREATE
TABLE IF NOT EXISTS``)."""


RUN_COLUMNS = (
    "id, sync, mode, dry_run, status, started_at, ended_at, "
    + ", ".join(COUNT_NAMES)
    + ", error, rows_recorded"
)
"""The columns of ``runs`` that :func:`run_record` reads, in its order."""
CALL_COLUMNS = (
    "id, run_id, primary_keys, method, url, request, status, response, outcome, attempts, "
    "error_code, error_message"
)
"""The columns of ``calls`` that :func:`call_record` reads, in its order."""


def run_record(row: tuple[Any, ...]) -> RunRecord:
    """A ``runs`` row, selected as :data:`RUN_COLUMNS`, as a :class:`RunRecord`."""
    counts = dict(zip(COUNT_NAMES, row[7:14], strict=True))
    return RunRecord(
        id=row[0],
        sync=row[1],
        mode=row[2],
        dry_run=bool(row[3]),
        status=row[4],
        started_at=row[5],
        ended_at=row[6],
        counts=counts,
        error=row[14],
        rows_recorded=bool(row[15]),
    )


def call_record(row: Iterable[Any]) -> CallRecord:
    """A ``calls`` row, selected as :data:`CALL_COLUMNS`, as a :class:`CallRecord`."""
    (id_, run_id, keys, method, url, request, status, response, outcome, attempts, code, msg) = row
    return CallRecord(
        id=id_,
        run_id=run_id,
        primary_keys=tuple(json.loads(keys)),
        method=method,
        url=url,
        request=json.loads(request) if request is not None else None,
        status=status,
        response=response,
        outcome=outcome,
        attempts=attempts,
        error_code=code,
        error_message=msg,
    )
