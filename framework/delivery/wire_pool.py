"""The router's own client's connections: kept alive per origin, bounded, opened under a policy.

At most ``limit`` connections are in use at once, over every origin (a request waits for a
free one, in the order they came, at most its pool timeout). A connection whose answer
allowed keep-alive goes back to its origin's idle list and is reused, newest first, while it
has been idle less than ``keepalive_expiry`` seconds; at most ``limit`` idle connections are
kept in all, the oldest closed first.

A new connection resolves its host through
:class:`~framework.delivery.http.PolicyResolver`: every address a name resolves to is judged
by the network policy, on every connection, and only allowed addresses are connected to, in
the order the resolver gave them (a host written as an address is judged by the sender
before it gets here). ``https`` connections use one TLS context, httpx's default, made once
(:func:`~framework.delivery.http.default_ssl_context`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from typing import NamedTuple

from framework.definitions.network import NetworkPolicy
from framework.delivery.http import PolicyResolver, default_ssl_context
from framework.delivery.http1 import Http1Connection

__all__ = ["ConnectTimeout", "ConnectionPool", "Origin", "PoolTimeout"]


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout (resolving, connecting, TLS)."""


class PoolTimeout(TimeoutError):
    """No connection came free within the pool timeout."""


class Origin(NamedTuple):
    """Where a connection goes: scheme, host (as connected to) and port (a tuple: it keys
    the idle lists on every request)."""

    scheme: str
    host: str
    port: int
    literal: bool
    """The host is written as an IP address (not resolved)."""


class ConnectionPool:
    """Keep-alive connections per :class:`Origin` (see the module doc)."""

    def __init__(self, *, limit: int, keepalive_expiry: float, policy: NetworkPolicy) -> None:
        self._limit = max(1, limit)
        self._free = self._limit
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, list[Http1Connection]] = {}
        self._idle_count = 0
        self._open: set[Http1Connection] = set()
        self._resolver = PolicyResolver(policy)
        self._closed = False

    async def acquire(
        self, origin: Origin, *, pool_timeout: float | None, connect_timeout: float | None
    ) -> Http1Connection:
        """A connection to ``origin``, idle or new, counted in use until :meth:`release`."""
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot(pool_timeout)
        try:
            connection = self._idle_connection(origin)
            if connection is None:
                connection = await self._connect(origin, connect_timeout)
        except BaseException:
            self._release_slot()
            raise
        return connection

    def release(self, origin: Origin, connection: Http1Connection) -> None:
        """Take back a connection from :meth:`acquire`: kept idle if it may be reused."""
        if connection.reusable and not connection.closed and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(connection)
            self._idle_count += 1
            if self._idle_count > self._limit:
                self._drop_oldest_idle()
        else:
            connection.close()
            self._open.discard(connection)
        self._release_slot()

    async def aclose(self) -> None:
        """Close every connection, idle or in use."""
        self._closed = True
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        self._idle_count = 0
        await asyncio.gather(*(connection.wait_closed(0.5) for connection in connections))
        await self._resolver.close()

    # -- slots -----------------------------------------------------------------------------

    async def _wait_for_slot(self, timeout: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            self._forget(waiter)
            raise PoolTimeout("no connection came free within the pool timeout") from None
        except BaseException:
            self._forget(waiter)
            raise

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        """A waiter that gave up: out of the queue, and its slot passed on if it got one."""
        if waiter.done() and not waiter.cancelled():
            self._release_slot()
        else:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _release_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the longest waiting
                return
        self._free += 1

    # -- connections -----------------------------------------------------------------------

    def _idle_connection(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable and now - connection.idle_since < self._expiry:
                return connection
            connection.close()
            self._open.discard(connection)
        return None

    def _drop_oldest_idle(self) -> None:
        # Each origin's list is oldest first: the oldest of all is one of their heads.
        origin = min(
            (key for key, idle in self._idle.items() if idle),
            key=lambda key: self._idle[key][0].idle_since,
        )
        idle = self._idle[origin]
        connection = idle.pop(0)
        if not idle:
            del self._idle[origin]
        self._idle_count -= 1
        connection.close()
        self._open.discard(connection)

    async def _connect(self, origin: Origin, timeout: float | None) -> Http1Connection:
        try:
            async with asyncio.timeout(timeout):
                connection = await self._open_connection(origin)
        except TimeoutError:
            raise ConnectTimeout("no connection within the connect timeout") from None
        self._open.add(connection)
        return connection

    async def _open_connection(self, origin: Origin) -> Http1Connection:
        loop = asyncio.get_running_loop()
        tls = origin.scheme == "https"
        if origin.literal:
            targets = [(origin.host, 0)]
        else:
            found = await self._resolver.resolve(origin.host, origin.port, socket.AF_UNSPEC)
            targets = [(result["host"], result["family"]) for result in found]
        error: OSError | None = None
        for address, family in targets:
            try:
                _, protocol = await loop.create_connection(
                    Http1Connection,
                    address,
                    origin.port,
                    family=family,
                    ssl=default_ssl_context() if tls else None,
                    server_hostname=origin.host if tls else None,
                )
            except OSError as exc:
                error = exc
                continue
            return protocol
        assert error is not None
        raise error
