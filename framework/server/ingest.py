"""The tracking endpoints (``POST /v1/track`` ... ``/v1/batch``) as bare ASGI handlers.

The accept path of ``actionkit serve``, once per request at the server's full rate: read the
body within its limits (:mod:`.body`), parse it, check its events (:mod:`.tracking`), append
them durably with the request's receipt, answer; the queue fills them from the receipt when it
makes them entries (:mod:`framework.event_fill`). An event is answered 200 only once
``queue.put_events`` has returned, that is once it is stored.

Written against ASGI itself rather than Starlette's Request, Response and routing: those
layers (a Request and its Headers, the middleware stack, the router's matching, a
JSONResponse and its headers) cost about 20 µs of CPU a request, as much as checking a
batch's 50 events (docs/benchmarks.md, "2026-12-05, later: fewer layers on the accept
path"). The app (:mod:`.app`) sends these paths here directly and everything else (the
lifespan, ``/health``, ``/metrics``, 404 and 405) to its Starlette app.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from framework.definitions.events import EventChecker
from framework.errors import QueueError, QueueFullError
from framework.event_fill import Receipt
from framework.queue.base import EventQueue
from framework.server.body import CLOSE, Rejection, parse_json_object, read_body
from framework.server.config import ServerConfig
from framework.server.metrics import ServerMetrics
from framework.server.tracking import BATCH_ENDPOINTS, basic_auth_key, events_of, receipt_of

__all__ = ["InFlight", "IngestEndpoint", "Receive", "Scope", "Send"]

logger = logging.getLogger("actionkit.server")

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
"""The ASGI callable giving the request's messages."""
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
"""The ASGI callable taking the response's messages."""

_UNAUTHORIZED = Rejection(
    401,
    "UNAUTHORIZED",
    "A valid write key is required: send it as the HTTP Basic user name (empty password) "
    "or as 'writeKey' in the body.",
    headers={"WWW-Authenticate": 'Basic realm="actionkit"'},
)

_JSON_TYPE = (b"content-type", b"application/json")
_SUCCESS = b'{"success":true}'
_SUCCESS_HEADERS = [(b"content-length", str(len(_SUCCESS)).encode()), _JSON_TYPE]


def _busy(limit: int) -> Rejection:
    return Rejection(
        503,
        "SERVER_BUSY",
        f"The server is handling {limit} requests, the most it takes at once; nothing was "
        "accepted. Try again later.",
        headers={"Retry-After": "1", **CLOSE},
    )


def _body_timeout(seconds: float) -> Rejection:
    return Rejection(
        408,
        "BODY_TIMEOUT",
        f"The request body did not arrive in full within {seconds:g} seconds (a Content-Length "
        "larger than the body sent, or a stalled client); nothing was accepted.",
        headers=CLOSE,
    )


async def _send_json(
    send: Send, status: int, content: Any, headers: dict[str, str] | None = None
) -> None:
    """Answer ``status`` with ``content`` as JSON, as Starlette's JSONResponse writes it."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    payload = body.encode("utf-8")
    raw = [(b"content-length", str(len(payload)).encode()), _JSON_TYPE]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class InFlight:
    """The ingestion requests being read or handled now, shared by every endpoint of an app."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


class IngestEndpoint:
    """The ASGI handler of one tracking endpoint (``track`` ... ``batch``, ``import``).

    At most ``in_flight.limit`` requests of all endpoints are read or handled at once (else
    503 ``SERVER_BUSY``); each answer is counted in ``metrics``.
    """

    def __init__(
        self,
        endpoint: str,
        config: ServerConfig,
        queue: EventQueue,
        metrics: ServerMetrics,
        in_flight: InFlight,
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
        # prometheus_client's labels() takes a lock and builds a key on every call: the
        # children are looked up once each.
        self._answered: dict[int, Any] = {}
        self._accepted: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request: answer it, then count the answer."""
        in_flight = self.in_flight
        if in_flight.count >= in_flight.limit:
            refusal: Rejection | None = _busy(in_flight.limit)
        else:
            in_flight.count += 1
            try:
                refusal = await self._handle(scope, receive)
            finally:
                in_flight.count -= 1
        if refusal is None:
            await send({"type": "http.response.start", "status": 200, "headers": _SUCCESS_HEADERS})
            await send({"type": "http.response.body", "body": _SUCCESS})
            status = 200
        else:
            await _send_json(send, refusal.status, refusal.body(), refusal.headers)
            status = refusal.status
        counter = self._answered.get(status)
        if counter is None:
            counter = self._answered[status] = self.metrics.requests.labels(
                self.endpoint, str(status)
            )
        counter.inc()

    async def _read(self, receive: Receive, length: str | None, encoding: str) -> bytes | Rejection:
        """The body within its byte limit and the body deadline."""
        seconds = self.config.limits.body_timeout
        try:
            async with asyncio.timeout(seconds):
                return await read_body(receive, self.limit, length=length, encoding=encoding)
        except TimeoutError:
            return _body_timeout(seconds)

    async def _handle(self, scope: Scope, receive: Receive) -> Rejection | None:
        """None once the request's events are queued; else why it is refused."""
        received = datetime.now(UTC)
        header = length = encoding = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = header or value.decode("latin-1")
            elif name == b"content-length":
                length = length or value.decode("latin-1")
            elif name == b"content-encoding":
                encoding = encoding or value.decode("latin-1")
        key = basic_auth_key(header)
        routes = self.config.routes(key) if key is not None else None
        if header is not None and routes is None:
            return _UNAUTHORIZED  # refused before the body is read
        raw = await self._read(receive, length, encoding or "identity")
        if isinstance(raw, Rejection):
            return raw
        body = parse_json_object(raw)
        if isinstance(body, Rejection):
            return body
        if routes is None:
            given = body.get("writeKey")
            routes = self.config.routes(given if isinstance(given, str) else None)
            if routes is None:
                return _UNAUTHORIZED
        events = events_of(self.endpoint, body, limits=self.config.limits, checker=self.checker)
        if isinstance(events, Rejection):
            return events
        if len(events) > self.queue.max_length:
            # Never fits, even in an empty queue: a 503 would be retried forever.
            return Rejection(
                413,
                "BATCH_EXCEEDS_QUEUE",
                f"The batch holds {len(events)} events, more than the queue ever holds "
                f"({self.queue.max_length} entries), so it can never be accepted; send at "
                f"most {self.queue.max_length} events per batch.",
            )
        if events:
            refusal = await self._put(events, routes, receipt_of(self.endpoint, body, received))
            if refusal is not None:
                return refusal
            self._count_accepted(events)
        return None

    async def _put(
        self, events: list[dict[str, Any]], routes: tuple[str, ...], receipt: Receipt
    ) -> Rejection | None:
        """Append the events durably with their receipt; why not, when the queue refuses
        them."""
        try:
            await self.queue.put_events(events, routes, receipt)
        except QueueFullError as exc:
            return Rejection(
                503,
                exc.code,
                "The event queue is full; nothing was accepted. Try again later.",
                headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
            )
        except QueueError as exc:
            logger.error("queueing %d events failed: [%s] %s", len(events), exc.code, exc)
            return Rejection(
                503,
                exc.code,
                "The event queue cannot be used; nothing was accepted. Try again later.",
            )
        return None

    def _count_accepted(self, events: list[dict[str, Any]]) -> None:
        kinds = {event["type"] for event in events}
        counts = (
            {kinds.pop(): len(events)}
            if len(kinds) == 1  # a batch of one type, or one event: nothing to count
            else Counter(event["type"] for event in events)
        )
        for kind, count in counts.items():
            counter = self._accepted.get(kind)
            if counter is None:
                counter = self._accepted[kind] = self.metrics.accepted.labels(kind)
            counter.inc(count)
