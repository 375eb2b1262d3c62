"""Sending one planned request with httpx, and turning what happens into our errors.

This is the one place where httpx's exceptions are translated (``raise ... from exc``), and
where a status code becomes a delivery error: 2xx is success; 401/403 are
:class:`InvalidAuthenticationError`; 429 is :class:`RateLimitedError`; 408, 423 and 5xx
other than 501/505 are :class:`RetryableError`; every retryable answer carries its
``Retry-After`` (a 503's as well as a 429's) as ``retry_after``; every other status is a
permanent :class:`IntegrationError`. At most ``max_response_bytes`` of a response are read.

Where requests may go is checked here, at connect time: every address a host name resolves to
is judged by the instance's :class:`~framework.definitions.network.NetworkPolicy` (the name
alone says nothing: it may resolve, or be rebound, to a private address), and so is a host
written as an IP address. Refused, the request is not sent and fails for good with
:class:`AddressNotAllowedError`.

:class:`HttpSender` sends through an httpx transport given by the caller (a test's
:class:`httpx.MockTransport`, a user's own). Without one, the router sends with
:class:`~framework.delivery.wire_sender.WireSender`, its own HTTP/1.1 client on asyncio and
llhttp, which behaves the same at a fraction of the CPU a request: delivery is bound by that
cost (docs/benchmarks.md). :class:`~framework.delivery.aiohttp_sender.AiohttpSender` does the
same on aiohttp's client; HttpSender over httpx-aiohttp's transport (its default without a
transport) is kept for direct use.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from httpx_aiohttp import AiohttpTransport

from framework.definitions.network import NetworkPolicy, address_refusal, host_refusal
from framework.definitions.request import PlannedRequest
from framework.delivery.retry import is_retryable_status, parse_retry_after
from framework.errors import (
    AddressNotAllowedError,
    ConnectionFailedError,
    DeliveryError,
    DeliveryTimeoutError,
    IntegrationError,
    InvalidAuthenticationError,
    RateLimitedError,
    RetryableError,
)

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
"""How much of a response body is read and kept, at most."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the API answered: status, the Retry-After it asked for, the (bounded) body."""

    status: int
    body: str
    retry_after: float | None
    elapsed: float
    truncated: bool = False


def error_for(answer: Answer) -> DeliveryError | None:
    """The delivery error an answer means, or ``None`` for a success (2xx)."""
    status = answer.status
    if 200 <= status < 300:
        return None
    detail = answer.body.strip().replace("\n", " ")[:300]
    message = f"The API answered {status}" + (f": {detail}" if detail else ".")
    if status == 429:
        return RateLimitedError(message, status=status, retry_after=answer.retry_after)
    if status in (401, 403):
        return InvalidAuthenticationError(message, status=status)
    if is_retryable_status(status):
        return RetryableError(message, status=status, retry_after=answer.retry_after)
    return IntegrationError(message, status=status)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: loading the CA bundle costs
    milliseconds, and one context serves every connection of every sender."""
    return httpx.create_ssl_context()


class _Refused(OSError):
    """Raised by the resolver when every address of a name is refused (never leaves a sender:
    it becomes an :class:`AddressNotAllowedError`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses a policy allows.

    aiohttp connects only to what the resolver returns, so this is the address actually
    connected to, checked on every lookup (aiohttp caches lookups for 10 seconds).
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()
        found = await self._inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        reason = "an address that cannot be read"
        for result in found:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                continue
            refusal = address_refusal(address, self._policy)
            if refusal is None:
                allowed.append(result)
            else:
                reason = refusal
        if not allowed:
            raise _Refused(reason)
        return allowed

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


_PolicyResolver = PolicyResolver
"""The name tests know it by."""

Refused = _Refused
"""A refusal of the network policy, for the senders (its class keeps its private name)."""


class Sender(Protocol):
    """What the dispatcher sends with: :class:`HttpSender` over a given httpx transport, or
    :class:`~framework.delivery.wire_sender.WireSender` (the default wire)."""

    async def send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        """Send ``request``; returns the answer, or raises a delivery error."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections."""
        ...


def _aiohttp_transport(limits: httpx.Limits, policy: NetworkPolicy) -> AiohttpTransport:
    def session() -> aiohttp.ClientSession:
        # aiohttp's connector sets TCP_NODELAY (without it, Nagle's algorithm and the
        # server's delayed ACK stall a keep-alive request's body by up to 40 ms).
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=default_ssl_context(),
            resolver=PolicyResolver(policy),
        )
        return aiohttp.ClientSession(connector=connector)

    return AiohttpTransport(limits=limits, client=session)


class HttpSender:
    """Sends planned requests on one pooled, keep-alive httpx client.

    ``policy`` says which non-public addresses may be connected to (public ones only, by
    default); it is not applied to a ``transport`` given by the caller (tests).
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: NetworkPolicy | None = None,
        max_connections: int = 8,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self._policy = None if transport is not None else (policy or NetworkPolicy())
        # At most max_connections requests are in flight, whatever the transport. With httpx's
        # own transport this also keeps httpcore's pool queue empty: the pool rescans every
        # queued request against every connection each time one frees (quadratic in the queue).
        self._slots = asyncio.Semaphore(max_connections)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None:
            transport = _aiohttp_transport(limits, self._policy or NetworkPolicy())
        # Requests are built by the client and handed to the transport: the client's own
        # send would log each request's URL at INFO, and a URL may carry a password setting.
        self._transport = transport
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            headers={"user-agent": "actionkit"},
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        """Send ``request``; returns the answer, or raises a retryable network error."""
        async with self._slots:
            return await self._send(request, timeout)

    async def _send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        started = time.perf_counter()
        try:
            built = self._client.build_request(
                request.method,
                request.url,
                headers=dict(request.headers),
                json=request.json,
                timeout=timeout,
            )
            if self._policy is not None:
                # aiohttp does not resolve a host written as an address: judged here.
                refusal = host_refusal(built.url.host, self._policy)
                if refusal is not None:
                    raise Refused(refusal)
            response = await self._transport.handle_async_request(built)
            try:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        truncated = True
                        break
                body = b"".join(chunks)[: self.max_response_bytes]
                return Answer(
                    status=response.status_code,
                    body=body.decode("utf-8", errors="replace"),
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    elapsed=time.perf_counter() - started,
                    truncated=truncated,
                )
            finally:
                await response.aclose()
        except Refused as exc:
            raise not_allowed(exc) from None
        except httpx.TimeoutException as exc:
            refused = refused_cause(exc)
            if refused is not None:
                raise not_allowed(refused) from exc
            # httpx-aiohttp reports a dropped connection as a ConnectTimeout: the aiohttp
            # error it came from tells a real timeout from a failed connection.
            if exc.__cause__ is not None and not isinstance(exc.__cause__, TimeoutError):
                raise connection_failed(exc.__cause__) from exc
            raise DeliveryTimeoutError(
                f"No answer within the timeout ({type(exc).__name__})."
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            refused = refused_cause(exc)
            if refused is not None:
                raise not_allowed(refused) from exc
            raise connection_failed(exc) from exc
        except aiohttp.ClientError as exc:  # one httpx-aiohttp does not translate
            raise connection_failed(exc) from exc
        except httpx.UnsupportedProtocol as exc:
            raise IntegrationError(f"The request URL cannot be used: {exc}.") from exc


def refused_cause(exc: BaseException) -> Refused | None:
    """The resolver's refusal a network error came from (aiohttp and httpx wrap it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Refused):
            return current
        seen.add(id(current))
        current = current.__cause__ or getattr(current, "os_error", None) or current.__context__
    return None


def not_allowed(refused: Refused) -> AddressNotAllowedError:
    """The error of a request refused by the network policy."""
    return AddressNotAllowedError(
        f"The request was not sent: its host is (or resolves to) {refused.reason}, which "
        "this instance may not send to. See 'Where events may be sent' in docs/delivery.md "
        "(allowPrivateNetwork)."
    )


def connection_failed(exc: BaseException) -> ConnectionFailedError:
    """The error of a connection that failed before an answer came."""
    return ConnectionFailedError(
        f"The connection failed before an answer came ({type(exc).__name__})."
    )
