"""The router's own wire: planned requests on a lean HTTP/1.1 client (asyncio and llhttp).

The router's default sender when no httpx transport is given. It does what
:class:`~framework.delivery.aiohttp_sender.AiohttpSender` does with a fraction of its CPU per
request: aiohttp's session, request and response objects cost about 80 microseconds a
request in Python, more than the rest of routing an event (benchmarks/delivery.py
``--sink nginx``; docs/benchmarks.md). Each request is written as one piece of bytes on a
pooled keep-alive connection (:mod:`framework.delivery.wire_pool`), and its answer is parsed
by llhttp (:mod:`framework.delivery.http1`). Behaviour is the same as before:

- the body is the bytes of httpx's ``json=`` (compact, UTF-8, NaN refused), with
  ``content-type: application/json`` unless the request sets one; ``user-agent: actionkit``,
  ``accept: */*`` and ``accept-encoding: gzip, deflate`` unless it sets them (a gzip or
  deflate answer is decoded, within the byte limit); ``user:password`` in the URL becomes
  basic ``authorization`` unless the request sets one. ``host``, ``content-length`` and
  ``transfer-encoding`` are always the client's own;
- a method that is not an HTTP token, or a header name or value that would break the
  request's framing (a line break, a NUL), is refused before anything is sent
  (:class:`~framework.errors.IntegrationError`);
- redirects are not followed (a 3xx is an answer); no cookies are kept;
- the timeouts of an :class:`httpx.Timeout`: connect (resolving, connecting, TLS), read (the
  silence while an answer is awaited) and pool (the wait for a free connection), failing
  with :class:`~framework.errors.DeliveryTimeoutError` naming ``ConnectTimeout``,
  ``ReadTimeout`` or ``PoolTimeout``;
- the network policy at connect time (every resolved address judged by
  :class:`~framework.delivery.http.PolicyResolver`; a host written as an address judged
  before sending);
- a connection that fails, drops or answers what is not HTTP is a
  :class:`~framework.errors.ConnectionFailedError` (retryable); an unusable URL an
  :class:`~framework.errors.IntegrationError`; at most ``max_response_bytes`` of a body.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import time
from dataclasses import dataclass

import httpx
from yarl import URL

from framework.definitions.network import NetworkPolicy, host_refusal
from framework.definitions.request import PlannedRequest
from framework.definitions.signing import body_bytes
from framework.delivery.http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Answer,
    Refused,
    connection_failed,
    not_allowed,
    refused_cause,
)
from framework.delivery.http1 import AnswerTimeout, InvalidAnswer, decoded_body
from framework.delivery.retry import parse_retry_after
from framework.delivery.wire_pool import ConnectionPool, ConnectTimeout, Origin, PoolTimeout
from framework.errors import DeliveryTimeoutError, IntegrationError

__all__ = ["WireSender"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWN = frozenset({"host", "content-length", "transfer-encoding"})
_DEFAULTS = (
    ("user-agent", "actionkit"),
    ("accept", "*/*"),
    ("accept-encoding", "gzip, deflate"),
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class _Target:
    """A URL as the client sends to it: origin, request target, ``host`` header, and the
    ``authorization`` its user and password make."""

    origin: Origin
    path: str
    host: str
    authorization: str | None


class WireSender:
    """Sends planned requests on pooled keep-alive HTTP/1.1 connections (see the module doc).

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
        self._pool = ConnectionPool(
            limit=max_connections,
            keepalive_expiry=httpx.Limits().keepalive_expiry or 5.0,
            policy=self._policy,
        )
        self._targets: dict[str, _Target] = {}
        self._names: dict[str, str] = {}
        self._methods: set[str] = set()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._pool.aclose()

    async def send(self, request: PlannedRequest, timeout: httpx.Timeout) -> Answer:
        """Send ``request``; returns the answer, or raises a delivery error."""
        started = time.perf_counter()
        target = self._targets.get(request.url) or self._target(request.url)
        data = self._encode(request, target)
        pool = self._pool
        try:
            connection = await pool.acquire(
                target.origin, pool_timeout=timeout.pool, connect_timeout=timeout.connect
            )
            try:
                reply = await connection.exchange(
                    data,
                    limit=self.max_response_bytes,
                    read_timeout=timeout.read,
                    expect_body=request.method != "HEAD",
                )
            except BaseException:
                connection.abandon()
                raise
            finally:
                pool.release(target.origin, connection)
        except Refused as exc:
            raise not_allowed(exc) from None
        except ConnectTimeout as exc:
            raise DeliveryTimeoutError("No answer within the timeout (ConnectTimeout).") from exc
        except AnswerTimeout as exc:
            raise DeliveryTimeoutError("No answer within the timeout (ReadTimeout).") from exc
        except PoolTimeout as exc:
            raise DeliveryTimeoutError("No answer within the timeout (PoolTimeout).") from exc
        except InvalidAnswer as exc:
            raise connection_failed(exc) from exc
        except OSError as exc:
            refused = refused_cause(exc)
            if refused is not None:
                raise not_allowed(refused) from exc
            raise connection_failed(exc) from exc
        body, more = decoded_body(reply.body, reply.content_encoding, self.max_response_bytes)
        return Answer(
            status=reply.status,
            body=body.decode("utf-8", errors="replace"),
            retry_after=parse_retry_after(reply.retry_after),
            elapsed=time.perf_counter() - started,
            truncated=reply.truncated or more,
        )

    def _target(self, text: str) -> _Target:
        """``text`` parsed, checked (scheme, host, the policy on a host written as an
        address) and remembered; raises the error a request to it gets."""
        try:
            url = URL(text)
            host = url.raw_host
            port = url.port
            authority = url.host_port_subcomponent
        except (ValueError, TypeError, UnicodeError) as exc:
            raise IntegrationError(f"The request URL cannot be used: {exc}.") from exc
        if url.scheme not in ("http", "https") or not host or port is None or not authority:
            raise IntegrationError(f"The request URL cannot be used: {url.scheme!r} URL.")
        refusal = host_refusal(host, self._policy)
        if refusal is not None:
            raise not_allowed(Refused(refusal))
        authorization = None
        if url.raw_user:
            secret = f"{url.user or ''}:{url.password or ''}"
            try:
                raw = secret.encode("latin-1")
            except UnicodeEncodeError:
                raw = secret.encode("utf-8")
            authorization = "Basic " + base64.b64encode(raw).decode("ascii")
        path = url.raw_path_qs or "/"
        if not path.startswith("/"):
            path = "/" + path
        _refuse_breaks("The request URL", path + authority)
        target = _Target(
            Origin(url.scheme, host, port, _is_address(host)), path, authority, authorization
        )
        if len(self._targets) >= _CACHE_SIZE:
            self._targets.clear()
        self._targets[text] = target
        return target

    def _encode(self, request: PlannedRequest, target: _Target) -> bytes:
        """The request's bytes: request line, headers, body."""
        method = request.method
        if method not in self._methods:
            if not _TOKEN.fullmatch(method):
                raise IntegrationError(
                    f"The request method {method!r} cannot be sent: it is not an HTTP token."
                )
            self._methods.add(method)
        parts = [method, " ", target.path, " HTTP/1.1\r\nhost: ", target.host, "\r\n"]
        given: set[str] = set()
        names = self._names
        for name, value in request.headers.items():
            lower = names.get(name) or self._name(name)
            if lower in _OWN:
                continue
            if not isinstance(value, str):
                raise IntegrationError(
                    f"The request header {name!r} cannot be sent: its value is not text."
                )
            if "\r" in value or "\n" in value or "\0" in value:
                _refuse_breaks(f"The request header {name!r}", value)
            given.add(lower)
            parts += (name, ": ", value, "\r\n")
        for name, value in _DEFAULTS:
            if name not in given:
                parts += (name, ": ", value, "\r\n")
        if target.authorization is not None and "authorization" not in given:
            parts += ("authorization: ", target.authorization, "\r\n")
        body: bytes | None = None
        if request.json is not None:
            body = body_bytes(request.json)
            if "content-type" not in given:
                parts.append("content-type: application/json\r\n")
            parts += ("content-length: ", str(len(body)), "\r\n\r\n")
        elif method in _BODY_METHODS:
            parts.append("content-length: 0\r\n\r\n")
        else:
            parts.append("\r\n")
        try:
            head = "".join(parts).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise IntegrationError(
                "The request headers cannot be sent: they hold text that is not valid "
                f"Unicode ({exc.reason})."
            ) from exc
        return head + body if body is not None else head

    def _name(self, name: str) -> str:
        """``name`` lower-cased, once checked to be an HTTP token (and remembered)."""
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise IntegrationError(
                f"The request header name {name!r} cannot be sent: it is not an HTTP token."
            )
        if len(self._names) >= _CACHE_SIZE:
            self._names.clear()
        lower = self._names[name] = name.lower()
        return lower


def _refuse_breaks(what: str, text: str) -> None:
    """Refuse ``text`` if it holds a line break or NUL (it would break the request apart)."""
    if "\r" in text or "\n" in text or "\0" in text:
        raise IntegrationError(
            f"{what} cannot be sent: it holds a line break or NUL character, which would "
            "split the HTTP request."
        )


def _is_address(host: str) -> bool:
    """Whether ``host`` (as a URL gives it, without brackets) is an IP address; anything
    else is resolved, and what it resolves to judged by the policy."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
