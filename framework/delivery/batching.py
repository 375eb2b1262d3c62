"""Ordered lanes: events that share a batch key are sent in order, combined while they wait.

Each key (instance, subscription, batch key such as the user ID) has a lane. A lane sends at
most one request at a time; the items that arrive while it is busy wait, and go together in
the next request, up to the action's ``maxCount``. So one user's events keep their order (an
attribute set later is never overwritten by an earlier one), and batches form by themselves
under load without adding latency when the router is idle. An optional window makes an idle
lane wait a little for more items before its first request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")


@dataclass(slots=True)
class _Lane(Generic[ItemT]):
    max_count: int
    window: float
    pending: deque[ItemT] = field(default_factory=deque)
    running: bool = False


class Lanes(Generic[ItemT]):
    """Per-key ordered lanes feeding ``send`` with lists of up to ``max_count`` items.

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

    def submit(self, key: Hashable, item: ItemT, max_count: int, window: float = 0.0) -> None:
        """Queue ``item`` on the lane of ``key``; it is sent as soon as the lane allows.

        A new lane waits ``window`` seconds for more items before its first request.
        """
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(max_count, window)
        lane.pending.append(item)
        if not lane.running:
            lane.running = True
            task = asyncio.create_task(self._run(key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, key: Hashable, lane: _Lane[ItemT]) -> None:
        batch: list[ItemT] = []
        try:
            if lane.window > 0:
                await asyncio.sleep(lane.window)
            while lane.pending:
                count = min(lane.max_count, len(lane.pending))
                batch = [lane.pending.popleft() for _ in range(count)]
                try:
                    await self._send(batch)
                except Exception as exc:
                    self._fail(batch, exc)
                batch = []
        except asyncio.CancelledError as exc:
            # The lane is cancelled (the router closing): settle everything it holds.
            self._fail([*batch, *lane.pending], exc)
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
