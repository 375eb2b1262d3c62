"""``actionkit serve``'s connections send small writes at once (Nagle's algorithm off).

A listening socket made as ``actionkit serve`` makes it has ``proto`` 0, and asyncio then
leaves Nagle on: an answer's body waited for the client's delayed ACK behind its head, about
40 ms on every keep-alive request. The header-deadline protocol turns it off.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from framework.cli._io import listen
from framework.server import header_deadline_protocol
from tests.server_helpers import wait_until


def _app() -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({"length": len(await request.body())})

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])])


@contextmanager
def _serving(nodelay: list[int]) -> Iterator[int]:
    """The app under the header-deadline protocol, on ``actionkit serve``'s kind of socket.

    ``nodelay`` gets each connection's TCP_NODELAY as the protocol leaves it.
    """
    base = header_deadline_protocol(10)

    class Noting(base):  # type: ignore[valid-type, misc]  # a class made at run time
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(_app(), log_level="critical", lifespan="off", http=Noting)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _post(conn: socket.socket, body: bytes) -> bytes:
    conn.sendall(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return head.split(b"\r\n")[0] + b" " + rest


def test_the_listening_socket_of_serve_leaves_nagle_to_the_protocol() -> None:
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.proto != socket.IPPROTO_TCP  # why asyncio does not turn Nagle off itself
    finally:
        sock.close()


def test_each_connection_has_nagle_off_and_keep_alive_requests_are_answered() -> None:
    nodelay: list[int] = []
    with _serving(nodelay) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        answers = [_post(conn, b'{"n": %d}' % n) for n in range(3)]
    assert answers == [b'HTTP/1.1 200 OK {"length":%d}' % len(b'{"n": %d}' % n) for n in range(3)]
    assert nodelay
    assert all(value != 0 for value in nodelay)
