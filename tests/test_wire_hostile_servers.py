"""Servers that answer in odd or broken ways: each sender gets an Answer or a delivery error.

A raw asyncio server on loopback plays one way of answering per test (bytes as written, split
as chosen), and every sender the router can use (WireSender, its default, and AiohttpSender)
must end with the same kind of outcome: a whole Answer, or one of the documented delivery
errors, never another exception; and a sender that survived a broken answer still works.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
import urllib.parse
from typing import Any

import httpx
import pytest
from loopback_servers import Script, raw_server

from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery.aiohttp_sender import AiohttpSender
from framework.delivery.wire_sender import WireSender
from framework.errors import ConnectionFailedError, DeliveryError, DeliveryTimeoutError

LOOPBACK = NetworkPolicy(allow_loopback=True)
TIMEOUT = httpx.Timeout(5.0)
SenderClass = type[AiohttpSender] | type[WireSender]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture(params=[WireSender, AiohttpSender], ids=["wire", "aiohttp"])
def sender_class(request: pytest.FixtureRequest) -> SenderClass:
    """Each sender the router can send with."""
    cls: SenderClass = request.param
    return cls


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def answering(*pieces: bytes, pause: float = 0.0, then_close: bool = False) -> Script:
    """A script answering every request with ``pieces``, written one by one."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
            if then_close:
                return

    return script


def one_byte_at_a_time(answer: bytes) -> Script:
    return answering(*(answer[index : index + 1] for index in range(len(answer))))


def run(
    sender_class: SenderClass,
    script: Script,
    count: int = 1,
    timeout: httpx.Timeout = TIMEOUT,
    **sender_options: Any,
) -> list[Any]:
    """Send ``count`` requests to a server playing ``script``: each outcome (an Answer or the
    delivery error). The same sender must then still get an answer from a plain server."""
    return asyncio.run(exchange_with(sender_class, script, count, sender_options, timeout))


async def exchange_with(
    sender_class: SenderClass,
    script: Script,
    count: int,
    sender_options: dict[str, Any],
    timeout: httpx.Timeout,
) -> list[Any]:
    sender = sender_class(policy=LOOPBACK, **sender_options)
    outcomes: list[Any] = []
    try:
        async with raw_server(script) as url:
            for number in range(count):
                request = PlannedRequest("POST", f"{url}/{number}", {}, {})
                try:
                    outcomes.append(await sender.send(request, timeout))
                except DeliveryError as exc:
                    outcomes.append(exc)
        async with raw_server(answering(OK)) as url:
            after = await sender.send(PlannedRequest("POST", url, {}, {}), TIMEOUT)
            assert (after.status, after.body) == (200, "ok")
    finally:
        await sender.aclose()
    return outcomes


def test_a_chunked_answer_with_extensions_and_trailers(sender_class: SenderClass) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5;note=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: 1\r\n\r\n"
    )
    outcomes = run(sender_class, answering(answer), count=2)
    assert [(outcome.status, outcome.body) for outcome in outcomes] == [(200, "hello world")] * 2


def test_an_answer_ended_by_closing_the_connection(sender_class: SenderClass) -> None:
    script = answering(b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end", then_close=True)
    (outcome,) = run(sender_class, script)
    assert (outcome.status, outcome.body) == (200, "until the end")


def test_answers_without_a_body(sender_class: SenderClass) -> None:
    script = answering(
        b"HTTP/1.1 204 No Content\r\n\r\n",
    )
    outcomes = run(sender_class, script, count=2)
    assert [(outcome.status, outcome.body) for outcome in outcomes] == [(204, "")] * 2


def test_interim_answers_are_skipped(sender_class: SenderClass) -> None:
    script = answering(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n",
        b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone",
    )
    outcomes = run(sender_class, script, count=2)
    assert [(outcome.status, outcome.body) for outcome in outcomes] == [(201, "done")] * 2


def test_an_answer_one_byte_at_a_time(sender_class: SenderClass) -> None:
    answer = b"HTTP/1.1 429 Too Many\r\nReTrY-AfTeR: 3\r\ncontent-length: 4\r\n\r\nslow"
    (outcome,) = run(sender_class, one_byte_at_a_time(answer))
    assert (outcome.status, outcome.body, outcome.retry_after) == (429, "slow", 3.0)


def test_a_retry_after_date(sender_class: SenderClass) -> None:
    answer = (
        b"HTTP/1.1 503 Busy\r\nretry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
        b"content-length: 0\r\n\r\n"
    )
    (outcome,) = run(sender_class, answering(answer))
    assert outcome.status == 503
    assert outcome.retry_after == 0.0  # a date in the past: now


def test_a_body_that_is_not_utf8_is_decoded_with_replacements(sender_class: SenderClass) -> None:
    (outcome,) = run(sender_class, answering(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\na\xffb"))
    assert outcome.body == "a\ufffdb"


@pytest.mark.parametrize(
    "answer",
    [
        b"this is not http\r\n\r\n",
        b"HTTP/1.1 abc Bad\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "bad-status", "length-and-chunked", "bad-chunk", "huge-header"],
)
def test_a_broken_answer_is_a_failed_connection(sender_class: SenderClass, answer: bytes) -> None:
    (outcome,) = run(sender_class, answering(answer, then_close=True))
    assert isinstance(outcome, ConnectionFailedError), outcome
    assert outcome.retryable


def test_a_connection_reset_before_the_answer(sender_class: SenderClass) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()

    (outcome,) = run(sender_class, reset)
    assert isinstance(outcome, ConnectionFailedError)


def test_a_body_cut_short_by_the_server(sender_class: SenderClass) -> None:
    script = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", then_close=True)
    (outcome,) = run(sender_class, script)
    assert isinstance(outcome, ConnectionFailedError)


def test_a_server_that_never_answers_is_a_read_timeout(sender_class: SenderClass) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    (outcome,) = run(sender_class, silent, timeout=httpx.Timeout(0.3))
    assert isinstance(outcome, DeliveryTimeoutError)
    assert "ReadTimeout" in outcome.message


def test_a_server_that_closes_after_each_answer(sender_class: SenderClass) -> None:
    script = answering(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", then_close=True
    )
    outcomes = run(sender_class, script, count=3)
    assert [outcome.status for outcome in outcomes] == [200] * 3


def test_an_idle_connection_the_server_closed_is_not_used_again(sender_class: SenderClass) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)  # keep-alive announced, then closed while idle
        await writer.drain()

    async def main() -> list[int]:
        sender = sender_class(policy=LOOPBACK, max_connections=1)
        try:
            async with raw_server(once) as url:
                first = await sender.send(PlannedRequest("POST", url, {}, {}), TIMEOUT)
                await asyncio.sleep(0.2)
                second = await sender.send(PlannedRequest("POST", url, {}, {}), TIMEOUT)
        finally:
            await sender.aclose()
        return [first.status, second.status]

    assert asyncio.run(main()) == [200, 200]


def test_a_head_that_never_ends_is_refused_past_its_bound(sender_class: SenderClass) -> None:
    pieces = [b"HTTP/1.1 200 OK\r\nx-endless: "] + [b"a" * 8192] * 12
    (outcome,) = run(sender_class, answering(*pieces, pause=0.01))
    assert isinstance(outcome, ConnectionFailedError), outcome


# -- what the server sees, and answers spelled oddly ---------------------------------------


def recording(seen: list[bytes], answer: bytes = OK) -> Script:
    """Answer every request with ``answer``, keeping each request's bytes in ``seen``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(answer)
            await writer.drain()

    return script


def can_bind(address: str) -> bool:
    """Whether a socket can listen on the IPv6 ``address`` here."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def test_a_gzip_answer_with_header_names_in_any_case_is_inflated(
    sender_class: SenderClass,
) -> None:
    body = gzip.compress(b'{"ok":true}')
    answer = (
        b"HTTP/1.1 200 OK\r\nCONTENT-ENCODING: gzip\r\nContent-TYPE: application/json\r\n"
        b"content-LENGTH: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    (outcome,) = run(sender_class, answering(answer))
    assert (outcome.status, json.loads(outcome.body)) == (200, {"ok": True})


def test_a_refused_connection_is_a_failed_connection(sender_class: SenderClass) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def send() -> Any:
        sender = sender_class(policy=LOOPBACK)
        try:
            await sender.send(PlannedRequest("POST", f"http://127.0.0.1:{port}/", {}, {}), TIMEOUT)
        except DeliveryError as exc:
            return exc
        finally:
            await sender.aclose()

    assert isinstance(asyncio.run(send()), ConnectionFailedError)


def test_many_requests_share_at_most_the_pools_connections(sender_class: SenderClass) -> None:
    opened = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(writer)
        while True:
            await read_request(reader)
            await asyncio.sleep(0.001)  # hold the connection a little: the pool must wait
            writer.write(OK)
            await writer.drain()

    async def scenario() -> list[int]:
        sender = sender_class(policy=LOOPBACK, max_connections=4)
        try:
            async with raw_server(script) as url:
                answers = await asyncio.gather(
                    *(
                        sender.send(PlannedRequest("POST", f"{url}/{n}", {}, {"n": n}), TIMEOUT)
                        for n in range(200)
                    )
                )
        finally:
            await sender.aclose()
        return [answer.status for answer in answers]

    assert asyncio.run(scenario()) == [200] * 200
    assert 1 <= len(opened) <= 4


@pytest.mark.parametrize(
    ("path", "auth", "address", "host"),
    [
        ("/a%20b/%2F?q=%C3%A9&x=1+2", "", "127.0.0.1", "127.0.0.1:{port}"),
        ("/", "user:p%40ss@", "127.0.0.1", "127.0.0.1:{port}"),
        ("/v1", "", "::1", "[::1]:{port}"),
    ],
    ids=["percent-escapes", "credentials", "ipv6"],
)
def test_the_request_bytes_keep_the_target_as_written(
    sender_class: SenderClass, path: str, auth: str, address: str, host: str
) -> None:
    if ":" in address and not can_bind(address):
        pytest.skip(f"this machine has no {address} loopback to listen on")
    seen: list[bytes] = []

    async def scenario() -> None:
        sender = sender_class(policy=LOOPBACK)
        try:
            async with raw_server(recording(seen), address) as url:
                target = url.replace("http://", f"http://{auth}") + path
                await sender.send(
                    PlannedRequest("POST", target, {"X-Custom": "v"}, {"é": 1}), TIMEOUT
                )
                seen.append(url.rsplit(":", 1)[1].encode())
        finally:
            await sender.aclose()

    asyncio.run(scenario())
    request, port = seen
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in lines[1:])
    }
    assert lines[0] == f"POST {path} HTTP/1.1".encode()
    assert headers[b"host"] == host.format(port=port.decode()).encode()
    assert headers[b"x-custom"] == b"v"
    assert json.loads(body) == {"é": 1}
    assert headers[b"content-length"] == str(len(body)).encode()
    if auth:
        user, _, password = auth.rstrip("@").partition(":")
        token = base64.b64encode(f"{user}:{urllib.parse.unquote(password)}".encode())
        assert headers[b"authorization"] == b"Basic " + token
    else:
        assert b"authorization" not in headers
