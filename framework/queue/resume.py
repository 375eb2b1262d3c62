"""When a destination is back, the entries waiting for a retry go at once.

While an endpoint is down, the entries that failed on it wait in the queue for their next try,
each at its own time (the queue's backoff: up to 5 minutes). The first request to get through
is the probe of the endpoint's open circuit; its success closes the circuit, and
:func:`resume_waiting_on_close` then makes every waiting entry due
(:meth:`~framework.queue.EventQueue.retry_now`). The backlog leaves as soon as the destination
is back instead of at each entry's own time, still in each user's order.

Entries waiting for another endpoint come back too: they meet their own endpoint's gate, which
holds them or has them put back to wait, with no request sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from framework.delivery.router import Router
from framework.errors import QueueError
from framework.queue.base import EventQueue

__all__ = ["resume_waiting_on_close"]

logger = logging.getLogger("actionkit.queue")


@asynccontextmanager
async def resume_waiting_on_close(router: Router, queue: EventQueue) -> AsyncIterator[None]:
    """While inside, each circuit of ``router`` that closes makes ``queue``'s waiting entries
    due; one release runs at a time, and a close during it runs one more after it."""
    loop = asyncio.get_running_loop()
    running: asyncio.Task[None] | None = None
    again: str | None = None

    async def release(endpoint: str) -> None:
        nonlocal again
        while True:
            try:
                made_due = await queue.retry_now()
            except QueueError as exc:
                logger.warning(
                    "%s is back, but the waiting entries could not be made due: %s", endpoint, exc
                )
            else:
                if made_due:
                    logger.info("%s is back: %d waiting entries made due", endpoint, made_due)
            if again is None:
                return
            endpoint, again = again, None

    def start(endpoint: str) -> None:
        nonlocal running, again
        if running is not None and not running.done():
            again = endpoint
            return
        running = loop.create_task(release(endpoint))

    def closed(endpoint: str) -> None:
        # Called on the router's loop, which may be another thread's.
        with suppress(RuntimeError):  # this loop has closed: nothing waits any more
            loop.call_soon_threadsafe(start, endpoint)

    detach = router.on_endpoint_closed(closed)
    try:
        yield
    finally:
        detach()
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)
