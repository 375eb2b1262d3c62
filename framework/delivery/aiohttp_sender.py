"""Sending one planned request with aiohttp's client directly, without httpx.

The router's default sender until 2026-12-05, when
:class:`~framework.delivery.wire_sender.WireSender` took its place at about a third of its CPU
a request (benchmarks/delivery.py ``--sink nginx``; docs/benchmarks.md). It passes the same
tests (tests/test_senders.py, tests/test_wire_hostile_servers.py), and :func:`encode_json`, the body
bytes, serves both. It behaves as :class:`~framework.delivery.http.HttpSender` does over
httpx-aiohttp, minus httpx's request and response models:

- the same body bytes as httpx's ``json=`` (compact, UTF-8, NaN refused), ``content-type:
  application/json`` unless the request sets one, and ``user-agent: actionkit`` unless it
  sets one;
- redirects are not followed (a 3xx is an answer, a permanent error);
- the timeouts of an :class:`httpx.Timeout` as httpx-aiohttp maps them (connect, read, and
  the pool wait);
- the same network policy at connect time (every resolved address is judged by
  :class:`~framework.delivery.http.PolicyResolver`; a host written as an address is judged
  before sending);
- the same errors (:class:`~framework.errors.DeliveryTimeoutError`,
  :class:`~framework.errors.ConnectionFailedError`,
  :class:`~framework.errors.AddressNotAllowedError`, an unusable URL an
  :class:`~framework.errors.IntegrationError`), and at most ``max_response_bytes`` of a body.

No cookies are kept: one user's answer never adds a cookie to another user's request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx
from yarl import URL

from framework.definitions.network import NetworkPolicy, host_refusal
from framework.definitions.request import PlannedRequest
from framework.definitions.signing import body_bytes
from framework.delivery.http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Answer,
    PolicyResolver,
    Refused,
    connection_failed,
    default_ssl_context,
    not_allowed,
    refused_cause,
)
from framework.delivery.retry import parse_retry_after
from framework.errors import DeliveryTimeoutError, IntegrationError

__all__ = ["AiohttpSender", "encode_json"]

_USER_AGENT = "actionkit"


def encode_json(value: Any) -> bytes:
    """``value`` as the body bytes httpx's ``json=`` sends: compact, UTF-8, no NaN (a lone
    surrogate escaped: :func:`framework.definitions.signing.body_bytes`, which signs them)."""
    return body_bytes(value)


class AiohttpSender:
    """Sends planned requests on one pooled, keep-alive aiohttp session.

    ``policy`` says which non-public addresses may be connected to (public ones only, by
    default). At most ``max_connections`` requests are in flight.
    """

    def __init__(
        self,
        *,
        policy: NetworkPolicy | None = None,
        max_connections: int = 8,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self._policy = policy or NetworkPolicy()
        self._slots = asyncio.Semaphore(max_connections)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None, float | None], Any] = {}
        self._hosts: dict[str, str | None] = {}
        self._urls: dict[str, URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the loop that sends. aiohttp's connector sets TCP_NODELAY
        # (without it, Nagle's algorithm and the server's delayed ACK stall a keep-alive
        # request's body by up to 40 ms).
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=httpx.Limits().keepalive_expiry,
            ssl=default_ssl_context(),
            resolver=PolicyResolver(self._policy),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"user-agent": _USER_AGENT},
        )
        return self._session

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read, timeout.pool)
        found = self._timeouts.get(key)
        if found is None:
            found = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None,
                sock_connect=timeout.connect,
                sock_read=timeout.read,
                connect=timeout.pool,
            )
        result: aiohttp.ClientTimeout = found
        return result

    def _host_refusal(self, host: str) -> str | None:
        """Why a host written in a URL is refused (aiohttp does not resolve an address)."""
        if host not in self._hosts:
            if len(self._hosts) >= 1024:
                self._hosts.clear()
            self._hosts[host] = host_refusal(host, self._policy)
        return self._hosts[host]

    def _url(self, text: str) -> URL:
        """``text`` parsed, checked (scheme, host, the policy on a host written as an
        address) and remembered; raises the error a request to it gets."""
        try:
            url = URL(text)
        except (ValueError, TypeError) as exc:
            raise IntegrationError(f"The request URL cannot be used: {exc}.") from exc
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise IntegrationError(f"The request URL cannot be used: {url.scheme!r} URL.")
        refusal = self._host_refusal(url.raw_host)
        if refusal is not None:
            raise not_allowed(Refused(refusal))
        if len(self._urls) >= 1024:
            self._urls.clear()
        self._urls[text] = url
        return url

    async def send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        """Send ``request``; returns the answer, or raises a delivery error."""
        async with self._slots:
            return await self._send(request, timeout)

    async def _send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        started = time.perf_counter()
        # A URL is remembered only once usable under this sender's policy, which never changes.
        url = self._urls.get(request.url) or self._url(request.url)
        headers = request.headers
        body: bytes | None = None
        if request.json is not None:
            body = encode_json(request.json)
            if not any(name.lower() == "content-type" for name in headers):
                headers = {**headers, "content-type": "application/json"}
        session = self._session or self._open()
        try:
            async with session.request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout(timeout),
            ) as response:
                content, truncated = await self._read(response)
                return Answer(
                    status=response.status,
                    body=content.decode("utf-8", errors="replace"),
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    elapsed=time.perf_counter() - started,
                    truncated=truncated,
                )
        except Refused as exc:
            raise not_allowed(exc) from None
        except aiohttp.InvalidURL as exc:
            raise IntegrationError(f"The request URL cannot be used: {exc}.") from exc
        except OSError as exc:  # aiohttp's client errors, timeouts included, are OSErrors
            refused = refused_cause(exc)
            if refused is not None:
                raise not_allowed(refused) from exc
            if isinstance(exc, TimeoutError):
                raise DeliveryTimeoutError(
                    f"No answer within the timeout ({_timeout_name(exc)})."
                ) from exc
            raise connection_failed(exc) from exc
        except aiohttp.ClientError as exc:  # payload and protocol errors
            raise connection_failed(exc) from exc

    async def _read(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """At most ``max_response_bytes`` of the body, and whether there was more."""
        limit = self.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = await response.content.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if size > limit:
            return content[:limit], True
        return content, False


def _timeout_name(exc: TimeoutError) -> str:
    """The timeout's kind, named as httpx names them (in error messages)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "ReadTimeout"
    return "TimeoutException"
