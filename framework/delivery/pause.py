"""Endpoint-wide pauses: a server's ``Retry-After`` holds every request to it, not just one.

When an API answers 429 or 503 with ``Retry-After``, it speaks for itself, not for the one
request that got the answer: sending the others meanwhile only earns more refusals. The
endpoint gate (:class:`~framework.delivery.gate.EndpointGate`, which every try of the
dispatcher passes) therefore calls :meth:`EndpointPauses.pause` with the time the server
named, and lets no request to the endpoint go until it has passed. A paused request waits; it
is not failed and uses no attempt. When the pause ends, the waiting requests go, each lane
still in order (a lane sends one request at a time, and that request is the one waiting).

An endpoint is the scheme, host and port of the request URL (:func:`endpoint_of`): APIs rate
limit and go down per host, rarely per path, so one path's Retry-After holds the others too.

The clock and the sleep are injected (``time.monotonic`` and ``asyncio.sleep`` by default),
so tests drive a pause with a fake clock and nothing here reads the time by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

__all__ = ["EndpointPauses", "endpoint_of"]


def endpoint_of(url: str) -> str:
    """The endpoint a request URL belongs to: ``scheme://host:port`` (the port always given).

    A URL that cannot be read is its own endpoint (sending it fails anyway, for good).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    port = parsed.port
    if port is None:
        port = 443 if parsed.scheme == "https" else 80
    host = parsed.host
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}:{port}"


class EndpointPauses:
    """The endpoints paused until a time on ``clock``, and a way to wait for one to open.

    Pauses only grow: a shorter Retry-After never ends a longer pause early. An ended pause
    is forgotten, so the table holds only the endpoints paused now.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._until: dict[str, float] = {}

    def pause(self, endpoint: str, until: float) -> None:
        """Hold requests to ``endpoint`` until ``until`` (a time on the clock)."""
        current = self._until.get(endpoint)
        if current is None or until > current:
            self._until[endpoint] = until

    def paused_until(self, endpoint: str) -> float | None:
        """When ``endpoint``'s pause ends, or ``None`` if it is open now."""
        until = self._until.get(endpoint)
        if until is None:
            return None
        if self._clock() >= until:
            del self._until[endpoint]
            return None
        return until

    def is_open(self, endpoint: str) -> bool:
        """Whether a request to ``endpoint`` may start now."""
        return self.paused_until(endpoint) is None

    async def wait_until_open(self, endpoint: str) -> None:
        """Return once ``endpoint`` is not paused (at once if it is not paused now).

        A pause made longer while waiting is waited out too.
        """
        while (until := self.paused_until(endpoint)) is not None:
            await self._sleep(until - self._clock())
