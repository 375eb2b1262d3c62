"""Handing a stream of events from a caller's thread to the router's loop, and results back.

The sync ``Router.route_many`` runs :meth:`Router.aroute_many` on the router's own loop. A
:class:`Bridge` carries the events there in chunks (one wake-up of the loop per chunk, not per
event) and the results back in batches: the loop hands over what it has each time it runs
out of events, so that the two threads meet once per batch instead of once per event.
"""

from __future__ import annotations

import asyncio
import queue
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Bridge", "Result"]

Result = tuple[Any, BaseException | None]
"""One event's results, or the error raised in their place (then the last of the stream)."""


class Bridge:
    """Events from one thread to an async stream on ``loop``; results back, in batches.

    The caller's side: :meth:`send` and :meth:`receive`. The loop's side: :meth:`events` (the
    stream to route), :meth:`put` and :meth:`fail` (its results), :meth:`finish`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._inbox: deque[Any] = deque()
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._outbox: list[Result] = []
        self._results: queue.SimpleQueue[list[Result]] = queue.SimpleQueue()

    # -- the caller's thread --------------------------------------------------------------

    def send(self, events: list[Any], *, close: bool = False) -> None:
        """Hand ``events`` to the loop; ``close``: there will be no more."""
        self._loop.call_soon_threadsafe(self._receive, events, close)

    def receive(self) -> list[Result]:
        """The next batch of results, in order (blocks until the loop hands one over)."""
        return self._results.get()

    # -- the loop's side ------------------------------------------------------------------

    def _receive(self, events: list[Any], close: bool) -> None:
        self._inbox.extend(events)
        self._closed = self._closed or close
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def events(self) -> AsyncIterator[Any]:
        """The events sent, in order, until the caller closes; hands the results gathered
        over each time it has to wait for more."""
        inbox = self._inbox
        while True:
            while inbox:
                yield inbox.popleft()
            if self._closed:
                return
            self._flush()
            self._waiter = self._loop.create_future()
            await self._waiter
            self._waiter = None

    def put(self, results: Any) -> None:
        """One event's results, the next in order."""
        self._outbox.append((results, None))

    def fail(self, error: BaseException) -> None:
        """The error raised in place of the next event's results; the stream ends with it."""
        self._outbox.append((None, error))

    def finish(self) -> None:
        """Hand over whatever is left: the stream has ended."""
        self._flush()

    def _flush(self) -> None:
        if self._outbox:
            self._results.put(self._outbox)
            self._outbox = []
