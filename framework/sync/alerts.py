"""Alerts on sync runs: a JSON message to a webhook when a sync's health changes.

After each run, :func:`notify_run` classifies it as ``ok``, ``failed`` (the run stopped on an
error) or ``rejected`` (more rows rejected than ``AlertConfig.max_rejected``), compares that
with the sync's last known status, and posts one message when it changed: once when a sync
starts failing (or changes from failed to rejected, or back), and once when it recovers. A
first run that is ok sends nothing. Dry runs and runs still running are ignored.

The message is Slack-compatible (an incoming webhook shows ``text``); the details are under
``actionkit`` for other receivers::

    {"text": "...", "actionkit": {"sync", "status", "previous_status", "run_id", "rejected",
                                  "max_rejected", "error", "run": {mode, times, counts}}}

The last status of each sync is kept in a small SQLite file (``state_path``), updated only
when the webhook accepted the message, so an alert that could not be posted is posted after
the next run. Several processes may share the file. The webhook URL is a secret (Slack's
carry a token): it never appears in messages, errors or reprs.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from framework.errors import DefinitionError, Problem, StorageError
from framework.sync.records import COUNT_NAMES

__all__ = [
    "DEFAULT_ALERT_STATE",
    "AlertConfig",
    "AlertOutcome",
    "HealthStatus",
    "notify_run",
    "run_health",
]

logger = logging.getLogger("framework.sync.alerts")

DEFAULT_ALERT_STATE = Path(".actionkit") / "alert-state.sqlite"
"""Where the last alert status of each sync is kept unless the caller says otherwise."""

HealthStatus = Literal["ok", "failed", "rejected"]
"""A finished run's health: ``rejected`` means more rejected rows than the threshold."""

_RUN_FIELDS = ("mode", "started_at", "ended_at", *COUNT_NAMES)
# Only counts and times go to the webhook: samples of rows (user data) never leave.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    sync TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    run_id INTEGER,
    changed_at TEXT NOT NULL
)
"""


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Where to post alerts, and when rejected rows are too many.

    ``webhook_url``: an https URL (http only on loopback). ``max_rejected``: a run with more
    rejected rows than this alerts (0: any rejected row). ``timeout``: seconds for the post.
    """

    webhook_url: str = field(repr=False)
    max_rejected: int = 0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        url = httpx.URL(self.webhook_url) if "://" in self.webhook_url else None
        loopback = url is not None and url.host in ("127.0.0.1", "localhost", "::1")
        if url is None or not (url.scheme == "https" or (url.scheme == "http" and loopback)):
            problems.append(
                Problem(
                    "/webhookUrl",
                    "The webhook URL must be an https URL (http only on a loopback address).",
                    "INVALID_URL",
                )
            )
        if self.max_rejected < 0:
            problems.append(
                Problem("/maxRejected", "maxRejected must be 0 or more.", "OUT_OF_RANGE")
            )
        if problems:
            raise DefinitionError("The alert settings are invalid.", problems)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AlertConfig:
        """From ``{"webhookUrl" | "webhookUrlEnv": ..., "maxRejected": n, "timeout": s}``.

        ``webhookUrlEnv`` names an environment variable holding the URL, so that the secret
        stays out of the file. Raises :class:`DefinitionError` when a value is wrong.
        """
        url = data.get("webhookUrl")
        env = data.get("webhookUrlEnv")
        if url is None and isinstance(env, str):
            url = os.environ.get(env)
            if not url:
                raise DefinitionError(
                    "The alert webhook URL is not set.",
                    [
                        Problem(
                            "/webhookUrlEnv",
                            f"Set the environment variable {env} to the webhook URL.",
                            "MISSING_VALUE",
                        )
                    ],
                )
        if not isinstance(url, str):
            raise DefinitionError(
                "The alert settings are invalid.",
                [Problem("", "Give webhookUrl or webhookUrlEnv.", "MISSING_VALUE")],
            )
        max_rejected = data.get("maxRejected", 0)
        timeout = data.get("timeout", 10.0)
        if not isinstance(max_rejected, int) or isinstance(max_rejected, bool):
            raise DefinitionError(
                "The alert settings are invalid.",
                [Problem("/maxRejected", "maxRejected must be a whole number.", "TYPE")],
            )
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise DefinitionError(
                "The alert settings are invalid.",
                [Problem("/timeout", "timeout must be a positive number of seconds.", "TYPE")],
            )
        return cls(url, max_rejected, float(timeout))


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What :func:`notify_run` did: the run's health, the previous one, and whether it posted.

    ``sent`` is True when a message was posted and accepted; ``error`` says why a message
    that was due could not be posted (it is posted after the next run instead).
    """

    sync: str
    status: HealthStatus | None
    previous: HealthStatus | None
    sent: bool = False
    message: dict[str, Any] | None = None
    error: str | None = None


def _summary(run: Mapping[str, Any] | _HasToDict) -> dict[str, Any]:
    data = dict(run) if isinstance(run, Mapping) else run.to_dict()
    counts = data.get("counts")
    if isinstance(counts, Mapping):
        data = {**counts, **{k: v for k, v in data.items() if k != "counts"}}
    return data


def run_health(run: Mapping[str, Any] | _HasToDict, max_rejected: int) -> HealthStatus | None:
    """A run's health (None for a dry run or a run still running); see :data:`HealthStatus`."""
    data = _summary(run)
    status = data.get("status")
    if data.get("dry_run") or status not in ("succeeded", "partial", "failed"):
        return None
    if status == "failed":
        return "failed"
    return "rejected" if int(data.get("rejected") or 0) > max_rejected else "ok"


def _text(
    data: dict[str, Any], status: HealthStatus, previous: HealthStatus | None, limit: int
) -> str:
    sync, run_id = data.get("sync"), data.get("run_id", data.get("id"))
    if status == "failed":
        reason = f": {data['error']}" if data.get("error") else "."
        return f":rotating_light: Sync {sync} failed (run {run_id}){reason}"
    if status == "rejected":
        return (
            f":warning: Sync {sync} rejected {data.get('rejected')} rows in run {run_id} "
            f"(more than {limit}). See `actionkit runs show {run_id}`."
        )
    return f":white_check_mark: Sync {sync} recovered: run {run_id} succeeded (was {previous})."


class _StateFile:
    """The last alerted status per sync, in SQLite; one read-modify-write per transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute(_SCHEMA)
            # Held until commit: two runs of one sync finishing together alert once.
            self.db.execute("BEGIN IMMEDIATE")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"The alert state {path} cannot be opened ({exc}); check the path."
            ) from exc

    def get(self, sync: str) -> HealthStatus | None:
        row = self.db.execute("SELECT status FROM alert_state WHERE sync = ?", (sync,)).fetchone()
        return row[0] if row else None

    def put(self, sync: str, status: HealthStatus, run_id: object) -> None:
        self.db.execute(
            "INSERT INTO alert_state (sync, status, run_id, changed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sync) DO UPDATE SET status = excluded.status, "
            "run_id = excluded.run_id, changed_at = excluded.changed_at",
            (sync, status, run_id if isinstance(run_id, int) else None, _now()),
        )

    def close(self, commit: bool) -> None:
        try:
            self.db.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.Error as exc:
            raise StorageError(f"The alert state {self.path} cannot be written ({exc}).") from exc
        finally:
            self.db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _post(
    config: AlertConfig, message: dict[str, Any], transport: httpx.BaseTransport | None
) -> str | None:
    """Post the message; None when the webhook accepted it (2xx), else why not."""
    try:
        with httpx.Client(timeout=config.timeout, transport=transport) as client:
            response = client.post(config.webhook_url, json=message)
    except httpx.TimeoutException:
        return "The alert webhook did not answer in time."
    except httpx.HTTPError as exc:
        return f"The alert webhook could not be reached ({type(exc).__name__})."
    if not response.is_success:
        return f"The alert webhook answered HTTP {response.status_code}."
    return None


def notify_run(
    run_summary: Mapping[str, Any] | _HasToDict,
    config: AlertConfig,
    state_path: str | Path = DEFAULT_ALERT_STATE,
    *,
    transport: httpx.BaseTransport | None = None,
) -> AlertOutcome:
    """Post an alert for a finished run when its sync's health changed; see the module doc.

    ``run_summary``: a :class:`framework.sync.runner.SyncResult`, a
    :class:`framework.sync.history.RunRecord`, or a mapping with ``sync``, ``status``
    (``succeeded``, ``partial``, ``failed``; others are ignored), ``rejected`` (or
    ``counts.rejected``), and optionally ``run_id`` (or ``id``), ``error`` and ``dry_run``.
    ``transport`` is for tests. A webhook that fails does not raise: the outcome's ``error``
    says why, and the state is left as it was. Raises :class:`StorageError` when the state
    file cannot be used.
    """
    data = _summary(run_summary)
    sync = str(data.get("sync"))
    status = run_health(data, config.max_rejected)
    if status is None:
        return AlertOutcome(sync, None, None)
    state = _StateFile(Path(state_path))
    commit = False
    try:
        previous = state.get(sync)
        if previous == status or (previous is None and status == "ok"):
            if previous is None:
                state.put(sync, status, data.get("run_id", data.get("id")))
                commit = True
            return AlertOutcome(sync, status, previous)
        message = {
            "text": _text(data, status, previous, config.max_rejected),
            "actionkit": {
                "sync": sync,
                "status": status,
                "previous_status": previous,
                "run_id": data.get("run_id", data.get("id")),
                "rejected": int(data.get("rejected") or 0),
                "max_rejected": config.max_rejected,
                "error": data.get("error"),
                "run": {key: data[key] for key in _RUN_FIELDS if key in data},
            },
        }
        error = _post(config, message, transport)
        if error is not None:
            logger.warning(
                "%s The alert for sync %s will be posted after its next run.", error, sync
            )
            return AlertOutcome(sync, status, previous, message=message, error=error)
        state.put(sync, status, data.get("run_id", data.get("id")))
        commit = True
        return AlertOutcome(sync, status, previous, sent=True, message=message)
    finally:
        state.close(commit)
