"""Which partition an event goes to, and which worker consumes each partition.

Key names: every key of a stream ``S`` carries the hash tag ``{S}``, so a Redis Cluster keeps
them in one slot: ``{S}:p0`` .. ``{S}:p15`` (the partition streams; see
:mod:`framework.queue.redis_scripts` for the keys beside each), ``{S}:partitions`` (the
count, fixed on first use), ``{S}:lease:3`` (the owner of partition 3), ``{S}:workers``
(live workers, by the time their heartbeat ends), ``{S}:inbox`` and ``{S}:inbox:events`` (the
batches servers accepted, not yet moved into the partitions, and how many events they hold:
:mod:`framework.queue.redis_inbox`).

Placement: an event goes to the partition of its user, ``crc32(key) % partitions``, where the
key is :func:`~framework.delivery.ordering.lane_key`: for an alias its ``userId``, the user
merged into, whose earlier updates the merge must follow and whose later ones must follow the
merge (the source user's values win a merge); an event with no user is spread over the
partitions. An alias's ``previousId`` (the user merged away) usually lives in another
partition: the alias leaves a *marker* there (:meth:`StreamKeys.marker_of`, and
:mod:`framework.queue.redis_scripts` for how it holds both users' order).

Ownership (:class:`Ownership`): each worker heartbeats into ``{S}:workers`` and holds leases
(``SET NX PX``, renewed every third of their time to live) on its fair share of partitions,
``ceil(partitions / live workers)``. A worker over its share stops taking from the extra
partitions and gives their leases up once it has finished what it holds of them; a worker
under it takes free leases. A worker that dies stops renewing: its leases end after their
time to live (the queue's ``claim_idle``), and the partitions go to the others.
"""

from __future__ import annotations

import itertools
import logging
import math
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from framework.delivery.ordering import lane_key
from framework.queue.base import QueuedEvent
from framework.queue.redis_scripts import ACQUIRE, HEARTBEAT, RELEASE

__all__ = ["DEFAULT_PARTITIONS", "Ownership", "StreamKeys", "partition_key"]

logger = logging.getLogger("actionkit.queue")

DEFAULT_PARTITIONS = 16
"""Partition streams of a queue, unless set otherwise (every server and worker must agree)."""


def partition_key(item: QueuedEvent) -> str | None:
    """The user whose partition ``item`` goes to: its lane key (an alias's ``userId``)."""
    return lane_key(item.event)


class StreamKeys:
    """The names of a queue's keys in Redis (see the module doc)."""

    def __init__(self, stream: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.stream = stream
        self.partitions = partitions
        self.tag = "{" + stream + "}"
        self.streams = [f"{self.tag}:p{index}" for index in range(partitions)]
        self.count = f"{self.tag}:partitions"
        self.workers = f"{self.tag}:workers"
        self.migrating = f"{self.tag}:migrating"
        self.inbox = f"{self.tag}:inbox"
        """The stream of accepted batches not yet moved into the partitions
        (:mod:`framework.queue.redis_inbox`)."""
        self.inbox_events = f"{self.tag}:inbox:events"
        """How many events the inbox's batches hold."""
        self.put_keys = [*self.streams, self.inbox_events, self.inbox]
        """The KEYS of the scripts that append entries (PUT, ACCEPT, MOVE)."""
        self._spread = itertools.count()

    def lease(self, partition: int) -> str:
        """The key naming the owner of ``partition``."""
        return f"{self.tag}:lease:{partition}"

    def partition_of(self, item: QueuedEvent) -> int:
        """The partition ``item`` goes to (see the module doc)."""
        key = partition_key(item)
        if key is None:
            return next(self._spread) % self.partitions
        return self.partition_of_key(key)

    def partition_of_key(self, key: str) -> int:
        """The partition of user ``key``'s events."""
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.partitions

    def marker_of(self, keys: Sequence[str], place: int) -> tuple[int, list[str]] | None:
        """Where an entry of partition ``place`` with order keys ``keys`` needs a marker.

        ``(partition, keys)`` for its users whose events live in another partition (an
        alias's ``previousId``), None when all live in ``place``. An entry has at most one
        such partition: its first key is the user that chose ``place``, and an entry without
        a user has at most one key (an alias with only a ``previousId``).
        """
        elsewhere = [key for key in keys if self.partition_of_key(key) != place]
        if not elsewhere:
            return None
        target = self.partition_of_key(elsewhere[0])
        return target, [key for key in elsewhere if self.partition_of_key(key) == target]


class Ownership:
    """The partitions one worker holds, kept by :meth:`round` (see the module doc).

    ``token`` names this worker in leases and heartbeats (its consumer name and a random part:
    a worker started again under the same name waits for its old leases to end). ``ttl`` is
    the leases' time to live in seconds.
    """

    def __init__(self, redis: aioredis.Redis, keys: StreamKeys, token: str, ttl: float) -> None:
        self.keys = keys
        self.token = token
        self.ttl_ms = max(1, int(ttl * 1000))
        self.owned: set[int] = set()
        """Partitions whose lease this worker holds."""
        self.leaving: set[int] = set()
        """Owned partitions beyond its share: nothing more is taken from them."""
        self.new: set[int] = set()
        """Partitions just acquired: their next take first hands out the previous owner's."""
        self._heartbeat = redis.register_script(HEARTBEAT)
        self._acquire = redis.register_script(ACQUIRE)
        self._release = redis.register_script(RELEASE)
        self._redis = redis
        start = zlib.crc32(token.encode("utf-8", "surrogatepass")) % keys.partitions
        self._order = [(start + step) % keys.partitions for step in range(keys.partitions)]

    def active(self) -> list[int]:
        """Partitions to take from: owned and not being given up."""
        return sorted(self.owned - self.leaving)

    def lost(self, partition: int) -> None:
        """Forget a partition whose lease turned out to be another's."""
        if partition in self.owned:
            logger.warning("%s lost the lease of partition %d", self.token, partition)
        self.owned.discard(partition)
        self.leaving.discard(partition)
        self.new.discard(partition)

    async def round(self, busy: Iterable[int]) -> None:
        """Heartbeat, renew the leases held, give up or take partitions to hold a fair share.

        ``busy``: partitions with entries still in this worker's hands (kept while leaving).
        """
        workers = int(
            await self._heartbeat(keys=[self.keys.workers], args=[self.token, self.ttl_ms])
        )
        share = math.ceil(self.keys.partitions / max(1, workers))
        for partition in sorted(self.owned):
            if not await self._call(self._acquire, partition, "0"):
                self.lost(partition)
        active = self.active()
        if len(active) > share:
            self.leaving.update(active[share:])
        elif len(active) < share:
            for partition in sorted(self.leaving)[: share - len(active)]:
                self.leaving.discard(partition)
        held = set(busy)
        for partition in sorted(self.leaving):
            if partition not in held:
                await self._call(self._release, partition)
                self.owned.discard(partition)
                self.leaving.discard(partition)
        for partition in self._order:
            if len(self.active()) >= share:
                break
            if partition in self.owned:
                continue
            if await self._call(self._acquire, partition, "1"):
                self.owned.add(partition)
                self.new.add(partition)

    async def release_all(self) -> None:
        """Give up every lease and the heartbeat (a worker stopping)."""
        for partition in sorted(self.owned):
            await self._call(self._release, partition)
        self.owned.clear()
        self.leaving.clear()
        await self._redis.zrem(self.keys.workers, self.token)

    async def _call(self, script: Any, partition: int, *extra: str) -> bool:
        args: list[str | int] = [self.token]
        if script is not self._release:
            args.append(self.ttl_ms)
        args.extend(extra)
        return bool(await script(keys=[self.keys.lease(partition)], args=args))
