"""The ingestion app: Segment's HTTP Tracking API in front of a durable event queue.

``create_app(config, queue)`` is an ASGI app (:class:`IngestionApp`) with ``POST
/v1/{track, identify, page, screen, group, alias, batch, import}``, ``GET /health`` and
``GET /metrics``. An event is answered 200 only once ``queue.put_events`` has returned, that
is once it is durably stored. The app does not consume the queue: the embedded default
(``embedded.py``) adds a consumer in the same process, ``actionkit worker`` does it
elsewhere.

The app never hangs on a client and never answers 500 for what a client sent: a body must
arrive in full within ``limits.body_timeout`` (else 408, and the connection is closed), at
most ``limits.max_concurrent_requests`` ingestion requests are read or handled at once (else
503 with ``Retry-After``), and a batch larger than the queue's ``max_length`` is 413, since it
could never be accepted. ``actionkit serve`` also has uvicorn close idle connections
(``limits.keep_alive_timeout``) and bound the open ones (``limits.max_connections``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from framework.errors import QueueError
from framework.queue.base import EventQueue
from framework.server.body import Rejection
from framework.server.config import ServerConfig
from framework.server.heap import freeze_once
from framework.server.ingest import InFlight, IngestEndpoint, Receive, Scope, Send
from framework.server.metrics import PROMETHEUS_CONTENT_TYPE, ServerMetrics
from framework.server.tracking import BATCH_ENDPOINTS, EVENT_ENDPOINTS

__all__ = ["IngestionApp", "create_app"]

logger = logging.getLogger("actionkit.server")

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
"""Starlette's lifespan: entered when the server starts, left when it stops."""


def _answer(rejection: Rejection) -> JSONResponse:
    return JSONResponse(rejection.body(), rejection.status, headers=rejection.headers)


class IngestionApp:
    """The ingestion app: an ASGI app sending ``POST /v1/<endpoint>`` straight to its
    :class:`~framework.server.ingest.IngestEndpoint`, and everything else (the lifespan,
    ``/health``, ``/metrics``, 404 and 405) to a Starlette app.

    ``state`` is the Starlette app's (``config``, ``queue``, ``metrics``, ``in_flight``).
    """

    def __init__(self, starlette: Starlette, endpoints: dict[str, IngestEndpoint]) -> None:
        self.starlette = starlette
        self.endpoints = endpoints

    @property
    def state(self) -> State:
        """The app's state, shared with its Starlette app."""
        return self.starlette.state

    @property
    def router(self) -> Router:
        """The Starlette app's router, as code written for a Starlette app reaches it
        (``app.router.lifespan_context(app)``)."""
        return self.starlette.router

    def lifespan(self) -> AbstractAsyncContextManager[Any]:
        """What an ASGI server does at start and stop, for running the app in process:
        ``async with app.lifespan(): ...`` (the queue opened, the embedded consumer running)."""
        return self.starlette.router.lifespan_context(self.starlette)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection or the lifespan."""
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def _freezing(lifespan: Lifespan | None) -> Lifespan:
    """``lifespan``, then the heap frozen once the app has started (:mod:`.heap`)."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            freeze_once()
            yield

    return run


def create_app(
    config: ServerConfig,
    queue: EventQueue,
    *,
    metrics: ServerMetrics | None = None,
    lifespan: Lifespan | None = None,
) -> IngestionApp:
    """The ingestion app for ``config``, putting accepted events on ``queue``.

    ``metrics`` defaults to a fresh :class:`ServerMetrics` (``app.state.metrics``);
    ``lifespan`` runs around the server's life (the embedded consumer uses it); once it has
    started, the process's long-lived objects are frozen out of the garbage collector's walks
    (:mod:`framework.server.heap`). The app never closes ``queue``: its owner does.
    """
    metrics = metrics or ServerMetrics()
    in_flight = InFlight(config.limits.max_concurrent_requests)

    async def health(request: Request) -> Response:
        try:
            depth = await queue.depth()
        except QueueError as exc:
            logger.error("the queue is unusable: [%s] %s", exc.code, exc)
            response: Response = JSONResponse(
                {"status": "unavailable", "code": exc.code, "message": "The queue is unusable."},
                503,
            )
        else:
            body: dict[str, Any] = {"status": "ok", "queue_depth": depth}
            try:
                body["queue_waiting"] = await queue.waiting()
            except QueueError as exc:
                logger.error("reading the waiting entries failed: [%s] %s", exc.code, exc)
            endpoints = getattr(request.app.state, "endpoints", None)
            if endpoints is not None:  # the embedded consumer's router
                body["endpoints"] = [state.to_dict() for state in endpoints()]
            response = JSONResponse(body)
        metrics.requests.labels("health", str(response.status_code)).inc()
        return response

    async def scrape(request: Request) -> Response:
        try:
            metrics.queue_depth.set(await queue.depth())
            # Read here too, not only counted by the consumer: with --redis there is none.
            metrics.queue_dead_entries.set(await queue.dead_count())
            metrics.queue_waiting.set(await queue.waiting())
        except QueueError as exc:
            logger.error("reading the queue depth failed: [%s] %s", exc.code, exc)
        metrics.refresh_endpoints()
        return Response(metrics.render(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _answer(Rejection(404, "NOT_FOUND", "There is no such endpoint."))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _answer(Rejection(405, "METHOD_NOT_ALLOWED", "This endpoint takes another method."))

    endpoints = {
        f"/v1/{name}": IngestEndpoint(name, config, queue, metrics, in_flight)
        for name in (*EVENT_ENDPOINTS, *BATCH_ENDPOINTS)
    }
    # Routed by Starlette too: other methods are 405, and a mounted app (a root path) gets
    # there.
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()]
    routes += [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {404: not_found, 405: not_allowed}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=_freezing(lifespan))
    app.state.config = config
    app.state.queue = queue
    app.state.metrics = metrics
    app.state.in_flight = in_flight
    return IngestionApp(app, endpoints)
