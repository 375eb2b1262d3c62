"""The scale-out event queue: a Redis stream read by a consumer group of workers.

Each queued event is one stream entry (field ``item``: the event and its instances, as JSON).
Servers append with XADD; workers read with XREADGROUP as consumers of one group, so each
entry goes to one worker, and stays in the group's pending list until it is acknowledged.

At least once: :meth:`RedisStreamQueue.ack` is XACK and XDEL together, sent only once every
delivery of the entry has ended. An entry whose worker died stays pending; once it has been
idle ``claim_idle`` seconds, any worker's :meth:`~RedisStreamQueue.take` claims it
(XAUTOCLAIM), and its ``tries`` is the delivery count Redis kept for it. :meth:`fail` leaves
an entry pending, so it is tried again after ``claim_idle`` (a backoff), until it has been
tried ``max_tries`` times: it then moves to the dead-letter stream ``{stream}:dead`` with its
error. An entry claimed more than ``max_tries`` times without ever being acked or failed (one
that kills its worker) is moved there too.

Bounds: acked entries are deleted, so the stream's length is exactly the entries not yet
acked. The bound is checked and the entries appended in one Lua script, atomically: when
``max_length`` would be passed, :meth:`put` raises :class:`~framework.errors.QueueFullError`
and appends nothing, and the server answers 503 with ``Retry-After``. XADD's ``MAXLEN`` or
``MINID`` trimming is not used: it would drop the oldest entries, unread or pending ones
included, which are events already answered 200.

Durability is Redis's own: with ``appendonly yes`` and ``appendfsync always`` an entry whose
XADD was answered survives a crash of Redis; with the default ``everysec``, up to a second of
entries can be lost on a power cut; without persistence, a restart of Redis loses the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from framework.errors import QueueError, QueueFullError
from framework.queue.base import (
    DEAD_NEVER_ACKNOWLEDGED,
    DEAD_NOT_QUEUED_EVENT,
    DEAD_TRIES_EXHAUSTED,
    Entry,
    OnDead,
    QueuedEvent,
    check_queue_bounds,
)
from framework.queue.codec import decode_item, encode_item

__all__ = ["RedisStreamQueue"]

T = TypeVar("T")

logger = logging.getLogger("actionkit.queue")

_UNREADABLE = "The entry is not a queued event."

_FULL_RETRY_AFTER = 1.0
"""Seconds a client is asked to wait when the stream is full."""

DEAD_PAGE = 1000
"""Dead-letter stream entries read per XRANGE: the stream is read whole, a page at a time."""

# KEYS[1]: the stream. ARGV[1]: max_length; ARGV[2..]: the items. Returns the new entry IDs,
# or the stream's length (a number) when the items would take it past max_length.
_PUT_SCRIPT = """
local length = redis.call('XLEN', KEYS[1])
if length + #ARGV - 1 > tonumber(ARGV[1]) then
    return length
end
local ids = {}
for i = 2, #ARGV do
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i])
end
return ids
"""


def _decode(fields: dict[str, str] | None) -> QueuedEvent | None:
    """The queued event of an entry's fields; None when they are not one of ours."""
    return decode_item((fields or {}).get("item"))


def _legacy_code(error: str) -> str:
    """The code of a dead entry buried before dead entries had one."""
    if error == _UNREADABLE:
        return DEAD_NOT_QUEUED_EVENT
    if "never acknowledged" in error:
        return DEAD_NEVER_ACKNOWLEDGED
    return DEAD_TRIES_EXHAUSTED


def _after(stream_id: str) -> str:
    """The smallest stream ID after ``stream_id`` (``ms-seq``): where the next page starts."""
    millis, _, seq = stream_id.partition("-")
    return f"{millis}-{int(seq) + 1}"


def _dead_entry(dead_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A dead-letter stream entry as :meth:`RedisStreamQueue.dead_entries` lists it."""
    item = _decode(fields)
    return {
        "id": dead_id,
        "entry_id": fields.get("entry_id"),
        "code": fields.get("code") or _legacy_code(fields.get("error", "")),
        "event": item.event if item else None,
        "instances": list(item.instances) if item else [],
        "tries": int(_number(fields.get("tries"))),
        "error": fields.get("error", ""),
        "failed_at": _number(fields.get("failed_at")),
    }


def _number(text: str | None) -> float:
    """A dead entry's number field; 0 when it is missing or not a number (edited by hand)."""
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def _default_consumer_name() -> str:
    """``hostname-pid``: unique among the workers of a group, and says where each one runs."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisStreamQueue:
    """An :class:`~framework.queue.EventQueue` on a Redis stream (see the module doc).

    ``url``: a redis-py URL (``redis://host:6379/0``, ``rediss://``, ``unix://``).
    ``stream`` and ``group`` name the stream and its consumer group (created, with the
    stream, on first use; a group created here reads the stream from its start, so events
    queued before any worker ran are delivered). ``consumer`` names this reader in the group
    (by default ``hostname-pid``; two live workers must not share a name). ``max_length``:
    entries not yet acked, at most. ``claim_idle``: seconds an entry stays with its reader
    before another may claim it; longer than any one delivery may take, retries included.
    ``max_tries``: takes after which a failing entry moves to ``{stream}:dead``.
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
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._put_script = self._redis.register_script(_PUT_SCRIPT)
        self._group_ready = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._held: set[str] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._acks: list[tuple[list[str], asyncio.Future[None]]] = []
        self._ack_task: asyncio.Task[None] | None = None
        self._closed = False
        self.on_dead: OnDead | None = None

    async def __aenter__(self) -> RedisStreamQueue:
        try:
            await self._call(self._ensure_group)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- Redis calls, errors translated in one place -----------------------------------------

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        if self._closed:
            raise QueueError("The queue is closed.")
        try:
            if not self._group_ready:
                await self._ensure_group()
            try:
                return await work()
            except ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    raise
                # The stream or its group was removed (a Redis restarted without persistence,
                # an operator's DEL): create them again, and try once more.
                await self._ensure_group()
                return await work()
        except ResponseError as exc:
            raise QueueError(
                f"The Redis stream {self.stream} at {_safe_url(self.url)} refused a command: {exc}."
            ) from exc
        except RedisError as exc:
            raise QueueError(
                f"The Redis stream {self.stream} at {_safe_url(self.url)} cannot be used: "
                f"{str(exc).rstrip('.')}."
            ) from exc

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    # -- put ---------------------------------------------------------------------------------

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        """Append ``items`` to the stream, all or none; returns their entry IDs in order.

        Raises :class:`~framework.errors.QueueFullError` when they would take the stream past
        ``max_length`` (nothing is appended), :class:`~framework.errors.QueueError` when Redis
        cannot be used.
        """
        if not items:
            return []
        args: list[str | int] = [self.max_length, *(encode_item(item) for item in items)]

        async def work() -> Any:
            return await self._put_script(keys=[self.stream], args=args)

        result = await self._call(work)
        if isinstance(result, int):
            raise QueueFullError(
                f"The event stream is full ({self.max_length} entries not yet delivered); "
                "try again shortly.",
                retry_after=_FULL_RETRY_AFTER,
            )
        return [str(entry_id) for entry_id in result]

    # -- take --------------------------------------------------------------------------------

    async def take(self, max_count: int, *, block: float = 1.0) -> list[Entry]:
        """Up to ``max_count`` entries, waiting at most ``block`` seconds for the first.

        Entries idle for ``claim_idle`` in the pending list (their reader died, or they
        failed) come first, claimed for this consumer; then new entries of the stream.
        """
        if max_count < 1:
            return []
        if self._keeper is None and not self._closed:
            self._keeper = asyncio.get_running_loop().create_task(self._keep_held())
        entries = await self._claim(max_count)
        remaining = max_count - len(entries)
        if remaining > 0:
            entries.extend(await self._read(remaining, block=0 if entries else block))
        self._held.update(entry.id for entry in entries)
        return entries

    async def _keep_held(self) -> None:
        """Keep the entries this consumer is handling from looking idle to other consumers.

        A delivery may take longer than ``claim_idle`` (retries with backoff): every third of
        it, XCLAIM ... JUSTID resets the idle time of the entries held here, without counting
        a try. Entries of a worker that died are no longer refreshed, and are claimed.
        """
        interval = self.claim_idle / 3
        while True:
            await asyncio.sleep(interval)
            held: list[int | bytes | str | memoryview] = list(self._held)
            if not held:
                continue
            try:
                await self._redis.xclaim(
                    self.stream, self.group, self.consumer, 0, held, justid=True
                )
            except RedisError as exc:
                # Not fatal: at worst another consumer claims an entry still in hand, and it
                # is delivered twice (at least once). The next take reports the outage.
                logger.warning("Cannot refresh the entries held by %s: %s", self.consumer, exc)

    async def _claim(self, max_count: int) -> list[Entry]:
        now = time.monotonic()
        if now < self._next_claim:
            return []
        idle_ms = int(self.claim_idle * 1000)

        async def work() -> tuple[str, list[tuple[str, dict[str, str] | None]]]:
            reply = await self._redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=idle_ms,
                start_id=self._claim_cursor,
                count=max_count,
            )
            return str(reply[0]), list(reply[1])

        cursor, claimed = await self._call(work)
        self._claim_cursor = cursor
        if cursor == "0-0" and len(claimed) < max_count:
            # The whole pending list was scanned: look again in a while, not on every take.
            self._next_claim = now + min(self.claim_idle / 2, 5.0)
        if not claimed:
            return []
        ids = [entry_id for entry_id, _ in claimed]

        async def counts() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id in ids:
                    pipe.xpending_range(
                        self.stream, self.group, entry_id, entry_id, 1, self.consumer
                    )
                return list(await pipe.execute())

        tries_by_id: dict[str, int] = {}
        for reply in await self._call(counts):
            for pending in reply:
                tries_by_id[str(pending["message_id"])] = int(pending["times_delivered"])
        entries: list[Entry] = []
        for entry_id, fields in claimed:
            tries = tries_by_id.get(entry_id)
            if tries is None or entry_id in self._held:
                continue  # acked meanwhile, claimed by another consumer, or still in hand here
            item = _decode(fields)
            if item is None:
                await self._bury(entry_id, fields, tries, DEAD_NOT_QUEUED_EVENT, _UNREADABLE)
            elif tries > self.max_tries:
                await self._bury(
                    entry_id,
                    fields,
                    tries - 1,
                    DEAD_NEVER_ACKNOWLEDGED,
                    f"The entry was taken {tries - 1} times and never acknowledged "
                    "(its worker stopped while handling it each time).",
                )
            else:
                entries.append(Entry(entry_id, item, tries))
        return entries

    async def _read(self, max_count: int, *, block: float) -> list[Entry]:
        block_ms = int(block * 1000) if block > 0 else None
        if block_ms is not None:
            block_ms = max(block_ms, 1)

        async def work() -> Any:
            return await self._redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=max_count, block=block_ms
            )

        reply = await self._call(work)
        entries: list[Entry] = []
        for _stream, messages in reply or []:
            for entry_id, fields in messages:
                item = _decode(fields)
                if item is None:
                    await self._bury(entry_id, fields, 1, DEAD_NOT_QUEUED_EVENT, _UNREADABLE)
                else:
                    entries.append(Entry(str(entry_id), item, 1))
        return entries

    # -- ack, fail, dead letters -------------------------------------------------------------

    async def ack(self, ids: list[str]) -> None:
        """Acknowledge and delete these entries (XACK and XDEL, in one transaction).

        Acks asked for while another is on its way to Redis are sent together, in the next
        transaction: under load, one round trip acknowledges many entries.
        """
        if not ids:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.append((list(ids), future))
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.get_running_loop().create_task(self._flush_acks())
        try:
            await future
        finally:
            # Acked, or not: either way no longer refreshed; if the ack did not reach Redis,
            # the entry is claimed again after claim_idle.
            self._held.difference_update(ids)

    async def _flush_acks(self) -> None:
        while self._acks:
            waiting, self._acks = self._acks, []
            ids = [entry_id for group, _ in waiting for entry_id in group]

            async def work(ids: list[str] = ids) -> None:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self.stream, self.group, *ids)
                    pipe.xdel(self.stream, *ids)
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

    async def fail(self, entry: Entry, error: str) -> None:
        """Hand ``entry`` back, or dead-letter it once it has been tried ``max_tries`` times.

        Handed back, it stays pending and is claimed again after ``claim_idle`` seconds (by
        any worker); dead-lettered, it moves to ``{stream}:dead`` with ``error``.
        """
        self._held.discard(entry.id)
        if entry.tries < self.max_tries:
            logger.info("Entry %s failed (try %d); it is tried again later.", entry.id, entry.tries)
            return
        await self._bury(
            entry.id, {"item": encode_item(entry.item)}, entry.tries, DEAD_TRIES_EXHAUSTED, error
        )

    async def _bury(
        self, entry_id: str, fields: dict[str, str] | None, tries: int, code: str, error: str
    ) -> None:
        """Move an entry to the dead-letter stream with its code and error; ack and delete it."""
        dead = {
            "item": (fields or {}).get("item", ""),
            "entry_id": entry_id,
            "tries": str(tries),
            "code": code,
            "error": error,
            "failed_at": repr(time.time()),
        }

        async def work() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self.dead_stream, dead)  # type: ignore[arg-type]
                pipe.xack(self.stream, self.group, entry_id)
                pipe.xdel(self.stream, entry_id)
                await pipe.execute()

        await self._call(work)
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
            result += [_dead_entry(str(dead_id), fields) for dead_id, fields in batch]
            if len(batch) < page:
                return result
            start = _after(str(batch[-1][0]))

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

    async def defer(self, entry: Entry, item: QueuedEvent, *, at: float) -> None:
        """Not yet supported by this queue (the retry horizon is being built)."""
        raise NotImplementedError("defer is not supported by this queue yet")

    async def waiting(self) -> int:
        """Not yet supported by this queue: nothing is ever deferred here."""
        return 0

    # -- inspection and closing --------------------------------------------------------------

    async def depth(self) -> int:
        """How many entries are stored and not yet acked (the stream's length)."""

        async def work() -> int:
            return int(await self._redis.xlen(self.stream))

        return await self._call(work)

    async def close(self) -> None:
        """Close the connections; entries taken and not acked stay pending, to be claimed.

        A consumer with nothing pending is removed from the group, so that the group lists
        only workers that are alive or left work behind.
        """
        if self._closed:
            return
        if self._ack_task is not None:
            # Acks on their way finish first; their callers see any failure.
            await asyncio.gather(self._ack_task, return_exceptions=True)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        try:
            if self._group_ready:
                pending = await self._redis.xpending_range(
                    self.stream, self.group, "-", "+", 1, self.consumer
                )
                if not pending:
                    await self._redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except RedisError:
            pass  # nothing is lost: the consumer's name stays listed in the group
        finally:
            self._closed = True
            await self._redis.aclose()
