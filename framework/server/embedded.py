"""The embedded default: one process serves, queues in a SQLite file, and delivers.

``create_embedded_app(config)`` is the ingestion app with a lifespan that opens the queue,
starts a :class:`~framework.Router` over the config's instances and runs
:func:`~framework.queue.consume` on the queue. Nothing answered 200 is lost by a restart: an
event is in the file before its 200, and leaves it only once each of its deliveries ended.

On shutdown (uvicorn stops accepting and finishes the requests in flight first) the consumer
takes no more entries and waits up to ``shutdown_grace`` seconds for those in flight; what is
still unfinished then stays in the file and is delivered after the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from framework.delivery.retry import RetryPolicy
from framework.delivery.router import Router
from framework.errors import QueueError
from framework.queue.base import EventQueue
from framework.queue.consumer import Retrying, consume_supervised, finish_within
from framework.queue.sqlite import SqliteQueue
from framework.server.app import IngestionApp, Lifespan, create_app
from framework.server.config import ServerConfig
from framework.server.metrics import ServerMetrics

__all__ = ["SHUTDOWN_GRACE", "create_embedded_app", "queue_for"]

logger = logging.getLogger("actionkit.server")

SHUTDOWN_GRACE = 30.0
"""Seconds a stopping server waits for the deliveries in flight before leaving them queued."""


def queue_for(config: ServerConfig) -> SqliteQueue:
    """The embedded queue the config describes (its file, bound, lease and tries)."""
    settings = config.queue
    return SqliteQueue(
        config.queue_path,
        max_length=settings.max_length,
        claim_idle=settings.claim_idle,
        max_tries=settings.max_tries,
    )


def _restarting(exc: QueueError) -> None:
    logger.error("the queue consumer failed, restarting: [%s] %s", exc.code, exc)


async def _within(task: asyncio.Future[None], seconds: float, dropped: str) -> None:
    """Wait up to ``seconds`` for ``task``; then cancel it, saying what that leaves behind."""
    # Cancelled, consume() abandons its entries in flight and the router cancels its
    # deliveries and closes its client; both end promptly.
    if await finish_within(task, seconds):
        logger.warning("shutdown grace of %.1f s is over: %s", seconds, dropped)


def _lifespan(
    config: ServerConfig,
    queue: EventQueue,
    metrics: ServerMetrics,
    *,
    retry: RetryPolicy | None,
    transport: httpx.AsyncBaseTransport | None,
    shutdown_grace: float,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await queue.depth()  # opens the queue now: a bad file stops the start
            await metrics.watch(queue)
            router = Router(
                config.instances, dead_letters=config.dead_letters, retry=retry, transport=transport
            )
            await router.__aenter__()
            metrics.track(router.endpoints)
            app.state.endpoints = router.endpoints  # GET /health tells them
            stop = asyncio.Event()
            task = asyncio.create_task(
                consume_supervised(
                    router,
                    queue,
                    stop,
                    on_handled=metrics.handled,
                    on_restart=_restarting,
                    retrying=Retrying(on_deferred=metrics.deferred_entry),
                )
            )
            try:
                yield
            finally:
                stop.set()
                deadline = asyncio.get_running_loop().time() + shutdown_grace
                await _within(task, shutdown_grace, "entries in flight stay queued")
                remaining = max(0.0, deadline - asyncio.get_running_loop().time())
                closing = asyncio.ensure_future(router.__aexit__(None, None, None))
                await _within(
                    closing, remaining, "deliveries still retrying stop; their entries stay queued"
                )
        finally:
            await queue.close()

    return lifespan


def create_embedded_app(
    config: ServerConfig,
    *,
    queue: EventQueue | None = None,
    metrics: ServerMetrics | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    shutdown_grace: float = SHUTDOWN_GRACE,
) -> IngestionApp:
    """The ingestion app with its queue (by default the config's SQLite file) and consumer.

    The app owns ``queue``: it is opened when the server starts and closed when it stops.
    ``retry`` and ``transport`` are passed to the router (tests use them).
    """
    queue = queue if queue is not None else queue_for(config)
    metrics = metrics or ServerMetrics()
    lifespan = _lifespan(
        config, queue, metrics, retry=retry, transport=transport, shutdown_grace=shutdown_grace
    )
    return create_app(config, queue, metrics=metrics, lifespan=lifespan)
