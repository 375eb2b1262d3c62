"""The router's wires (WireSender, its default, and AiohttpSender) behave as HttpSender
over httpx did.

Each test runs a real aiohttp server on loopback and sends planned requests to it with each
sender: the same bytes and headers as httpx's ``json=``, no redirects followed, bodies capped,
timeouts and failed connections mapped to the same delivery errors, and the network policy
applied. tests/test_wire_sender.py has what only the default wire does.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
from aiohttp import web
from loopback_servers import serve
from multidict import CIMultiDict

from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery.aiohttp_sender import AiohttpSender, encode_json
from framework.delivery.http import HttpSender, error_for
from framework.delivery.wire_sender import WireSender
from framework.errors import (
    AddressNotAllowedError,
    ConnectionFailedError,
    DeliveryTimeoutError,
    IntegrationError,
)

LOOPBACK = NetworkPolicy(allow_loopback=True)
TIMEOUT = httpx.Timeout(5.0)

SenderClass = type[AiohttpSender] | type[WireSender]


@pytest.fixture(params=[WireSender, AiohttpSender], ids=["wire", "aiohttp"])
def sender_class(request: pytest.FixtureRequest) -> SenderClass:
    """Each sender the router can send with."""
    cls: SenderClass = request.param
    return cls


def planned(url: str, body: Any = None, method: str = "POST", **headers: str) -> PlannedRequest:
    return PlannedRequest(method=method, url=url, headers=headers, json=body)


def test_the_body_is_the_bytes_httpx_sends() -> None:
    for value in [{"a": 1, "b": [1.5, None, True]}, {"name": "Zoë ✓"}, [{"k": "\u2028"}]]:
        built = httpx.Request("POST", "http://x", json=value)
        assert encode_json(value) == built.read()
    with pytest.raises(ValueError, match="JSON compliant"):
        encode_json({"x": float("nan")})


def test_requests_reach_the_server_as_httpx_sent_them(sender_class: SenderClass) -> None:
    seen: list[tuple[str, str, CIMultiDict[str], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, request.headers.copy(), await request.read()))
        return web.json_response({"ok": True})

    async def main() -> None:
        async with serve(handler) as url:
            body = {"plan": "pro", "name": "Zoë"}
            request = planned(f"{url}/user-attributes?x=1", body, "PATCH", **{"x-project": "p"})
            ours = sender_class(policy=LOOPBACK)
            theirs = HttpSender(policy=LOOPBACK)
            try:
                first = await ours.send(request, TIMEOUT)
                second = await theirs.send(request, TIMEOUT)
            finally:
                await ours.aclose()
                await theirs.aclose()
            assert (
                (first.status, first.body) == (second.status, second.body) == (200, '{"ok": true}')
            )

    asyncio.run(main())
    (method, path, headers, body), (method2, path2, headers2, body2) = seen
    assert (
        (method, path, body)
        == (method2, path2, body2)
        == (
            "PATCH",
            "/user-attributes?x=1",
            json.dumps(
                {"plan": "pro", "name": "Zoë"}, ensure_ascii=False, separators=(",", ":")
            ).encode(),
        )
    )
    for name in ("Content-Type", "User-Agent", "X-Project", "Content-Length"):
        assert headers[name] == headers2[name], name
    assert headers["User-Agent"] == "actionkit"
    assert headers["Content-Type"] == "application/json"


def test_a_request_s_own_content_type_and_user_agent_win(sender_class: SenderClass) -> None:
    seen: list[CIMultiDict[str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.copy())
        return web.Response(text="ok")

    async def main() -> None:
        async with serve(handler) as url:
            sender = sender_class(policy=LOOPBACK)
            try:
                headers = {"Content-Type": "application/vnd.x+json", "User-Agent": "mine"}
                await sender.send(planned(url, {"a": 1}, **headers), TIMEOUT)
                await sender.send(planned(url, None, "GET"), TIMEOUT)
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert seen[0]["Content-Type"] == "application/vnd.x+json"
    assert seen[0]["User-Agent"] == "mine"
    assert "Content-Type" not in seen[1]
    assert seen[1]["User-Agent"] == "actionkit"


def test_redirects_are_answers_not_followed(sender_class: SenderClass) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("/elsewhere")

    async def main() -> None:
        async with serve(handler) as url:
            sender = sender_class(policy=LOOPBACK)
            try:
                answer = await sender.send(planned(f"{url}/events", {"a": 1}), TIMEOUT)
            finally:
                await sender.aclose()
        assert answer.status == 302
        assert isinstance(error_for(answer), IntegrationError)

    asyncio.run(main())
    assert hits == ["/events"]


def test_bodies_are_capped_and_retry_after_is_read(sender_class: SenderClass) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/big":
            return web.Response(text="x" * 200_000)
        return web.Response(status=503, text="busy", headers={"Retry-After": "7"})

    async def main() -> None:
        async with serve(handler) as url:
            sender = sender_class(policy=LOOPBACK, max_response_bytes=1000)
            try:
                big = await sender.send(planned(f"{url}/big", {}), TIMEOUT)
                busy = await sender.send(planned(f"{url}/busy", {}), TIMEOUT)
                again = await sender.send(planned(f"{url}/big", {}), TIMEOUT)
            finally:
                await sender.aclose()
        assert (len(big.body), big.truncated) == (1000, True)
        assert (again.status, len(again.body)) == (200, 1000)
        assert (busy.status, busy.body, busy.retry_after, busy.truncated) == (
            503,
            "busy",
            7.0,
            False,
        )
        error = error_for(busy)
        assert error is not None
        assert error.retryable
        assert error.retry_after == 7.0

    asyncio.run(main())


def test_a_slow_answer_is_a_timeout(sender_class: SenderClass) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def main() -> None:
        async with serve(handler) as url:
            sender = sender_class(policy=LOOPBACK)
            try:
                with pytest.raises(DeliveryTimeoutError, match="ReadTimeout") as caught:
                    await sender.send(planned(url, {}), httpx.Timeout(0.2))
            finally:
                await sender.aclose()
        assert caught.value.retryable

    asyncio.run(main())


def test_a_refused_or_dropped_connection_fails_retryably(sender_class: SenderClass) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async def dropping(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.1)
        return web.Response(text="never")

    async def main() -> None:
        sender = sender_class(policy=LOOPBACK)
        try:
            with pytest.raises(ConnectionFailedError) as refused:
                await sender.send(planned(f"http://127.0.0.1:{closed_port}/", {}), TIMEOUT)
            async with serve(dropping) as url:
                with pytest.raises(ConnectionFailedError) as dropped:
                    await sender.send(planned(url, {}), TIMEOUT)
        finally:
            await sender.aclose()
        assert refused.value.retryable
        assert dropped.value.retryable

    asyncio.run(main())


def test_the_network_policy_is_applied_before_sending(sender_class: SenderClass) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    async def main() -> None:
        async with serve(handler) as url:
            port = url.rsplit(":", 1)[1]
            strict = sender_class()
            try:
                for target in (
                    url,
                    f"http://localhost:{port}/",
                    f"http://[::ffff:127.0.0.1]:{port}/",
                ):
                    with pytest.raises(AddressNotAllowedError):
                        await strict.send(planned(target, {}), TIMEOUT)
            finally:
                await strict.aclose()
            loose = sender_class(policy=LOOPBACK)
            try:
                answer = await loose.send(planned(f"http://localhost:{port}/ok", {}), TIMEOUT)
            finally:
                await loose.aclose()
            assert answer.status == 200

    asyncio.run(main())
    assert hits == ["/ok"]


def test_a_url_that_cannot_be_used_fails_for_good(sender_class: SenderClass) -> None:
    async def main() -> None:
        sender = sender_class()
        try:
            for url in ("ftp://example.com/x", "http:///nohost", "http://exa mple.com:99999/"):
                with pytest.raises(IntegrationError):
                    await sender.send(planned(url, {}), TIMEOUT)
        finally:
            await sender.aclose()

    asyncio.run(main())


def test_no_cookie_is_carried_from_one_request_to_the_next(sender_class: SenderClass) -> None:
    cookies: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", "user-1")
        return response

    async def main() -> None:
        async with serve(handler) as url:
            sender = sender_class(policy=LOOPBACK)
            try:
                await sender.send(planned(url, {}), TIMEOUT)
                await sender.send(planned(url, {}), TIMEOUT)
            finally:
                await sender.aclose()

    asyncio.run(main())
    assert cookies == [None, None]
