"""What only the router's default wire (WireSender) does: its pool, its refusals, its decoding.

tests/test_senders.py holds what every sender does; tests/test_sender_hostile.py, what every
sender does against servers that misbehave. Servers here are real, on loopback: aiohttp's, or
a raw asyncio one that counts its connections.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
import zlib
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback_servers import raw_server, self_signed_certificate, serve

from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery import http as http_module
from framework.delivery import wire_pool
from framework.delivery.http1 import decoded_body
from framework.delivery.wire_sender import WireSender
from framework.errors import (
    ConnectionFailedError,
    DeliveryTimeoutError,
    IntegrationError,
)

LOOPBACK = NetworkPolicy(allow_loopback=True)
TIMEOUT = httpx.Timeout(5.0)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


class CountingServer:
    """A raw HTTP/1.1 server answering ``200 ok`` to each request; counts connections."""

    def __init__(self, *, delay: float = 0.0, keep_alive: bool = True) -> None:
        self.delay = delay
        self.keep_alive = keep_alive
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                close = b"" if self.keep_alive else b"connection: close\r\n"
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n" + close + b"\r\nok")
                await writer.drain()
                if not self.keep_alive:
                    break
        finally:  # raw_server ends a dropped connection quietly and closes it
            self.open -= 1

    def running(self) -> AbstractAsyncContextManager[str]:
        """Serve on a free loopback port; yields the base URL."""
        return raw_server(self.handle)


def planned(url: str, body: Any = None, method: str = "POST", **headers: str) -> PlannedRequest:
    return PlannedRequest(method=method, url=url, headers=headers, json=body)


def test_requests_share_kept_alive_connections_within_the_bound() -> None:
    counting = CountingServer(delay=0.01)

    async def main() -> None:
        async with counting.running() as url:
            sender = WireSender(policy=LOOPBACK, max_connections=4)
            try:
                answers = await asyncio.gather(
                    *(sender.send(planned(f"{url}/{n}", {"n": n}), TIMEOUT) for n in range(100))
                )
                again = await sender.send(planned(url, {}), TIMEOUT)
            finally:
                await sender.aclose()
        assert [answer.status for answer in answers] == [200] * 100
        assert again.body == "ok"

    asyncio.run(main())
    assert counting.requests == 101
    assert counting.most_open == 4
    assert counting.connections == 4  # every later request reused one of the four


def test_a_connection_the_server_closes_is_not_reused() -> None:
    counting = CountingServer(keep_alive=False)

    async def main() -> None:
        async with counting.running() as url:
            sender = WireSender(policy=LOOPBACK, max_connections=1)
            try:
                for _ in range(3):
                    assert (await sender.send(planned(url, {}), TIMEOUT)).status == 200
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert counting.connections == 3


def test_an_idle_connection_past_the_keepalive_expiry_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = CountingServer()

    async def main() -> None:
        async with counting.running() as url:
            sender = WireSender(policy=LOOPBACK, max_connections=1)
            monkeypatch.setattr(sender._pool, "_expiry", 0.05)
            try:
                await sender.send(planned(url, {}), TIMEOUT)
                await sender.send(planned(url, {}), TIMEOUT)
                await asyncio.sleep(0.1)
                await sender.send(planned(url, {}), TIMEOUT)
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert counting.connections == 2


def test_a_cancelled_send_frees_its_connection_and_slot() -> None:
    slow = CountingServer(delay=5.0)
    quick = CountingServer()

    async def main() -> None:
        async with slow.running() as slow_url, quick.running() as quick_url:
            sender = WireSender(policy=LOOPBACK, max_connections=1)
            try:
                stuck = asyncio.ensure_future(sender.send(planned(slow_url, {}), TIMEOUT))
                await asyncio.sleep(0.1)
                stuck.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await stuck
                answer = await sender.send(planned(quick_url, {}), TIMEOUT)
            finally:
                await sender.aclose()
        assert answer.status == 200

    asyncio.run(main())


def test_waiting_longer_than_the_pool_timeout_fails_retryably() -> None:
    slow = CountingServer(delay=1.0)

    async def main() -> None:
        async with slow.running() as url:
            sender = WireSender(policy=LOOPBACK, max_connections=1)
            try:
                first = asyncio.ensure_future(sender.send(planned(url, {}), TIMEOUT))
                await asyncio.sleep(0.05)
                with pytest.raises(DeliveryTimeoutError, match="PoolTimeout") as caught:
                    await sender.send(planned(url, {}), httpx.Timeout(5.0, pool=0.1))
                assert (await first).status == 200
            finally:
                await sender.aclose()
        assert caught.value.retryable

    asyncio.run(main())


def test_a_connection_that_cannot_be_made_in_time_is_a_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never(self: Any, host: str, port: int = 0, family: int = 0) -> list[Any]:
        await asyncio.sleep(10)
        return []

    monkeypatch.setattr(http_module.PolicyResolver, "resolve", never)

    async def main() -> None:
        sender = WireSender(policy=LOOPBACK)
        try:
            with pytest.raises(DeliveryTimeoutError, match="ConnectTimeout"):
                await sender.send(
                    planned("http://example.invalid/"), httpx.Timeout(5.0, connect=0.1)
                )
        finally:
            await sender.aclose()

    asyncio.run(main())


def test_what_would_split_the_request_is_refused_before_sending() -> None:
    counting = CountingServer()

    async def main() -> None:
        async with counting.running() as url:
            sender = WireSender(policy=LOOPBACK)
            bad = [
                planned(url, {}, **{"x-a": "1\r\nx-injected: 1"}),
                planned(url, {}, **{"x-a": "nul\0"}),
                planned(url, {}, **{"bad name": "1"}),
                planned(url, {}, **{"x-a\r\nx-b": "1"}),
                planned(url, {}, "GET /other HTTP/1.1\r\n"),
                planned(url, {}, ""),
                planned(url, {}, **{"x-a": "\udcff"}),
            ]
            try:
                for request in bad:
                    with pytest.raises(IntegrationError) as caught:
                        await sender.send(request, TIMEOUT)
                    assert not caught.value.retryable
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert counting.requests == 0


def test_a_user_and_password_in_the_url_become_basic_authorization() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(text="ok")

    async def main() -> None:
        async with serve(handler) as url:
            with_user = url.replace("http://", "http://me:s%40cret@")
            sender = WireSender(policy=LOOPBACK)
            try:
                await sender.send(planned(with_user, {}), TIMEOUT)
                await sender.send(planned(with_user, {}, authorization="Bearer t"), TIMEOUT)
                await sender.send(planned(url, {}), TIMEOUT)
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert seen == ["Basic " + base64.b64encode(b"me:s@cret").decode(), "Bearer t", None]


def test_gzip_and_deflate_answers_are_decoded_within_the_limit() -> None:
    async def handler(request: web.Request) -> web.Response:
        text = ("y" * 5000 if request.path == "/big" else "hello").encode()
        if request.path == "/deflate":
            return web.Response(body=zlib.compress(text), headers={"Content-Encoding": "deflate"})
        return web.Response(body=gzip.compress(text), headers={"Content-Encoding": "gzip"})

    async def main() -> None:
        async with serve(handler) as url:
            sender = WireSender(policy=LOOPBACK, max_response_bytes=1000)
            try:
                small = await sender.send(planned(f"{url}/small", {}), TIMEOUT)
                deflated = await sender.send(planned(f"{url}/deflate", {}), TIMEOUT)
                big = await sender.send(planned(f"{url}/big", {}), TIMEOUT)
            finally:
                await sender.aclose()
        assert (small.body, small.truncated) == ("hello", False)
        assert deflated.body == "hello"
        assert (big.body, big.truncated) == ("y" * 1000, True)

    asyncio.run(main())


def test_decoded_body_keeps_what_does_not_decode() -> None:
    raw = zlib.compress(b"abc")[2:-4]  # a bare deflate stream
    assert decoded_body(raw, "deflate", 10) == (b"abc", False)
    assert decoded_body(b"not gzip", "gzip", 10) == (b"not gzip", False)
    assert decoded_body(b"as is", "br", 10) == (b"as is", False)
    assert decoded_body(b"as is", None, 10) == (b"as is", False)


def test_a_request_to_a_dead_port_fails_retryably_and_the_pool_recovers() -> None:
    counting = CountingServer()

    async def main() -> None:
        sender = WireSender(policy=LOOPBACK, max_connections=1)
        try:
            with pytest.raises(ConnectionFailedError):
                await sender.send(planned("http://127.0.0.1:1/"), TIMEOUT)
            async with counting.running() as url:
                assert (await sender.send(planned(url, {}), TIMEOUT)).status == 200
        finally:
            await sender.aclose()

    asyncio.run(main())


_HEADER_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\r\n\0\t "),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _HEADER_TEXT, max_size=3))
def test_any_headers_are_sent_exactly_or_refused(headers: dict[str, str]) -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append({name.lower(): value for name, value in request.headers.items()})
        return web.Response(text="ok")

    async def main() -> Any:
        async with serve(handler) as url:
            sender = WireSender(policy=LOOPBACK)
            try:
                return await sender.send(
                    PlannedRequest(method="POST", url=url, headers=headers, json={}), TIMEOUT
                )
            except IntegrationError as exc:
                return exc
            finally:
                await sender.aclose()

    outcome = asyncio.run(main())
    if isinstance(outcome, IntegrationError):
        assert "cannot be sent" in outcome.message
        return
    if outcome.status != 200:  # the server refused what it could not read; nothing raised
        return
    (received,) = seen
    for name, value in headers.items():
        if name.lower() in ("host", "content-length", "transfer-encoding"):
            continue
        assert received[name.lower()] == value.strip(" \t")


def test_https_is_verified_against_the_trusted_certificates(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(*certificate)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"secure {request.secure}")

    async def untrusted(url: str) -> None:
        sender = WireSender(policy=LOOPBACK)
        try:
            with pytest.raises(ConnectionFailedError, match="SSLCertVerificationError"):
                await sender.send(planned(url, {}), TIMEOUT)
        finally:
            await sender.aclose()

    async def trusted(url: str) -> None:
        client_side = ssl.create_default_context(cafile=str(certificate[0]))
        monkeypatch.setattr(wire_pool, "default_ssl_context", lambda: client_side)
        sender = WireSender(policy=LOOPBACK)
        try:
            answers = [await sender.send(planned(url, {"n": n}), TIMEOUT) for n in range(3)]
        finally:
            await sender.aclose()
        assert [(answer.status, answer.body) for answer in answers] == [(200, "secure True")] * 3

    async def main() -> None:
        async with serve(handler, tls=server_side) as url:
            await untrusted(url)
            await trusted(url)
            await trusted(url.replace("127.0.0.1", "localhost"))

    asyncio.run(main())


def test_an_answer_nobody_asked_for_spoils_the_connection() -> None:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        number = len(connections)
        while True:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            # Two answers to one request: the second must never answer the next request.
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n%dA" % number
                + b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n%dB" % number
            )
            await writer.drain()

    async def main() -> list[str]:
        sender = WireSender(policy=LOOPBACK, max_connections=1)
        try:
            async with raw_server(handle) as url:
                first = await sender.send(planned(url, {}), TIMEOUT)
                await asyncio.sleep(0.05)
                second = await sender.send(planned(url, {}), TIMEOUT)
        finally:
            await sender.aclose()
        return [first.body, second.body]

    assert asyncio.run(main()) == ["1A", "2A"]
