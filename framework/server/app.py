"""The ingestion app: Segment's HTTP Tracking API in front of a durable event queue.

``create_app(config, queue)`` is a Starlette app with ``POST /v1/{track, identify, page,
screen, group, alias, batch, import}``, ``GET /health`` and ``GET /metrics``. An event is
answered 200 only once ``queue.put`` has returned, that is once it is durably stored. The
app does not consume the queue: the embedded default (``embedded.py``) adds a consumer in
the same process, ``actionkit worker`` does it elsewhere.

The app never hangs on a client and never answers 500 for what a client sent: a body must
arrive in full within ``limits.body_timeout`` (else 408, and the connection is closed), at
most ``limits.max_concurrent_requests`` ingestion requests are read or handled at once (else
503 with ``Retry-After``), and a batch larger than the queue's ``max_length`` is 413, since it
could never be accepted. ``actionkit serve`` also has uvicorn close idle connections
(``limits.keep_alive_timeout``) and bound the open ones (``limits.max_connections``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from framework.definitions.events import EventChecker
from framework.errors import QueueError, QueueFullError
from framework.queue.base import EventQueue, QueuedEvent
from framework.server.body import Rejection, parse_json_object, read_body
from framework.server.config import ServerConfig
from framework.server.heap import freeze_once
from framework.server.metrics import PROMETHEUS_CONTENT_TYPE, ServerMetrics
from framework.server.tracking import BATCH_ENDPOINTS, EVENT_ENDPOINTS, basic_auth_key, events_of

__all__ = ["create_app"]

logger = logging.getLogger("actionkit.server")

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
"""Starlette's lifespan: entered when the server starts, left when it stops."""

_UNAUTHORIZED = Rejection(
    401,
    "UNAUTHORIZED",
    "A valid write key is required: send it as the HTTP Basic user name (empty password) "
    "or as 'writeKey' in the body.",
    headers={"WWW-Authenticate": 'Basic realm="actionkit"'},
)


def _answer(rejection: Rejection) -> JSONResponse:
    return JSONResponse(rejection.body(), rejection.status, headers=rejection.headers)


# Answered before the body is read in full: the connection is closed after the answer, so
# that what the client still sends is never taken for a next request.
_CLOSE = {"Connection": "close"}


def _busy(limit: int) -> Rejection:
    return Rejection(
        503,
        "SERVER_BUSY",
        f"The server is handling {limit} requests, the most it takes at once; nothing was "
        "accepted. Try again later.",
        headers={"Retry-After": "1", **_CLOSE},
    )


def _body_timeout(seconds: float) -> Rejection:
    return Rejection(
        408,
        "BODY_TIMEOUT",
        f"The request body did not arrive in full within {seconds:g} seconds (a Content-Length "
        "larger than the body sent, or a stalled client); nothing was accepted.",
        headers=_CLOSE,
    )


_BODY_INCOMPLETE = Rejection(
    400,
    "BODY_INCOMPLETE",
    "The client disconnected before the request body arrived in full; nothing was accepted.",
    headers=_CLOSE,
)


class _InFlight:
    """The ingestion requests being read or handled now, shared by every endpoint of an app."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


class _Ingest:
    """The handler of one tracking endpoint."""

    def __init__(
        self,
        endpoint: str,
        config: ServerConfig,
        queue: EventQueue,
        metrics: ServerMetrics,
        in_flight: _InFlight,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.queue = queue
        self.metrics = metrics
        self.in_flight = in_flight
        self.checker = EventChecker()
        limits = config.limits
        self.limit = (
            limits.max_batch_bytes if endpoint in BATCH_ENDPOINTS else limits.max_event_bytes
        )

    async def answer(self, request: Request) -> Response:
        in_flight = self.in_flight
        if in_flight.count >= in_flight.limit:
            response: Response = _answer(_busy(in_flight.limit))
        else:
            in_flight.count += 1
            try:
                response = await self._handle(request)
            finally:
                in_flight.count -= 1
        self.metrics.requests.labels(self.endpoint, str(response.status_code)).inc()
        return response

    async def _read(self, request: Request) -> bytes | Rejection:
        """The body within its byte limit and the body deadline."""
        seconds = self.config.limits.body_timeout
        try:
            async with asyncio.timeout(seconds):
                return await read_body(request, self.limit)
        except TimeoutError:
            return _body_timeout(seconds)
        except ClientDisconnect:
            return _BODY_INCOMPLETE

    async def _handle(self, request: Request) -> Response:
        received = datetime.now(UTC)
        header = request.headers.get("authorization")
        key = basic_auth_key(header)
        routes = self.config.routes(key) if key is not None else None
        if header is not None and routes is None:
            return _answer(_UNAUTHORIZED)  # refused before the body is read
        raw = await self._read(request)
        if isinstance(raw, Rejection):
            return _answer(raw)
        body = parse_json_object(raw)
        if isinstance(body, Rejection):
            return _answer(body)
        if routes is None:
            given = body.get("writeKey")
            routes = self.config.routes(given if isinstance(given, str) else None)
            if routes is None:
                return _answer(_UNAUTHORIZED)
        events = events_of(
            self.endpoint,
            body,
            limits=self.config.limits,
            received=received,
            checker=self.checker,
        )
        if isinstance(events, Rejection):
            return _answer(events)
        if len(events) > self.queue.max_length:
            # Never fits, even in an empty queue: a 503 would be retried forever.
            return _answer(
                Rejection(
                    413,
                    "BATCH_EXCEEDS_QUEUE",
                    f"The batch holds {len(events)} events, more than the queue ever holds "
                    f"({self.queue.max_length} entries), so it can never be accepted; send at "
                    f"most {self.queue.max_length} events per batch.",
                )
            )
        if events:
            try:
                await self.queue.put([QueuedEvent(event, routes) for event in events])
            except QueueFullError as exc:
                return _answer(
                    Rejection(
                        503,
                        exc.code,
                        "The event queue is full; nothing was accepted. Try again later.",
                        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
                    )
                )
            except QueueError as exc:
                logger.error("queueing %d events failed: [%s] %s", len(events), exc.code, exc)
                return _answer(
                    Rejection(
                        503,
                        exc.code,
                        "The event queue cannot be used; nothing was accepted. Try again later.",
                    )
                )
            for kind, count in Counter(event["type"] for event in events).items():
                self.metrics.accepted.labels(kind).inc(count)
        return JSONResponse({"success": True})


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
) -> Starlette:
    """The ingestion app for ``config``, putting accepted events on ``queue``.

    ``metrics`` defaults to a fresh :class:`ServerMetrics` (``app.state.metrics``);
    ``lifespan`` runs around the server's life (the embedded consumer uses it); once it has
    started, the process's long-lived objects are frozen out of the garbage collector's walks
    (:mod:`framework.server.heap`). The app never closes ``queue``: its owner does.
    """
    metrics = metrics or ServerMetrics()
    in_flight = _InFlight(config.limits.max_concurrent_requests)

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

    routes = [
        Route(
            f"/v1/{name}",
            _Ingest(name, config, queue, metrics, in_flight).answer,
            methods=["POST"],
        )
        for name in (*EVENT_ENDPOINTS, *BATCH_ENDPOINTS)
    ]
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
    return app
