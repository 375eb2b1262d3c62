"""The records of the run history: runs, rows, API calls and rejected rows (frozen dataclasses).

:mod:`framework.sync.history` stores and reads them; each has ``to_dict()`` for JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COUNT_NAMES",
    "OPERATIONS",
    "ROW_STATUSES",
    "CallRecord",
    "RejectedRow",
    "RowGroup",
    "RowOperation",
    "RowPage",
    "RowRecord",
    "RowStatus",
    "RunBatch",
    "RunRecord",
    "RunStatus",
    "decode_group",
    "group_rows",
]

RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted"]
"""``partial``: the run finished and some rows were rejected; ``failed``: it stopped early on
an error; ``interrupted``: its process stopped before the end (killed, Ctrl-C, a crash)."""

COUNT_NAMES = ("queried", "added", "changed", "unchanged", "removed", "succeeded", "rejected")
"""The row counts of a run, in the order they are shown."""

RowOperation = Literal["added", "changed", "unchanged", "removed"]
"""What the diff found for a row: new, changed, the same as the state holds, or gone from the
source."""

OPERATIONS: tuple[RowOperation, ...] = ("added", "changed", "unchanged", "removed")
"""Every row operation, in the order they are shown."""

RowStatus = Literal["succeeded", "rejected", "skipped"]
"""What became of a row: ``succeeded`` (the destination accepted it), ``rejected`` (refused
before sending, or by the destination) or ``skipped`` (not sent: a removed row, since the
destination has no delete)."""

ROW_STATUSES: tuple[RowStatus, ...] = ("succeeded", "rejected", "skipped")
"""Every row status, in the order they are shown."""


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
    rows_recorded: bool = True
    """Whether the run recorded its rows (:class:`RowRecord`); a run written by a version
    before rows were recorded has only its rejected rows."""

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
            "rows_recorded": self.rows_recorded,
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

    def summary(self) -> dict[str, Any]:
        """A JSON-ready view without the request and the response (one line of a list)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "primary_keys": list(self.primary_keys),
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error_code": self.error_code,
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


@dataclass(frozen=True, slots=True)
class RowRecord:
    """One row of a run: its operation, its status, its error and the call that carried it.

    ``operation`` is None for a row refused before the diff (no primary key, a value of the
    wrong type); ``call_id`` is None for a row sent in a call that was not kept (see
    ``keepCalls``) or never sent.
    """

    primary_key: str
    operation: RowOperation | None
    status: RowStatus
    error_code: str | None = None
    error: str | None = None
    call_id: int | None = None
    run_id: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "primary_key": self.primary_key,
            "operation": self.operation,
            "status": self.status,
            "error_code": self.error_code,
            "error": self.error,
            "call_id": self.call_id,
        }


@dataclass(frozen=True, slots=True)
class RowPage:
    """One page of a run's rows: the rows, how many match in all, and where the page starts."""

    items: list[RowRecord]
    total: int
    offset: int


@dataclass(slots=True)
class RunBatch:
    """What the runner records for one batch of rows: calls, rows and rejected rows.

    ``rejected`` holds (primary key, error code, error, index into ``calls`` or None).
    ``rows`` holds (primary key, operation, status, index into ``calls`` or None, error code,
    error): every row sent, refused or removed (an unchanged row that is not sent is counted
    in the run, not listed).
    """

    calls: list[CallRecord] = field(default_factory=list)
    rejected: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    rows: list[tuple[str, RowOperation | None, RowStatus, int | None, str | None, str | None]] = (
        field(default_factory=list)
    )
    operations: list[RowOperation] = field(default_factory=list)
    """The operation of each row the runner sends, in order (its bookkeeping; not stored)."""


RowGroup = tuple[RowOperation | None, RowStatus, int, str, str | None, str | None]
"""A batch's rows of one operation and status as stored: operation, status, how many, their
primary keys (a JSON array), their call ids and their errors (JSON arrays in the same order,
None when no row of the group has one)."""


def group_rows(
    rows: Sequence[tuple[str, RowOperation | None, RowStatus, int | None, str | None, str | None]],
    call_ids: Sequence[int],
) -> list[RowGroup]:
    """A batch's rows (:attr:`RunBatch.rows`) as groups of one operation and status each.

    Groups come in the order of their first row, rows within a group in their order.
    ``call_ids`` maps an index into the batch's calls to the id the store gave that call.
    """
    groups: dict[tuple[RowOperation | None, RowStatus], list[Any]] = {}
    for key, operation, status, call, code, error in rows:
        group = groups.get((operation, status))
        if group is None:
            group = groups[(operation, status)] = [[], [], [], False, False]
        group[0].append(key)
        group[1].append(None if call is None else call_ids[call])
        group[2].append(None if code is None else [code, error])
        group[3] = group[3] or call is not None
        group[4] = group[4] or code is not None
    return [
        (
            operation,
            status,
            len(keys),
            json.dumps(keys, ensure_ascii=False),
            json.dumps(calls) if has_calls else None,
            json.dumps(errors, ensure_ascii=False) if has_errors else None,
        )
        for (operation, status), (keys, calls, errors, has_calls, has_errors) in groups.items()
    ]


def decode_group(
    run_id: int,
    operation: RowOperation | None,
    status: RowStatus,
    keys: str,
    call_ids: str | None,
    errors: str | None,
) -> list[RowRecord]:
    """The rows of one stored group (see :func:`group_rows`)."""
    names: list[str] = json.loads(keys)
    calls: list[int | None] = json.loads(call_ids) if call_ids else [None] * len(names)
    problems: list[list[str] | None] = json.loads(errors) if errors else [None] * len(names)
    return [
        RowRecord(
            primary_key=key,
            operation=operation,
            status=status,
            error_code=problem[0] if problem else None,
            error=problem[1] if problem else None,
            call_id=call,
            run_id=run_id,
        )
        for key, call, problem in zip(names, calls, problems, strict=True)
    ]
