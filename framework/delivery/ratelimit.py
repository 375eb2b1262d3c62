"""Per-instance rate limits: requests per second (a token bucket) and concurrent requests."""

from __future__ import annotations

import asyncio
from types import TracebackType


class RateLimiter:
    """An async context manager that holds a request until both limits allow it.

    ``per_second`` (None for no limit) refills a bucket of ``burst`` tokens; ``concurrency``
    (None for no limit) bounds requests in flight.
    """

    def __init__(
        self,
        per_second: float | None = None,
        concurrency: int | None = None,
        burst: int | None = None,
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second or 1)))
        self._tokens = self.burst
        self._updated: float | None = None
        self._semaphore = asyncio.Semaphore(concurrency) if concurrency else None
        self._lock = asyncio.Lock()
        self.unlimited = per_second is None and self._semaphore is None
        """Neither limit is set: entering never waits and leaving does nothing."""

    async def _take_token(self) -> None:
        if self.per_second is None:
            return
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                now = loop.time()
                if self._updated is not None:
                    self._tokens = min(
                        self.burst, self._tokens + (now - self._updated) * self.per_second
                    )
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.per_second)

    async def __aenter__(self) -> RateLimiter:
        if self._semaphore is not None:
            await self._semaphore.acquire()
        try:
            await self._take_token()
        except BaseException:
            if self._semaphore is not None:
                self._semaphore.release()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
