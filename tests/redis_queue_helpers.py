"""What the tests of the Redis queue share beside their fixtures (tests/conftest.py: ``server``,
``admin``, ``stream``): running a scenario, taking until enough came."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from framework.queue import Entry
from framework.queue.redis_stream import RedisStreamQueue

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` to its end in a fresh event loop."""

    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


async def take_until(queue: RedisStreamQueue, count: int, timeout: float = 30.0) -> list[Entry]:
    """Take until ``count`` entries came (``timeout`` bounds a hang only)."""
    entries: list[Entry] = []
    deadline = time.monotonic() + timeout
    while len(entries) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"took {len(entries)} entries of {count}")
        entries.extend(await queue.take(count - len(entries), block=0.05))
    return entries
