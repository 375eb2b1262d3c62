"""Ordered lanes: one user's requests leave one at a time, in order; batches gather many users.

Each key (an instance and a user: :func:`framework.delivery.ordering.lane_key`) has a lane,
whatever mapping or action its items come from. A lane has at most one request in flight, and
its items leave in the order they were submitted; the items that arrive while it is busy wait.
So one user's requests keep their order: an attribute set later is never overwritten by an
earlier one, an alias merge never overtakes the user's earlier updates.

An item with no batch group goes in a request of its own, sent by its lane. An item with a
group (its mapping and batch key, whose action batches) goes through that group's batch: the
lane waits there, with the items of its front that share the group, beside the other lanes
(other users) whose front has the same group. The batch sends one request at a time: it takes
the waiting lanes in the order they came and, from each, its consecutive items of the group,
up to ``max_count`` items in all (a lane's run that does not fit is cut: the rest waits at its
lane's front for the next request). Each lane goes on with its next item once the request
holding its items has ended (settled, after every retry). So, inside one request, a user's
events are consecutive and in their order; a user's later event is never sent before an
earlier one has ended; and batches form by themselves under load, of one user's events or
of many users', without adding latency when the router is idle. A batch that starts idle (no
request of its group in flight, none just ended) may wait ``window`` seconds for more items
before its first request.

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
    window: float


@dataclass(slots=True)
class _Lane(Generic[ItemT]):
    pending: deque[_Entry[ItemT]] = field(default_factory=deque)
    running: bool = False
    blocked: bool = False
    turn: asyncio.Future[None] | None = None
    """Set while the lane waits in a batch: done once the request holding its items ended."""

    def take(self, group: Hashable, room: int) -> list[ItemT]:
        """Pop the items at the front that are of ``group``, at most ``room`` of them."""
        taken: list[ItemT] = []
        pending = self.pending
        while pending and len(taken) < room and pending[0].group == group:
            taken.append(pending.popleft().item)
        return taken


@dataclass(slots=True)
class _Batch(Generic[ItemT]):
    max_count: int
    window: float
    waiting: dict[Hashable, _Lane[ItemT]] = field(default_factory=dict)
    """The lanes whose front waits for this batch, in the order they came."""
    running: bool = False


class Lanes(Generic[ItemT]):
    """Per-key ordered lanes feeding ``send`` with lists of items of one group.

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
        self._batches: dict[Hashable, _Batch[ItemT]] = {}
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

        ``group`` (None: none) lets it share a request with the items of the same group, its
        lane's right before or behind it and other lanes' (see the module doc), up to
        ``max_count`` items. A batch that starts idle waits ``window`` seconds for more items
        before its first request.
        """
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.pending.append(_Entry(item, group, max(1, max_count), window))
        if not lane.running:
            lane.running = True
            self._start(self._run(key, lane))

    def _start(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
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
        item: list[ItemT] = []
        try:
            while lane.pending:
                front = lane.pending[0]
                if front.group is not None:
                    await self._wait_in_batch(key, lane, front)
                    continue
                item = [lane.pending.popleft().item]
                try:
                    await self._send(item)
                except Exception as exc:
                    self._fail(item, exc)
                item = []
        except asyncio.CancelledError as exc:
            # The lane is cancelled (the router closing): settle everything it holds.
            self._fail([*item, *(entry.item for entry in lane.pending)], exc)
            lane.pending.clear()
            raise
        finally:
            lane.running = False
            if not lane.pending and self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _wait_in_batch(self, key: Hashable, lane: _Lane[ItemT], front: _Entry[ItemT]) -> None:
        """Wait in the batch of the front's group until a request took the lane's run and
        ended."""
        group = front.group
        batch = self._batches.get(group)
        if batch is None:
            batch = self._batches[group] = _Batch(front.max_count, front.window)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.turn = turn
        batch.waiting[key] = lane
        if not batch.running:
            batch.running = True
            self._start(self._serve(group, batch))
        try:
            await turn
        finally:
            lane.turn = None
            if batch.waiting.get(key) is lane:  # cancelled before a request took its run
                del batch.waiting[key]

    async def _serve(self, group: Hashable, batch: _Batch[ItemT]) -> None:
        """Send the batch's requests one after the other while lanes wait in it."""
        items: list[ItemT] = []
        turns: list[asyncio.Future[None]] = []
        try:
            if batch.window > 0:
                await asyncio.sleep(batch.window)
            while batch.waiting:
                items, turns = [], []
                for key in list(batch.waiting):
                    lane = batch.waiting.pop(key)
                    items.extend(lane.take(group, batch.max_count - len(items)))
                    if lane.turn is not None:
                        turns.append(lane.turn)
                    if len(items) >= batch.max_count:
                        break
                if items:
                    try:
                        await self._send(items)
                    except Exception as exc:
                        self._fail(items, exc)
                items = []
                for turn in turns:
                    if not turn.done():
                        turn.set_result(None)
                if turns:
                    # One step for the lanes just let go: those whose next run is of this
                    # group join again before the batch, finding no lane, ends (an idle
                    # batch, not a busy one, waits its window).
                    turns = []
                    await asyncio.sleep(0)
        except asyncio.CancelledError as exc:
            # The router closing: settle the request's items; the lanes settle the rest.
            self._fail(items, exc)
            for lane in batch.waiting.values():
                if lane.turn is not None:
                    turns.append(lane.turn)
            for turn in turns:
                turn.cancel()
            raise
        finally:
            batch.running = False
            if not batch.waiting and self._batches.get(group) is batch:
                del self._batches[group]

    @property
    def busy(self) -> int:
        """How many lanes have items waiting or in flight."""
        return len(self._lanes)

    def cancel(self) -> None:
        """Cancel every lane's and batch's task; their items are settled through ``fail``."""
        for task in list(self._tasks):
            task.cancel()

    async def drain(self) -> None:
        """Wait until every lane is idle."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
