"""Ordered lanes: one user's requests leave one at a time, in order, combined while they wait.

Each key (an instance and a user: :func:`framework.delivery.ordering.lane_key`) has a lane,
whatever mapping or action its items come from. A lane sends one request at a time, in the
order its items were submitted; the items that arrive while it is busy wait. A request takes
the lane's first item and the items right behind it that have the same batch group (the same
mapping and batch key, whose action batches), up to the first item's ``max_count``: so one
user's requests keep their order (an attribute set later is never overwritten by an earlier
one, an alias merge never overtakes the user's earlier updates), and batches form by
themselves under load without adding latency when the router is idle. An item with no group
goes on its own. A new lane may wait ``window`` seconds for more items before its first
request.

A lane can be blocked (:meth:`Lanes.block`): its owner uses that when an item must wait for a
retry that happens elsewhere (a queue's), so that the items behind it are not sent before it.
The block ends when the lane empties.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Lanes"]

ItemT = TypeVar("ItemT")


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much
class _Entry(Generic[ItemT]):
    item: ItemT
    group: Hashable | None
    max_count: int


@dataclass(slots=True)
class _Lane(Generic[ItemT]):
    window: float
    pending: deque[_Entry[ItemT]] = field(default_factory=deque)
    running: bool = False
    blocked: bool = False

    def next_batch(self) -> list[ItemT]:
        """Pop the first item and the items behind it of the same group, up to its count."""
        first = self.pending.popleft()
        batch = [first.item]
        if first.group is None:
            return batch
        while (
            self.pending and len(batch) < first.max_count and self.pending[0].group == first.group
        ):
            batch.append(self.pending.popleft().item)
        return batch


class Lanes(Generic[ItemT]):
    """Per-key ordered lanes feeding ``send`` with lists of consecutive items of one group.

    ``send`` must settle every item it is given; should it raise, ``fail`` is called with the
    items and the error so that none is left waiting.
    """

    def __init__(
        self,
        send: Callable[[list[ItemT]], Awaitable[None]],
        fail: Callable[[list[ItemT], BaseException], None],
    ) -> None:
        self._send = send
        self._fail = fail
        self._lanes: dict[Hashable, _Lane[ItemT]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self,
        key: Hashable,
        item: ItemT,
        *,
        group: Hashable | None = None,
        max_count: int = 1,
        window: float = 0.0,
    ) -> None:
        """Queue ``item`` at the end of the lane of ``key``; it is sent when its turn comes.

        ``group`` (None: none) lets it share a request with the items of the same group right
        before or behind it, up to ``max_count`` items. A new lane waits ``window`` seconds
        for more items before its first request.
        """
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(window)
        lane.pending.append(_Entry(item, group, max(1, max_count)))
        if not lane.running:
            lane.running = True
            task = asyncio.create_task(self._run(key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def block(self, key: Hashable) -> None:
        """Mark the lane of ``key`` blocked until it empties (nothing if it has no items)."""
        lane = self._lanes.get(key)
        if lane is not None:
            lane.blocked = True

    def blocked(self, key: Hashable) -> bool:
        """Whether the lane of ``key`` is blocked (see :meth:`block`)."""
        lane = self._lanes.get(key)
        return lane is not None and lane.blocked

    async def _run(self, key: Hashable, lane: _Lane[ItemT]) -> None:
        batch: list[ItemT] = []
        try:
            if lane.window > 0:
                await asyncio.sleep(lane.window)
            while lane.pending:
                batch = lane.next_batch()
                try:
                    await self._send(batch)
                except Exception as exc:
                    self._fail(batch, exc)
                batch = []
        except asyncio.CancelledError as exc:
            # The lane is cancelled (the router closing): settle everything it holds.
            self._fail([*batch, *(entry.item for entry in lane.pending)], exc)
            lane.pending.clear()
            raise
        finally:
            lane.running = False
            if not lane.pending and self._lanes.get(key) is lane:
                del self._lanes[key]

    @property
    def busy(self) -> int:
        """How many lanes have items waiting or in flight."""
        return len(self._lanes)

    def cancel(self) -> None:
        """Cancel every lane's task; their items are settled through ``fail``."""
        for task in list(self._tasks):
            task.cancel()

    async def drain(self) -> None:
        """Wait until every lane is idle."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
