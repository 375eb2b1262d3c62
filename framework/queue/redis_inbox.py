"""The Redis queue's inbox: each batch a server accepts is one entry, moved into the
partitions by a worker.

A server's put is its accept path, once per request at its full rate. Appending each event to
its user's partition costs, per event, its partition, its framing and its own ``XADD`` (in
the server and in Redis); appending the request's batch whole costs one ``XADD`` and one
orjson call a request, and the partitioning is done once, later, by a worker
(docs/benchmarks.md, "2026-12-05, evening: the inbox").

- **Put** (:data:`ACCEPT`, :meth:`Inbox.put`): a batch (fresh events and the instances they
  route to, :func:`~framework.queue.codec.encode_batch_bytes`) is appended to ``{S}:inbox`` as
  one entry with fields ``batch`` (its text) and ``events`` (how many), and
  ``{S}:inbox:events`` counts its events, in one script that first checks the bound: the
  partitions' entries and the inbox's events together, against ``max_length``. It is durable
  as soon as the script has run, as a partition entry is. Puts that arrive while a call is on
  its way go together in the next call (:class:`~framework.queue.redis_put.GroupedPuts`).
- **Move** (:data:`MOVE`, :meth:`Inbox.oldest`, :meth:`Inbox.move`): the worker that owns
  partition 0 reads the inbox's oldest entries (at most :data:`MOVE_EVENTS` events, at least
  one entry), decodes their events (filling those stored with their request's receipt:
  :func:`~framework.queue.codec.decode_batch`) and runs MOVE: it checks that those entries
  are still the inbox's oldest, deletes them, lowers the count, and appends their events to their
  partitions as PUT does (:data:`~framework.queue.redis_scripts.STORE`), all in one step.
  When another worker moved them first (two owners of partition 0 for a moment, while it
  changes hands), MOVE does nothing. So the batches reach the partitions whole, in the order
  they were accepted, and once.

Order: a user's events go through the inbox in the order their batches were accepted, then
keep that order in their partition. Events put with :meth:`RedisStreamQueue.put
<framework.queue.redis_stream.RedisStreamQueue.put>` go straight to the partitions: between
the two ways no order is kept (a server only uses the inbox).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from framework.event_fill import Receipt
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_batch_bytes
from framework.queue.redis_partitions import StreamKeys
from framework.queue.redis_put import GroupedPuts, PutResult, fresh_put_args, script_command
from framework.queue.redis_scripts import STORE
from framework.queue.redis_wire import HeldConnection

__all__ = ["ACCEPT", "MOVE", "MOVE_EVENTS", "Inbox"]

MOVE_EVENTS = 2000
"""Events one move carries at most (unless its first batch alone holds more)."""

_PAGE = 32
"""Inbox entries read at most for one move."""

ACCEPT = (
    STORE
    + """
local limit = tonumber(ARGV[1])
local groups = tonumber(ARGV[2])
local total = 0
if limit >= 0 then total = stored() end
local inbox, count_key = KEYS[#KEYS], KEYS[#KEYS - 1]
local out = {}
for g = 1, groups do
    local count = tonumber(ARGV[2 + g])
    if limit >= 0 and total + count > limit then
        out[g] = total
    else
        out[g] = redis.call('XADD', inbox, '*', 'batch', ARGV[2 + groups + g], 'events', count)
        redis.call('INCRBY', count_key, count)
        total = total + count
    end
end
return out
"""
)
"""KEYS: ``StreamKeys.put_keys``. ARGV: max_length (-1: no bound), the number of groups (each
one caller's batch), each group's event count, then each group's text. A group that would take
the queue past max_length is skipped. Returns, for each group, its inbox entry's ID, or the
number of entries stored then (a number) when it was skipped."""

MOVE = (
    STORE
    + """
local n = tonumber(ARGV[1])
local inbox, count_key = KEYS[#KEYS], KEYS[#KEYS - 1]
local head = redis.call('XRANGE', inbox, '-', '+', 'COUNT', n)
if #head ~= n then return -1 end
local events = 0
for i = 1, n do
    if head[i][1] ~= ARGV[1 + i] then return -1 end
    local fields = head[i][2]
    for f = 1, #fields, 2 do
        if fields[f] == 'events' then
            local count = tonumber(fields[f + 1])
            if count and count > 0 then events = events + math.floor(count) end
        end
    end
end
for i = 1, n do redis.call('XDEL', inbox, ARGV[1 + i]) end
local left = (tonumber(redis.call('GET', count_key) or '0') or 0) - events
if left > 0 then redis.call('SET', count_key, left) else redis.call('DEL', count_key) end
return table.concat(store(2 + n, (#ARGV - 1 - n) / 5), ',')
"""
)
"""KEYS: ``StreamKeys.put_keys``. ARGV: the number of inbox entries moved, their IDs (the
inbox's oldest, in order), then five values for each of their events in turn, as PUT takes
them. Returns -1, changing nothing, when those entries are not the inbox's oldest (another
worker moved them); else the events' new IDs joined by commas."""


def _events(fields: dict[str, Any]) -> int:
    """The event count an inbox entry declares (0 when it declares none)."""
    text = str(fields.get("events", ""))
    return int(text) if text.isdigit() else 0


class Inbox:
    """The inbox of one queue (see the module doc): its puts, and its moves.

    Calls raise redis-py's errors, which the queue translates.
    """

    def __init__(self, redis: aioredis.Redis, keys: StreamKeys, max_length: int) -> None:
        self.keys = keys
        self.max_length = max_length
        self._redis = redis
        self._accept = HeldConnection(redis, ACCEPT)
        self._move = HeldConnection(redis, MOVE)
        self._puts = GroupedPuts(self._send)

    async def put(
        self,
        events: list[dict[str, Any]],
        instances: tuple[str, ...],
        receipt: Receipt | None = None,
    ) -> PutResult:
        """Append ``events`` (at least one) as one batch with its ``receipt``, with the next
        call; its entry's ID, or the entries stored when the batch would pass the bound
        (nothing appended).

        Raises :class:`~framework.errors.QueueError` for an event holding a lone surrogate.
        """
        text = encode_batch_bytes(events, instances, receipt)
        return await self._puts.put(len(events), b"$%d\r\n%b\r\n" % (len(text), text))

    async def _send(self, groups: list[tuple[int, bytes]]) -> list[PutResult]:
        counts = [count for count, _ in groups]
        args = [self.max_length, len(groups), *counts]
        texts = [text for _, text in groups]
        command = script_command(self._accept.sha, self.keys.put_keys, args, texts, len(texts))
        return list(await self._accept.call(command))

    async def oldest(self) -> list[tuple[str, dict[str, Any]]]:
        """The inbox's oldest entries (ID, fields), as many as hold :data:`MOVE_EVENTS`
        events, at least one when there is one."""
        reply: Any = await self._redis.xrange(self.keys.inbox, count=_PAGE)
        chosen: list[tuple[str, dict[str, Any]]] = []
        events = 0
        for entry_id, fields in reply or []:
            found = dict(fields or {})
            events += _events(found)
            if chosen and events > MOVE_EVENTS:
                break
            chosen.append((str(entry_id), found))
        return chosen

    async def arrival(self, seconds: float) -> None:
        """Return as soon as the inbox holds an entry (at once if it does), or after
        ``seconds``: a blocking ``XREAD`` from ID 0, which any entry left in the inbox
        follows, since moved entries are deleted."""
        block = max(1, round(seconds * 1000))
        await self._redis.xread({self.keys.inbox: "0-0"}, count=1, block=block)

    async def move(self, ids: list[str], items: list[QueuedEvent]) -> bool:
        """Delete the entries ``ids`` (the inbox's oldest) and append ``items`` (their events,
        in order) to their partitions, as one step; False, with nothing changed, when ``ids``
        are no longer the oldest."""
        _, values = fresh_put_args(self.keys, items)
        args: list[str | int] = [len(ids), *ids]
        command = script_command(self._move.sha, self.keys.put_keys, args, [values], 5 * len(items))
        reply = await self._move.call(command)
        return bool(reply != -1)

    async def close(self) -> None:
        """Give the held connections back to the pool."""
        await self._accept.close()
        await self._move.close()
