"""The contract of an event queue: durable on put, at-least-once on take, acked when done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from framework.event_fill import Receipt

DEAD_TRIES_EXHAUSTED = "TRIES_EXHAUSTED"
"""Dead-entry code: handling the entry failed ``max_tries`` times (its error says why)."""

DEAD_NOT_QUEUED_EVENT = "NOT_A_QUEUED_EVENT"
"""Dead-entry code: the stored entry is not a queued event (edited by hand, another format)."""

DEAD_NEVER_ACKNOWLEDGED = "NEVER_ACKNOWLEDGED"
"""Dead-entry code: the entry was taken ``max_tries`` times and its consumer died each time."""

OnDead = Callable[[str, str], None]
"""Told ``(code, error)`` each time a queue moves an entry to its dead entries (metrics).

It may be called on the queue's own thread: keep it short and thread-safe.
"""


@dataclass(frozen=True, slots=True, init=False)
class QueuedEvent:
    """What ingestion puts on a queue: a Segment event and the instances it routes to.

    ``instances`` are instance names (a write key's routes); empty means every instance of
    the router that consumes it. The other fields are its retry state, kept by the consumer
    across tries (:meth:`EventQueue.defer`); a freshly queued event has none.
    """

    event: dict[str, Any]
    instances: tuple[str, ...] = ()
    done: tuple[tuple[str, str], ...] = ()
    """``(instance, mapping)`` pairs whose delivery already ended on an earlier try."""
    retries: int = 0
    """How many times the event was put back to wait after a retryable failure."""
    first_failed_at: float | None = None
    """When (a Unix time) its first retryable failure happened: the retry horizon counts from it."""
    last_error: str | None = None
    """Why the last try did not end every delivery (codes and subscriptions, no event values)."""

    def __init__(
        self,
        event: dict[str, Any],
        instances: tuple[str, ...] = (),
        done: tuple[tuple[str, str], ...] = (),
        retries: int = 0,
        first_failed_at: float | None = None,
        last_error: str | None = None,
    ) -> None:
        # What the frozen dataclass's own __init__ does, through the slots' setters rather
        # than object.__setattr__ field by field: a server builds one for every event.
        _set_event(self, event)
        _set_instances(self, instances)
        _set_done(self, done)
        _set_retries(self, retries)
        _set_first_failed_at(self, first_failed_at)
        _set_last_error(self, last_error)


_set_event = QueuedEvent.__dict__["event"].__set__
_set_instances = QueuedEvent.__dict__["instances"].__set__
_set_done = QueuedEvent.__dict__["done"].__set__
_set_retries = QueuedEvent.__dict__["retries"].__set__
_set_first_failed_at = QueuedEvent.__dict__["first_failed_at"].__set__
_set_last_error = QueuedEvent.__dict__["last_error"].__set__


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry taken from a queue.

    ``id`` is the queue's own (a SQLite row id, a Redis stream ID); ``tries`` counts the
    times this entry was handed to a consumer, this one included (1 on a first take).
    """

    id: str
    item: QueuedEvent
    tries: int = 1


class EventQueue(Protocol):
    """A durable queue of events.

    ``put`` returns only once the events are durably stored (an HTTP 200 may then be sent);
    when the queue is at its bound it raises :class:`framework.errors.QueueFullError` and
    stores nothing. ``take`` hands out entries not yet acked (at least once: an entry taken
    by a consumer that died is handed out again, after an idle timeout). ``ack`` removes
    entries for good. ``fail`` gives an entry back after an error in handling it: it is
    handed out again, or, once it has been tried ``max_tries`` times, moved to the queue's
    dead entries with ``error`` (kept apart, never handed out again; listed by
    ``dead_entries``, counted by ``dead_count``, given up by ``remove_dead``, and told to
    ``on_dead`` when set). Failures of the store raise :class:`framework.errors.QueueError`.

    Order: each entry has the keys of the users its event touches
    (:func:`framework.delivery.ordering.order_keys`, computed by ``put``). ``take`` never hands out
    an entry while an earlier entry sharing one of its keys is still stored and not handed out
    in the same take (leased to a consumer, waiting for a later try, or simply not taken), so a
    user's entries are in a consumer's hands in queue order, one run at a time. An entry with
    several keys (an alias) is handed out only as the first of each of its keys' runs, and
    ends them: nothing after it sharing a key is handed out in the same take.

    Retries: ``defer`` keeps an entry, with its updated retry state, to be handed out again at
    a given time; meanwhile it holds its keys' order (nothing after it sharing a key is handed
    out). ``waiting`` counts the entries deferred to a time still to come.
    """

    on_dead: OnDead | None

    @property
    def max_length(self) -> int:
        """Entries stored at most: a put of more items than this can never succeed."""
        ...

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        """Store ``items`` durably, all or none; returns their entry IDs in order."""
        ...

    async def put_events(
        self,
        events: list[dict[str, Any]],
        instances: tuple[str, ...],
        receipt: Receipt | None = None,
    ) -> None:
        """Store fresh ``events`` routed to ``instances`` durably, all or none: what a server
        accepted in one request (``put`` of ``QueuedEvent(event, instances)`` for each, with
        no IDs to give back). A queue may keep them together until a consumer takes them.
        With ``receipt``, the events are taken filled from it (:func:`~framework.event_fill.
        fill_events`, once each); without, they are taken as they are."""
        ...

    async def take(self, max_count: int, *, block: float = 1.0) -> list[Entry]:
        """Up to ``max_count`` entries, waiting at most ``block`` seconds for the first."""
        ...

    async def ack(self, ids: list[str]) -> None:
        """Remove these entries: every delivery of each has ended."""
        ...

    async def fail(self, entry: Entry, error: str) -> None:
        """Hand ``entry`` back for another try, or dead-letter it after too many."""
        ...

    async def defer(self, entry: Entry, item: QueuedEvent, *, at: float) -> None:
        """Keep ``entry`` as ``item`` (its new retry state), to be handed out again at ``at``.

        ``at`` is a Unix time (``time.time()``); one already past hands it out again as soon as
        its keys allow. The take that handed it out does not count as a try (its ``tries``
        count only takes that ended in no ack, defer or fail). Until the entry is acked or
        set aside, no later entry sharing one of its keys is handed out.
        """
        ...

    async def waiting(self) -> int:
        """How many entries are deferred to a time still to come."""
        ...

    async def retry_now(self) -> int:
        """Make every waiting entry due now (a destination recovered); returns how many.

        Their retry state is kept, and each still waits behind its users' earlier entries.
        """
        ...

    async def depth(self) -> int:
        """How many entries are stored and not yet acked."""
        ...

    async def dead_entries(self) -> list[dict[str, Any]]:
        """The dead entries, oldest first: id, code, error, event, instances, tries, failed_at."""
        ...

    async def dead_count(self) -> int:
        """How many dead entries are kept."""
        ...

    async def remove_dead(self, ids: list[str]) -> int:
        """Forget these dead entries (replayed); returns how many were there."""
        ...

    async def close(self) -> None:
        """Release connections and files; entries taken and not acked stay stored."""
        ...


class DeadEntries(Protocol):
    """Where a queue keeps the entries it set aside: listed, counted, and given up.

    Every :class:`EventQueue` is one; so is a reader of a queue another process owns
    (:class:`~framework.queue.sqlite.SqliteDeadEntries`), which is what ``actionkit dlq``
    uses to read a running server's dead entries.
    """

    async def dead_entries(self) -> list[dict[str, Any]]:
        """The dead entries, oldest first: id, code, error, event, instances, tries, failed_at."""
        ...

    async def dead_count(self) -> int:
        """How many dead entries are kept."""
        ...

    async def remove_dead(self, ids: list[str]) -> int:
        """Forget these dead entries (replayed); returns how many were there."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


def check_queue_bounds(max_length: int, claim_idle: float, max_tries: int) -> None:
    """Raise ValueError unless a queue's bound, idle timeout and tries are usable."""
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    if claim_idle <= 0:
        raise ValueError("claim_idle must be positive")
    if max_tries < 1:
        raise ValueError("max_tries must be at least 1")
