"""An event loop whose clock jumps: the tester's waits take no real time.

Delivery waits as in production (a ``Retry-After``, a backoff, a paused endpoint, a batch
window), and the tester must see the same outcomes without sleeping. :class:`JumpingLoop` is
an asyncio loop whose ``time()`` is the real monotonic clock plus an offset: whenever the loop
has nothing to do but wait for its next timer, it adds the wait to the offset instead of
blocking, so the timer is due at once. Code that reads ``loop.time()`` (the endpoint gate the
tester builds, the rate limiter) sees the wait as spent; I/O still wakes the loop as usual,
and a loop with no timer blocks on its selector as any loop does.

The tester's runs never touch the network (the mock API answers in-process), so nothing is
raced against the jump; a run with real sockets would see its timeouts fire early.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["JumpingLoop"]


class _JumpingSelector(selectors.BaseSelector):
    """A selector that, asked to wait ``timeout`` seconds for nothing, moves the clock on."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.offset = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return self._inner.select(timeout)
        ready = self._inner.select(0)
        if not ready:
            self.offset += timeout
        return ready

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()


class JumpingLoop(asyncio.SelectorEventLoop):
    """An event loop whose waits for timers take no real time (see the module doc)."""

    def __init__(self) -> None:
        self._jumps = _JumpingSelector()
        super().__init__(self._jumps)

    def time(self) -> float:
        """The real monotonic clock plus every wait skipped so far."""
        return time.monotonic() + self._jumps.offset

    @property
    def skipped(self) -> float:
        """The seconds of waiting skipped so far."""
        return self._jumps.offset
