"""The scale-out event queue: partitioned Redis streams, each consumed by one worker at a time.

The queue is ``partitions`` streams (16 by default; every server and worker of a stream must
agree: the count is stored in Redis on first use and a different one is refused). ``put``
sends each event to the partition of its user (:mod:`framework.queue.redis_partitions`): the
user's ``userId`` or ``anonymousId`` (for an alias, its ``userId``). ``put_events`` (a
server's) appends a request's events whole to the inbox, and the worker that owns partition 0
moves them into their partitions, in order (:mod:`framework.queue.redis_inbox`). Each partition is
consumed by one worker at a time, which holds its lease; partitions are shared fairly among
the live workers, and a dead worker's go to the others once its leases end (``claim_idle``).

Order (the rule of :class:`~framework.queue.EventQueue`): an entry is handed out only when no
earlier entry of its users is in hand, waiting for a retry, or parked; one take may hand out a
run of one user's entries, oldest first; an alias only as the first of its users' runs. An
alias's ``previousId`` usually lives in another partition: a *marker* there, put in the same
script, holds the alias until that user's earlier entries have ended, and that user's later
ones until the alias has ended. The bookkeeping is in Redis, changed by Lua scripts
(:mod:`framework.queue.redis_scripts`): entries behind a waiting one are parked there, not in a
worker's memory, and a new owner hands out first, in order, what the previous one had in hand.

Retries: :meth:`RedisStreamQueue.defer` keeps the entry, with its new retry state, in the
partition's sorted set of waiting entries, until its time: it survives restarts of the workers,
and of Redis with persistence. :meth:`~RedisStreamQueue.fail` defers the entry ``claim_idle``
seconds, counting the try, until it has been tried ``max_tries`` times: it then moves to the
dead-letter stream ``{stream}:dead`` with its code and error. An entry handed out more than
``max_tries`` times without ever being acked, deferred or failed (one that kills its worker) is
moved there too.

At least once: :meth:`~RedisStreamQueue.ack` deletes the entry once every delivery ended. Two
owners of one partition at once are impossible while leases are renewed (a take checks the
lease in the same script); a worker paused past its lease (a stalled machine) loses its
partitions, and the entries it still held are handed out again by the new owner: they may be
delivered twice. A crash between a delivery and its ack does the same.

Bounds: the streams hold exactly the entries not yet acked, and the markers of the aliases
among them (not counted), the inbox the events not yet moved (counted by
``{S}:inbox:events``); ``put`` and ``put_events`` check the total against ``max_length`` and
append in one script, all or none, else raise :class:`~framework.errors.QueueFullError`.
Durability is Redis's own (``appendonly yes`` and ``appendfsync always`` to survive a crash).

Upgrading: entries left in the single stream of earlier versions (``stream`` itself, read by
the consumer group ``group``) are moved into the partitions by the first worker that runs, in
their order, after the entries already there, through the same script as ``put`` (an alias
gets its marker); stop the earlier workers first (an entry one of them still held is moved
too, and may be delivered twice). Upgrade the workers before the servers: an alias put by an
earlier server has no marker (it waits only for its ``userId``'s earlier entries), and a
worker earlier than markers would take one for an entry that is not a queued event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from framework.errors import QueueError, QueueFullError
from framework.event_fill import Receipt
from framework.queue.base import (
    DEAD_NEVER_ACKNOWLEDGED,
    DEAD_NOT_QUEUED_EVENT,
    DEAD_TRIES_EXHAUSTED,
    Entry,
    OnDead,
    QueuedEvent,
    check_queue_bounds,
)
from framework.queue.codec import decode_batch, decode_item, encode_item
from framework.queue.redis_dead import (
    DEAD_PAGE,
    UNREADABLE,
    after,
    dead_entry,
    decode_fields,
    safe_url,
)
from framework.queue.redis_inbox import Inbox
from framework.queue.redis_partitions import DEFAULT_PARTITIONS, Ownership, StreamKeys
from framework.queue.redis_put import (
    GroupedPuts,
    PutResult,
    fresh_put_args,
    put_args,
    put_argv,
    put_command,
)
from framework.queue.redis_scripts import DEFER, PUT, REMOVE, RETRY_NOW, TAKE
from framework.queue.redis_wire import HeldConnection

__all__ = ["DEFAULT_PARTITIONS", "RedisStreamQueue"]

T = TypeVar("T")

logger = logging.getLogger("actionkit.queue")

_FULL_RETRY_AFTER = 1.0
"""Seconds a client is asked to wait when the queue is full."""

_POLL = 0.1
"""Seconds a take waits at most before looking at its partitions again."""

_SCAN = 1000
"""New entries a take scans at most in one partition (parking those that must wait)."""

_MOVE_PAGE = 500
"""Entries of the earlier single stream moved into partitions per round trip."""

_KEEPER_STOP = 2.0
"""Seconds :meth:`RedisStreamQueue.close` waits for the keeper to end before going on."""

_INBOX_POLL = 0.05
"""Seconds a worker waits before asking again whether it owns partition 0."""

_INBOX_BLOCK = 1.0
"""Seconds the owner of partition 0 blocks on an empty inbox (it wakes when a batch comes)
before checking that it still owns the partition."""

_INBOX_RETRY = 1.0
"""Seconds it waits after a move failed (Redis unreachable) before trying again."""

_CONNECTIONS = 100
"""Connections to Redis a queue opens at most; calls beyond wait for one."""

_CONNECTION_WAIT = 30.0
"""Seconds a call waits at most for a free connection before it fails (a QueueError)."""


def _default_consumer_name() -> str:
    """``hostname-pid``: unique among the workers, and says where each one runs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _split(entry_id: str) -> tuple[int, str] | None:
    """``(partition, stream ID)`` of an entry ID ``3/1712345678901-0``; None if not one."""
    partition, slash, stream_id = entry_id.partition("/")
    if not slash or not partition.isdigit():
        return None
    return int(partition), stream_id


class RedisStreamQueue:
    """An :class:`~framework.queue.EventQueue` on partitioned Redis streams (see the module doc).

    ``url``: a redis-py URL (``redis://host:6379/0``, ``rediss://``, ``unix://``). ``stream``
    names the queue (its keys are ``{stream}:p0``...; ``stream`` itself and ``group`` are the
    single stream of earlier versions, emptied into the partitions). ``consumer`` names this
    worker in its leases (by default ``hostname-pid``). ``max_length``: entries not yet acked,
    at most. ``claim_idle``: seconds a dead worker's partitions stay its own (its leases' time
    to live; renewed every third of it while it runs). ``max_tries``: tries after which a
    failing entry moves to ``{stream}:dead``. ``partitions``: how many streams. ``clock``: the
    Unix time deferred entries are compared with (``time.time``; tests pass their own).
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = "actionkit:events",
        group: str = "actionkit",
        consumer: str | None = None,
        max_length: int = 1_000_000,
        claim_idle: float = 30.0,
        max_tries: int = 5,
        partitions: int = DEFAULT_PARTITIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_queue_bounds(max_length, claim_idle, max_tries)
        self.url = url
        self.stream = stream
        self.dead_stream = f"{stream}:dead"
        self.group = group
        self.consumer = consumer or _default_consumer_name()
        self.max_length = max_length
        self.claim_idle = claim_idle
        self.max_tries = max_tries
        self.keys = StreamKeys(stream, partitions)
        self.partitions = partitions
        self.clock = clock
        # A blocking pool: more calls at once than connections (hundreds of deferrals when an
        # endpoint pauses) wait for one, where redis-py's default pool (100) fails them.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=_CONNECTIONS, timeout=_CONNECTION_WAIT
        )
        self._redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._put = self._redis.register_script(PUT)
        self._put_connection = HeldConnection(self._redis, PUT)
        self._puts = GroupedPuts(self._put_groups)
        self._inbox = Inbox(self._redis, self.keys, max_length)
        self._carrier: asyncio.Task[None] | None = None
        self._take = self._redis.register_script(TAKE)
        self._remove = self._redis.register_script(REMOVE)
        self._defer = self._redis.register_script(DEFER)
        self._retry_now = self._redis.register_script(RETRY_NOW)
        self.ownership = Ownership(
            self._redis, self.keys, f"{self.consumer}:{uuid.uuid4().hex[:8]}", claim_idle
        )
        self._layout_checked = False
        self._flight: dict[int, set[str]] = {}
        self._failures: dict[int, int] = {}
        """Per partition, entries whose end Redis did not hear of (see :meth:`_done_with`)."""
        self._next_due: dict[int, float] = {}
        self._turn = 0
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._acks: list[tuple[list[str], asyncio.Future[None]]] = []
        self._ack_task: asyncio.Task[None] | None = None
        self._closed = False
        self.on_dead: OnDead | None = None

    async def __aenter__(self) -> RedisStreamQueue:
        try:
            await self._call(self._check_layout)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- Redis calls, errors translated in one place -----------------------------------------

    def _error(self, exc: RedisError) -> QueueError:
        where = f"The Redis queue {self.stream} at {safe_url(self.url)}"
        if isinstance(exc, ResponseError):
            return QueueError(f"{where} refused a command: {exc}.")
        return QueueError(f"{where} cannot be used: {str(exc).rstrip('.')}.")

    async def _call(self, work: Callable[[], Awaitable[T]], *, layout: bool = False) -> T:
        if self._closed:
            raise QueueError("The queue is closed.")
        try:
            if layout and not self._layout_checked:
                await self._check_layout()
            return await work()
        except RedisError as exc:
            raise self._error(exc) from exc

    async def _check_layout(self) -> None:
        """Store the partition count on first use, refuse another; check the keys' types."""
        await self._redis.set(self.keys.count, self.partitions, nx=True)
        stored = str(await self._redis.get(self.keys.count))
        if stored != str(self.partitions):
            raise QueueError(
                f"The Redis queue {self.stream} has {stored} partitions and this process was "
                f"started with {self.partitions}: give every server and worker of a stream "
                f"the same --partitions ({stored})."
            )
        streams = [self.stream, self.keys.inbox, *self.keys.streams]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in streams:
                pipe.type(key)
            types = await pipe.execute()
        for key, kind in zip(streams, types, strict=True):
            if kind not in ("none", "stream"):
                raise QueueError(
                    f"The Redis key {key} of the queue {self.stream} at {safe_url(self.url)} "
                    f"holds a {kind}, not a stream: remove it or choose another stream name."
                )
        self._layout_checked = True

    # -- put ---------------------------------------------------------------------------------

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        """Append each item to its user's partition, all or none; returns their entry IDs.

        Raises :class:`~framework.errors.QueueFullError` when they would take the queue past
        ``max_length`` (nothing is appended), :class:`~framework.errors.QueueError` when Redis
        cannot be used.
        """
        if not items:
            return []
        places, values = fresh_put_args(self.keys, items)
        result = await self._puts.put(len(items), values)
        if isinstance(result, int):
            raise self._full()
        ids = result.split(",")
        return [f"{place}/{entry_id}" for place, entry_id in zip(places, ids, strict=True)]

    async def _put_groups(self, groups: list[tuple[int, bytes]]) -> list[PutResult]:
        """One PUT script call for the puts of :class:`GroupedPuts`: a result for each."""
        connection = self._put_connection
        command = put_command(connection.sha, self.keys.put_keys, self.max_length, groups)

        async def work() -> Any:
            return await connection.call(command)

        return list(await self._call(work, layout=True))

    async def put_events(
        self,
        events: list[dict[str, Any]],
        instances: tuple[str, ...],
        receipt: Receipt | None = None,
    ) -> None:
        """Append fresh ``events`` routed to ``instances`` as one batch of the inbox, all or
        none (:mod:`framework.queue.redis_inbox`); a worker moves them into their partitions,
        filling them from ``receipt`` when given (:mod:`framework.event_fill`).

        Raises :class:`~framework.errors.QueueFullError` when they would take the queue past
        ``max_length`` (nothing is appended), :class:`~framework.errors.QueueError` when Redis
        cannot be used or an event holds a lone surrogate, NaN or Infinity.
        """
        if not events:
            return
        result = await self._call(lambda: self._inbox.put(events, instances, receipt), layout=True)
        if isinstance(result, int):
            raise self._full()

    def _full(self) -> QueueFullError:
        """What a put the bound refused raises."""
        return QueueFullError(
            f"The event queue is full ({self.max_length} entries not yet delivered); "
            "try again shortly.",
            retry_after=_FULL_RETRY_AFTER,
        )

    # -- take --------------------------------------------------------------------------------

    async def take(self, max_count: int, *, block: float = 1.0) -> list[Entry]:
        """Up to ``max_count`` entries of the partitions this worker owns, in their order.

        Waits at most ``block`` seconds for the first. The first take joins the workers and
        acquires this worker's share of the partitions.
        """
        if max_count < 1:
            return []
        loop = asyncio.get_running_loop()
        if self._keeper is None and not self._closed:
            await self._call(self._round, layout=True)
            self._keeper = loop.create_task(self._keep())
            self._carrier = loop.create_task(self._carry())
        deadline = loop.time() + block
        while True:
            self._wake.clear()
            entries = await self._take_once(max_count)
            left = deadline - loop.time()
            if entries or left <= 0 or self._closed:
                return entries
            now = self.clock()
            # Only partitions held now: a partition given up keeps its last due time here, and
            # a time in the past would turn this wait into a busy loop.
            times = [self._next_due[p] for p in self.ownership.active() if p in self._next_due]
            due = min(times, default=now + left) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(left, _POLL, due)))

    async def _take_once(self, max_count: int) -> list[Entry]:
        active = self.ownership.active()
        if not active:
            return []
        self._turn += 1
        start = self._turn % len(active)
        entries: list[Entry] = []
        for partition in active[start:] + active[:start]:
            if len(entries) >= max_count:
                break
            entries += await self._take_from(partition, max_count - len(entries))
        return entries

    async def _take_from(self, partition: int, count: int) -> list[Entry]:
        recover = partition in self.ownership.new
        failures = self._failures.get(partition, 0)
        args: list[str | int | float] = [
            self.ownership.token,
            count,
            self.clock(),
            "1" if recover else "0",
            _SCAN,
        ]
        if recover:
            args += sorted(self._flight.get(partition, ()))
        keys = [self.keys.streams[partition], self.keys.lease(partition)]

        async def work() -> Any:
            return await self._take(keys=keys, args=args)

        reply = await self._call(work)
        if reply[0] != "ok":
            self.ownership.lost(partition)
            return []
        if self._failures.get(partition, 0) == failures:
            # Not if an entry failed meanwhile: its recovery is still to come.
            self.ownership.new.discard(partition)
        if reply[1]:
            self._next_due[partition] = float(reply[1])
        else:
            self._next_due.pop(partition, None)
        flight = self._flight.setdefault(partition, set())
        entries: list[Entry] = []
        for index in range(3, len(reply), 3):
            stream_id, text, tries = str(reply[index]), reply[index + 1], int(reply[index + 2])
            entry_id = f"{partition}/{stream_id}"
            item = decode_item(text)
            if item is None:
                await self._bury(entry_id, text, tries, DEAD_NOT_QUEUED_EVENT, UNREADABLE)
            elif tries > self.max_tries:
                await self._bury(
                    entry_id,
                    text,
                    tries - 1,
                    DEAD_NEVER_ACKNOWLEDGED,
                    f"The entry was taken {tries - 1} times and never acknowledged "
                    "(its worker stopped while handling it each time).",
                )
            else:
                flight.add(stream_id)
                entries.append(Entry(entry_id, item, tries))
        return entries

    # -- the keeper: leases, heartbeat, the earlier single stream -----------------------------

    async def _round(self) -> None:
        """One round of the keeper: the layout, the leases, entries of the earlier stream."""
        if not self._layout_checked:
            await self._check_layout()
        busy = [partition for partition, ids in self._flight.items() if ids]
        before = set(self.ownership.active())
        await self.ownership.round(busy)
        if set(self.ownership.active()) - before:
            self._wake.set()
        await self._move_earlier_stream()

    async def _keep(self) -> None:
        """Run a round every third of ``claim_idle`` until closed; a failure is logged.

        It ends when ``_closing`` is set, not only when cancelled: a cancellation that reaches
        it inside a Redis call can be swallowed on the way (seen with redis-py 8 under load),
        and a keeper that only stopped on cancellation then kept its worker from exiting.
        """
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.claim_idle / 3)
            if self._closing.is_set():
                return
            try:
                await self._round()
            except (RedisError, QueueError) as exc:
                # Not fatal: leases not renewed in time end, and the partitions go to other
                # workers (the entries in hand here may then be delivered twice).
                logger.warning("%s cannot renew its partitions: %s", self.consumer, exc)

    async def _carry(self) -> None:
        """While this worker owns partition 0, move the inbox into the partitions, until
        closed (it ends on ``_closing``, as :meth:`_keep` does)."""
        while not self._closing.is_set():
            wait = _INBOX_POLL
            if 0 in self.ownership.active():
                try:
                    if await self._call(self._move_inbox):
                        self._wake.set()
                    else:  # wake as soon as a batch comes, not at the next poll
                        await self._call(lambda: self._inbox.arrival(_INBOX_BLOCK))
                    continue
                except Exception as exc:  # a QueueError (Redis unreachable), or a bug: logged
                    logger.warning("%s cannot move the queue's inbox: %s", self.consumer, exc)
                    wait = _INBOX_RETRY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), wait)

    async def _move_inbox(self) -> bool:
        """Move the inbox's oldest batches into the partitions; whether there were any.

        A batch that is not one (edited by hand, another format) is dead-lettered whole, as
        ``inbox/<ID>``, and leaves the inbox with the others.
        """
        entries = await self._inbox.oldest()
        if not entries:
            return False
        items: list[QueuedEvent] = []
        for entry_id, fields in entries:
            batch = decode_batch(fields.get("batch"))
            if batch is None:
                text = str(fields.get("batch", ""))
                await self._bury(f"inbox/{entry_id}", text, 0, DEAD_NOT_QUEUED_EVENT, UNREADABLE)
            else:
                items += batch
        await self._inbox.move([entry_id for entry_id, _ in entries], items)
        return True

    async def _earlier_page(self) -> list[tuple[str, dict[str, str]]]:
        reply: Any = await self._redis.xrange(self.stream, count=_MOVE_PAGE)
        return [(str(entry_id), dict(fields or {})) for entry_id, fields in reply or []]

    async def _move_earlier_stream(self) -> None:
        """Move the entries of the earlier versions' single stream into the partitions."""
        if not await self._redis.xlen(self.stream):
            return
        token = self.ownership.token
        if not await self._redis.set(self.keys.migrating, token, nx=True, px=60_000):
            return  # another worker is moving them
        moved = 0
        try:
            while batch := list(await self._earlier_page()):
                rows: list[tuple[int, str, QueuedEvent | None]] = []
                for _entry_id, fields in batch:
                    item = decode_fields(fields)
                    place = self.keys.partition_of(item) if item else 0
                    rows.append((place, (fields or {}).get("item", ""), item))
                args = put_argv(-1, [put_args(self.keys, rows)])
                async with self._redis.pipeline(transaction=False) as pipe:
                    await self._put(keys=self.keys.put_keys, args=args, client=pipe)
                    pipe.xdel(self.stream, *[str(entry_id) for entry_id, _ in batch])
                    await pipe.execute()
                moved += len(batch)
        finally:
            if await self._redis.get(self.keys.migrating) == token:
                await self._redis.delete(self.keys.migrating)
        logger.info("moved %d entries of the stream %s into its partitions", moved, self.stream)

    # -- ack, defer, fail, dead letters -------------------------------------------------------

    async def ack(self, ids: list[str]) -> None:
        """Remove these entries; the next entry of each of their users may be handed out.

        Acks asked for while another is on its way to Redis are sent together, in the next
        round trip: under load, one round trip acknowledges many entries.
        """
        if not ids:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.append((list(ids), future))
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.get_running_loop().create_task(self._flush_acks())
        try:
            await future
        except QueueError:
            self._done_with(ids, failed=True)
            raise
        self._done_with(ids)

    def _done_with(self, ids: list[str], *, failed: bool = False) -> None:
        """Forget entries no longer in hand here. ``failed``: Redis did not hear of it, so they
        are still marked in hand there; the next take of their partitions hands them out
        again (as a new owner would), rather than leave their users waiting."""
        for entry_id in ids:
            place = _split(entry_id)
            if place is not None:
                self._flight.get(place[0], set()).discard(place[1])
                if failed and place[0] in self.ownership.owned:
                    self.ownership.new.add(place[0])
                    self._failures[place[0]] = self._failures.get(place[0], 0) + 1
        self._wake.set()

    async def _flush_acks(self) -> None:
        while self._acks:
            waiting, self._acks = self._acks, []
            by_partition: dict[int, list[str]] = {}
            for group, _ in waiting:
                for entry_id in group:
                    place = _split(entry_id)
                    if place is not None and place[0] < self.partitions:
                        by_partition.setdefault(place[0], []).append(place[1])

            async def work(by_partition: dict[int, list[str]] = by_partition) -> None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for partition, stream_ids in by_partition.items():
                        await self._remove(
                            keys=[self.keys.streams[partition]], args=stream_ids, client=pipe
                        )
                    await pipe.execute()

            try:
                await self._call(work)
            except QueueError as exc:
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in waiting:
                if not future.done():
                    future.set_result(None)

    async def defer(self, entry: Entry, item: QueuedEvent, *, at: float) -> None:
        """Keep ``entry`` as ``item`` until ``at`` (a Unix time), holding its users' order.

        The take that handed it out is not counted as a try.
        """
        await self._set_back(entry, item, at, not_a_try=True)

    async def _set_back(
        self, entry: Entry, item: QueuedEvent, at: float, *, not_a_try: bool
    ) -> None:
        place = _split(entry.id)
        if place is None:
            raise QueueError(f"The entry ID {entry.id!r} is not one of this queue's.")
        args: list[str | float] = [place[1], encode_item(item), at, "1" if not_a_try else "0"]

        async def work() -> Any:
            return await self._defer(keys=[self.keys.streams[place[0]]], args=args)

        try:
            await self._call(work)
        except QueueError:
            self._done_with([entry.id], failed=True)
            raise
        self._done_with([entry.id])

    async def fail(self, entry: Entry, error: str) -> None:
        """Hand ``entry`` back, or dead-letter it once it has been tried ``max_tries`` times.

        Handed back, it waits ``claim_idle`` seconds (holding its users' order) and is handed
        out again; dead-lettered, it moves to ``{stream}:dead`` with ``error``.
        """
        if entry.tries < self.max_tries:
            logger.info("Entry %s failed (try %d); it is tried again later.", entry.id, entry.tries)
            await self._set_back(entry, entry.item, self.clock() + self.claim_idle, not_a_try=False)
            return
        await self._bury(
            entry.id, encode_item(entry.item), entry.tries, DEAD_TRIES_EXHAUSTED, error
        )

    async def _bury(self, entry_id: str, text: str, tries: int, code: str, error: str) -> None:
        """Move an entry to the dead-letter stream with its code and error, then remove it.

        Two steps (the dead stream is not in the partitions' hash slot): a crash between them
        leaves the entry in its partition too, to be handed out and buried again.
        """
        dead = {
            "item": text,
            "entry_id": entry_id,
            "tries": str(tries),
            "code": code,
            "error": error,
            "failed_at": repr(time.time()),
        }
        place = _split(entry_id)

        async def work() -> None:
            await self._redis.xadd(self.dead_stream, dead)  # type: ignore[arg-type]
            if place is not None and place[0] < self.partitions:
                await self._remove(keys=[self.keys.streams[place[0]]], args=[place[1]])

        try:
            await self._call(work)
        except QueueError:
            self._done_with([entry_id], failed=True)
            raise
        self._done_with([entry_id])
        if self.on_dead is not None:
            self.on_dead(code, error)

    async def dead_entries(self, *, page: int = DEAD_PAGE) -> list[dict[str, Any]]:
        """Every entry of the dead-letter stream, oldest first, as dicts.

        Read ``page`` entries at a time (XRANGE from just past the last ID read), so a dead
        stream of any length is read whole without one reply holding all of it. Keys: id,
        entry_id, code, event, instances, tries, error, failed_at; ``event`` is None for an
        entry that was not a queued event.
        """
        if page < 1:
            raise ValueError("page must be at least 1")
        result: list[dict[str, Any]] = []
        start = "-"
        while True:

            async def work(start: str = start) -> Any:
                return await self._redis.xrange(self.dead_stream, min=start, count=page)

            batch = await self._call(work)
            result += [dead_entry(str(dead_id), fields) for dead_id, fields in batch]
            if len(batch) < page:
                return result
            start = after(str(batch[-1][0]))

    async def dead_count(self) -> int:
        """How many entries the dead-letter stream holds."""

        async def work() -> int:
            return int(await self._redis.xlen(self.dead_stream))

        return await self._call(work)

    async def remove_dead(self, ids: list[str]) -> int:
        """Delete these dead-letter stream entries (replayed); returns how many were there."""
        if not ids:
            return 0

        async def work() -> int:
            return int(await self._redis.xdel(self.dead_stream, *ids))

        return await self._call(work)

    # -- inspection and closing --------------------------------------------------------------

    async def waiting(self) -> int:
        """How many entries are deferred to a time still to come, in every partition."""
        now = self.clock()

        async def work() -> int:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self.keys.streams:
                    pipe.zcount(f"{key}:waiting", f"({now!r}", "+inf")
                return sum(int(count) for count in await pipe.execute())

        return await self._call(work)

    async def retry_now(self) -> int:
        """Make every waiting entry due now (a destination recovered); returns how many.

        Their retry state is kept, and each still waits behind its users' earlier entries.
        """
        now = self.clock()

        async def work() -> int:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self.keys.streams:
                    await self._retry_now(keys=[f"{key}:waiting"], args=[now], client=pipe)
                return sum(int(count) for count in await pipe.execute())

        count = await self._call(work)
        for partition in self._next_due:
            self._next_due[partition] = now
        self._wake.set()
        return count

    async def depth(self) -> int:
        """How many entries are stored and not yet acked (the partitions' lengths less their
        markers, the events of the inbox, and any left in the earlier single stream)."""

        async def work() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:  # one snapshot
                pipe.get(self.keys.inbox_events)
                for key in [self.stream, *self.keys.streams]:
                    pipe.xlen(key)
                for key in self.keys.streams:
                    pipe.hlen(f"{key}:markers")
                inbox, *counts = await pipe.execute()
            streams = len(self.keys.streams) + 1
            events = int(inbox) if str(inbox).isdigit() else 0
            return events + sum(map(int, counts[:streams])) - sum(map(int, counts[streams:]))

        return await self._call(work)

    async def close(self) -> None:
        """Give the partitions up and close; entries in hand and not acked stay stored.

        The next owner of each partition hands them out again first.
        """
        if self._closed:
            return
        if self._ack_task is not None:
            # Acks on their way finish first; their callers see any failure.
            await asyncio.gather(self._ack_task, return_exceptions=True)
        self._closing.set()
        if self._carrier is not None:
            self._carrier.cancel()
            await asyncio.wait({self._carrier}, timeout=_KEEPER_STOP)
        if self._keeper is not None:
            self._keeper.cancel()
            # Bounded: the keeper ends on ``_closing`` even when the cancellation is lost.
            await asyncio.wait({self._keeper}, timeout=_KEEPER_STOP)
            with contextlib.suppress(RedisError):
                await self.ownership.release_all()
        self._closed = True
        self._wake.set()
        await self._put_connection.close()
        await self._inbox.close()
        await self._redis.aclose()
