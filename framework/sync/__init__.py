"""Reverse-ETL syncs: warehouse rows to destination users, diffed, sent, and recorded.

The path of a row, one module each: ``config`` (the sync file) → ``sources`` (SQLite,
PostgreSQL, CSV, in batches) → ``diff`` and ``values`` (map, type-check, hash) → ``state`` (last
successful values by primary key) → ``plan`` (a row as an identify call to Custom Attributes
Sync) → ``runner`` (one run, through :class:`framework.Router`) → ``history`` (runs, calls and
rejected rows) → ``alerts`` (the run's health told to the ``alert_channels``: webhook, Slack,
PagerDuty, ``alert_email``). See docs/sync.md.
"""

from __future__ import annotations

from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.history import RunHistory
from framework.sync.runner import SyncResult, run_sync

__all__ = ["RunHistory", "SyncConfig", "SyncResult", "load_sync_config", "run_sync"]
