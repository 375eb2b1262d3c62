"""The records of the run history: runs, API calls and rejected rows (frozen dataclasses).

:mod:`framework.sync.history` stores and reads them; each has ``to_dict()`` for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COUNT_NAMES",
    "CallRecord",
    "RejectedRow",
    "RunBatch",
    "RunRecord",
    "RunStatus",
]

RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted"]
"""``partial``: the run finished and some rows were rejected; ``failed``: it stopped early on
an error; ``interrupted``: its process stopped before the end (killed, Ctrl-C, a crash)."""

COUNT_NAMES = ("queried", "added", "changed", "unchanged", "removed", "succeeded", "rejected")
"""The row counts of a run, in the order they are shown."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of a sync: when, how it ended, and its row counts (``counts`` by name)."""

    id: int
    sync: str
    mode: str
    dry_run: bool
    status: RunStatus
    started_at: str
    ended_at: str | None
    counts: dict[str, int]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "sync": self.sync,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            **self.counts,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One API call of a run: the request sent (masked) and the answer; ``id`` set by the store.

    ``primary_keys`` are the keys of the rows the request carried.
    """

    primary_keys: tuple[str, ...]
    outcome: str
    attempts: int
    method: str | None = None
    url: str | None = None
    request: dict[str, Any] | None = None
    status: int | None = None
    response: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    id: int | None = None
    run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "primary_keys": list(self.primary_keys),
            "method": self.method,
            "url": self.url,
            "request": self.request,
            "status": self.status,
            "response": self.response,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row of a run that did not reach the destination, why, and the call it was part of.

    ``call`` is the request and response of that call (None for a row refused before sending,
    such as one whose values have the wrong type).
    """

    primary_key: str
    error_code: str
    error: str
    call: CallRecord | None = None
    run_id: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "primary_key": self.primary_key,
            "error_code": self.error_code,
            "error": self.error,
            "call": self.call.to_dict() if self.call is not None else None,
        }


@dataclass(slots=True)
class RunBatch:
    """What the runner records for one batch of rows: calls, and rejected rows by call index.

    ``rejected`` holds (primary key, error code, error, index into ``calls`` or None).
    """

    calls: list[CallRecord] = field(default_factory=list)
    rejected: list[tuple[str, str, str, int | None]] = field(default_factory=list)
