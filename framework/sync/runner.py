"""One run of a sync: read the source in batches, diff, send, keep state and history.

For each batch of rows (``batchSize``): map every row and check its values (a row that cannot
be mapped is rejected with its reason and sent nowhere), note it as seen, compare its hash with
the state, and send the rows to send through :class:`framework.Router` as identify calls to
Custom Attributes Sync. Mode ``update`` sends added and changed rows; ``all`` sends every row.
A row the destination accepts has its values saved in the state; a rejected one does not, so
the next run sends it again. When the whole source has been read, the rows the state holds and
the run did not see are the removed rows: they are reported and forgotten by the state.
Personalize has no delete, so nothing is sent for them: their users keep their attributes.

A dry run reads, maps and diffs the same way, builds the requests, and sends, saves and
records nothing. Every other run is recorded in the run history (see
:mod:`framework.sync.history`), a run stopped by an error included.

A first run sends every row, and each request allocates a few hundred short-lived objects
(futures, the request and its answer, the delivery); with the interpreter's default, the
cyclic garbage collector then runs every 700 allocations. ``actionkit sync`` has the youngest
generation collected every :data:`YOUNG_COLLECTION` allocations instead while a run lasts
(``run_sync(..., fewer_collections=True)``; the threshold is put back afterwards): memory
stays flat, and a row costs about 4% less CPU (147 against 153 us, benchmarks/sync.py,
2026-12-05). The collector is the whole process's, so the library leaves it alone unless
asked: a host application calling :func:`run_sync` decides.
"""

from __future__ import annotations

import gc
import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy
from framework.delivery.router import Router
from framework.errors import ActionkitError
from framework.sync.alerts import DEFAULT_ALERT_STATE, notify_run
from framework.sync.config import SyncConfig
from framework.sync.diff import MappedRow, classify, map_row
from framework.sync.history import (
    COUNT_NAMES,
    CallRecord,
    RowOperation,
    RunBatch,
    RunHistory,
    RunStatus,
)
from framework.sync.plan import row_event, sync_instance
from framework.sync.sources import iter_batches
from framework.sync.state import StateStore, open_state

logger = logging.getLogger("actionkit.sync")

__all__ = ["SyncResult", "run_sync"]

SAMPLE_SIZE = 5
"""How many requests, removed keys and rejected rows a result shows."""

YOUNG_COLLECTION = 10_000
"""While a run lasts, the cyclic garbage collector's youngest generation is collected after
this many allocations (the interpreter's default is 700)."""


@dataclass(slots=True)
class SyncResult:
    """What a run did: its status, counts and samples (requests for a dry run).

    ``counts``: queried, added, changed, unchanged, removed, succeeded, rejected. Rows refused
    before sending (no key, no user UID, a value of the wrong type) count as rejected only.
    """

    sync: str
    mode: str
    dry_run: bool
    status: RunStatus = "running"
    run_id: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    sample: list[dict[str, Any]] = field(default_factory=list)
    removed_sample: list[str] = field(default_factory=list)
    rejected_sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "sync": self.sync,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "status": self.status,
            "run_id": self.run_id,
            "counts": dict(self.counts),
            "sample": self.sample,
            "removed_sample": self.removed_sample,
            "rejected_sample": self.rejected_sample,
            "error": self.error,
        }


Progress = Callable[[SyncResult], None]


def _call(row: MappedRow, delivery: Delivery) -> CallRecord:
    request = delivery.request or {}
    return CallRecord(
        primary_keys=(row.key,),
        outcome=delivery.outcome,
        attempts=delivery.attempts,
        method=request.get("method"),
        url=request.get("url"),
        request=delivery.request,
        status=delivery.status,
        response=delivery.response,
        error_code=delivery.error_code,
        error_message=delivery.error_message,
    )


class _Run:
    """The state of one run in progress (kept apart from the loop that drives it)."""

    def __init__(
        self, config: SyncConfig, result: SyncResult, state: StateStore, ignore_state: bool
    ) -> None:
        self.config = config
        self.result = result
        self.state = state
        self.ignore_state = ignore_state
        self.calls_kept = 0

    def _reject(
        self,
        batch: RunBatch,
        key: str,
        code: str,
        error: str,
        call: int | None,
        operation: RowOperation | None = None,
    ) -> None:
        self.result.counts["rejected"] += 1
        batch.rejected.append((key, code, error, call))
        batch.rows.append((key, operation, "rejected", call, code, error))
        if len(self.result.rejected_sample) < SAMPLE_SIZE:
            self.result.rejected_sample.append({"primary_key": key, "code": code, "error": error})

    def classify(self, rows: list[dict[str, Any]], batch: RunBatch) -> list[MappedRow]:
        """Map and diff one batch of source rows; the rows to send."""
        config, counts = self.config, self.result.counts
        start = counts["queried"]
        counts["queried"] += len(rows)
        mapped = [map_row(config, row, start + index + 1) for index, row in enumerate(rows)]
        self.state.mark_seen([row.key for row in mapped if row.error_code != "PRIMARY_KEY_MISSING"])
        good = [row for row in mapped if row.digest is not None]
        stored = {} if self.ignore_state else self.state.lookup(config.name, [r.key for r in good])
        send: list[MappedRow] = []
        for row in mapped:
            if row.digest is None:
                self._reject(batch, row.key, row.error_code or "", row.error or "", None)
                continue
            change = classify(row.digest, stored.get(row.key))
            counts[change] += 1
            if change != "unchanged" or config.mode == "all":
                send.append(row)
                batch.operations.append(change)
        return send

    def settle(self, rows: list[MappedRow], deliveries: list[Delivery], batch: RunBatch) -> None:
        """Record each sent row's delivery; save the accepted rows in the state."""
        accepted: list[tuple[str, str, str]] = []
        operations = batch.operations
        for index, (row, delivery) in enumerate(zip(rows, deliveries, strict=True)):
            if delivery.outcome == "dry_run":
                if len(self.result.sample) < SAMPLE_SIZE:
                    self.result.sample.append({"primary_key": row.key, "request": delivery.request})
                continue
            if delivery.outcome == "delivered":
                self.result.counts["succeeded"] += 1
                assert row.digest is not None
                assert row.sent is not None
                accepted.append((row.key, row.digest, row.sent))
                kept = None
                if self.calls_kept < self.config.keep_calls:
                    self.calls_kept += 1
                    batch.calls.append(_call(row, delivery))
                    kept = len(batch.calls) - 1
                batch.rows.append((row.key, operations[index], "succeeded", kept, None, None))
                continue
            batch.calls.append(_call(row, delivery))
            error = delivery.error_message or " ".join(e["message"] for e in delivery.errors)
            self._reject(
                batch,
                row.key,
                delivery.error_code or "DELIVERY_FAILED",
                error,
                len(batch.calls) - 1,
                operations[index],
            )
        self.state.save(self.config.name, accepted)

    def removed(self, dry_run: bool, record: Callable[[RunBatch], None] | None = None) -> None:
        """Count (and, for a real run, forget) the rows the state holds and the run did not see.

        ``record`` is given each page of removed rows (not sent: skipped) for the history.
        """
        pages: Iterator[list[str]] = self.state.removed(self.config.name)
        for keys in pages:
            self.result.counts["removed"] += len(keys)
            if record is not None:
                record(
                    RunBatch(rows=[(key, "removed", "skipped", None, None, None) for key in keys])
                )
            room = SAMPLE_SIZE - len(self.result.removed_sample)
            self.result.removed_sample.extend(keys[: max(room, 0)])
            if not dry_run:
                self.state.forget(self.config.name, keys)


def _final_status(result: SyncResult) -> RunStatus:
    """The status to record: a run still ``running`` here was interrupted (Ctrl-C, SIGTERM)."""
    return "interrupted" if result.status == "running" else result.status


@dataclass(slots=True)
class _Pending:
    """A batch read and diffed, waiting for the deliveries of its rows to send."""

    batch: RunBatch
    send: list[MappedRow]
    deliveries: list[Delivery] = field(default_factory=list)


def _pipeline(
    router: Router,
    run: _Run,
    batches: Iterator[list[dict[str, Any]]],
    done: Callable[[RunBatch], None],
) -> None:
    """Read, diff and send batch after batch, with requests in flight across batch boundaries.

    The router pulls events from a generator that reads and diffs the next batch as soon as
    there is room in its window; deliveries come back in order and settle their batch, which
    ``done`` then records. At most ``concurrency`` requests and a few batches are held at once.
    """
    queue: deque[_Pending] = deque()
    name = run.config.name

    def events() -> Iterator[dict[str, Any]]:
        for rows in batches:
            batch = RunBatch()
            send = run.classify(rows, batch)
            queue.append(_Pending(batch, send))
            for row in send:
                yield row_event(name, row)

    def flush() -> None:
        while queue and len(queue[0].deliveries) == len(queue[0].send):
            pending = queue.popleft()
            run.settle(pending.send, pending.deliveries, pending.batch)
            done(pending.batch)

    for deliveries in router.route_many(events(), concurrency=run.config.concurrency):
        flush()  # batches that had nothing to send, ahead of this delivery's batch
        queue[0].deliveries.append(deliveries[0])
        flush()
    flush()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the youngest generation's threshold to :data:`YOUNG_COLLECTION` meanwhile; a
    threshold already higher, or a collector switched off, is left as it is."""
    previous = gc.get_threshold()
    if not gc.isenabled() or previous[0] == 0 or previous[0] >= YOUNG_COLLECTION:
        yield
        return
    gc.set_threshold(YOUNG_COLLECTION, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def run_sync(
    config: SyncConfig,
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    fewer_collections: bool = False,
) -> SyncResult:
    """Run a sync once and return what it did.

    ``full_resync`` forgets the state first, so every row is sent again (a dry run only
    pretends to). ``progress`` is called with the result so far after each batch.
    ``transport`` and ``retry`` go to the router (tests). ``fewer_collections`` raises the
    process's youngest garbage-collector threshold while the run lasts (see the module doc;
    ``actionkit sync`` does). Raises the :class:`~framework.errors.ActionkitError` that
    stopped the run (a source or a store that failed) after recording the run as failed.
    """
    if not fewer_collections:
        return _run_sync(config, dry_run, full_resync, progress, transport, retry)
    with _fewer_collections():
        return _run_sync(config, dry_run, full_resync, progress, transport, retry)


def _run_sync(
    config: SyncConfig,
    dry_run: bool,
    full_resync: bool,
    progress: Progress | None,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy | None,
) -> SyncResult:
    result = SyncResult(config.name, config.mode, dry_run)
    instance = sync_instance(config.instance, config.name)
    with open_state(config.state) as state:
        history = None if dry_run else RunHistory(config.history)
        try:
            if history is not None:
                result.run_id = history.start_run(config.name, config.mode)
            if full_resync and not dry_run:
                state.reset(config.name)
            state.begin()
            run = _Run(config, result, state, ignore_state=full_resync)
            dead_letters = None if dry_run else config.dead_letters

            def done(batch: RunBatch) -> None:
                if history is not None and result.run_id is not None:
                    history.record(result.run_id, batch)
                if progress is not None:
                    progress(result)

            try:
                with Router(
                    [instance],
                    dry_run=dry_run,
                    dead_letters=dead_letters,
                    transport=transport,
                    retry=retry,
                    concurrency=config.concurrency,
                ) as router:
                    batches = iter_batches(
                        url=config.source_url,
                        query=config.query,
                        csv_path=config.csv_path,
                        size=config.batch_size,
                    )
                    _pipeline(router, run, batches, done)
                if not full_resync:
                    run.removed(dry_run, done)
            except ActionkitError as exc:
                result.status, result.error = "failed", exc.message
                raise
            result.status = "partial" if result.counts["rejected"] else "succeeded"
        finally:
            if history is not None:
                if result.run_id is not None:
                    final = _final_status(result)
                    history.finish_run(result.run_id, final, result.counts, error=result.error)
                history.close()
            if config.alerts is not None and not dry_run:
                _alert(config, result)
    return result


def _alert(config: SyncConfig, result: SyncResult) -> None:
    """Tell the sync's alert channels when its health changed; an alert never fails the run.

    A channel that fails is logged by :func:`notify_run` (and told again after the next run);
    an alert state that cannot be used is logged here.
    """
    state = config.alert_state or DEFAULT_ALERT_STATE
    assert config.alerts is not None
    try:
        notify_run(result, config.alerts, state)
    except ActionkitError as exc:
        logger.warning("the alert for sync %s was not sent: %s", config.name, exc.message)
