"""The HTTP/1.1 side of an emulator: framing, keep-alive, faults played on the wire.

:class:`HttpServer` serves one :class:`~framework.emulators.server.EmulatorServer` on an
asyncio event loop of its own, in a background thread. Each connection is a
:class:`_Connection`: llhttp (the ``httptools`` binding) reads its requests (``Content-Length``
or chunked bodies, keep-alive, pipelining), and each whole request plays a fault or asks the
emulator, in the order the requests came.

One thread and one loop for every connection: a thread per connection, as
``ThreadingHTTPServer`` had, spent most of the emulator's CPU handing the interpreter lock
from one thread to the next (about 260 us a request with eight connections; see
docs/benchmarks.md). The emulated API's calls are short and take the emulator's lock, so
they run on the loop.

Bodies larger than the emulator's ``max_body_bytes`` are refused with 413 (a declared length
up to :data:`_DRAIN_LIMIT` is read and dropped first, so that the client reads the 413
rather than a reset); a request that cannot be read is answered 400 and its connection
closed; a connection idle for :data:`IDLE_TIMEOUT` seconds is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httptools

from framework.emulators.api import CONTROL_PREFIX, Request, Response, error_body
from framework.emulators.faults import Fault

if TYPE_CHECKING:
    from framework.emulators.server import EmulatorServer

__all__ = ["IDLE_TIMEOUT", "HttpServer", "fault_response", "reason_phrase"]

logger = logging.getLogger("framework.emulators")

IDLE_TIMEOUT = 60.0
"""Seconds a keep-alive connection may wait for its next request."""

_DRAIN_LIMIT = 64 * 1024 * 1024
_MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_SERVER = "actionkit-emulator"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def fault_response(fault: Fault) -> Response:
    """The answer a status fault plays: its status, its Retry-After, a JSON error body."""
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after is not None:
        headers = (("Retry-After", f"{fault.retry_after:g}"),)
    phrase = reason_phrase(fault.status)
    message = f"Emulated failure: {fault.status} {phrase}."
    return Response(fault.status, error_body(fault.status, "EMULATED_FAULT", message), headers)


def reason_phrase(status: int) -> str:
    """The status's reason phrase (``Not Found``), or ``Unknown``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _bad_request(status: int, code: str, message: str) -> Response:
    return Response(status, error_body(status, code, message))


class HttpServer:
    """Serves ``emulator`` on ``address`` from a background thread (see the module doc)."""

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        self._loop = asyncio.new_event_loop()
        self._connections: set[_Connection] = set()
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(
                    lambda: _Connection(self), address[0], address[1], backlog=128
                )
            )
        except BaseException:
            self._loop.close()
            raise
        self.socket = self._server.sockets[0]
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        """Serve in a daemon thread named ``name``."""
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, close every connection, stop the loop and its thread."""
        if self._loop.is_closed():
            return

        async def closing() -> None:
            self._server.close()
            for connection in list(self._connections):
                connection.close()
            await self._server.wait_closed()

        if self._thread is not None and self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(closing(), self._loop)
            try:
                done.result(timeout=5)
            except Exception:  # pragma: no cover - a loop that will not close is abandoned
                logger.exception("The emulator's server did not close cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        else:
            self._loop.run_until_complete(closing())
        self._loop.close()

    def opened(self, connection: _Connection) -> None:
        self._connections.add(connection)

    def closed(self, connection: _Connection) -> None:
        self._connections.discard(connection)


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed as they come, answered in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._emulator = server.emulator
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request | Response | None] = deque()
        """Requests to answer in order, a refusal to answer then close, None to just close."""
        self._completed = 0
        self._unparsed: bytes | None = None
        self._busy = False
        self._closing = False
        self._idle: asyncio.TimerHandle | None = None
        self._begin()

    def _begin(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._head_bytes = 0
        self._in_message = False
        self._head_done = False
        self._refusal: Response | None = None

    # -- asyncio -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.opened(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._idle is not None:
            self._idle.cancel()
        self._server.closed(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._arm_idle()
        if self._unparsed is not None:
            self._read_by_hand(data)
            return
        at_boundary = not self._in_message
        completed = self._completed
        if not self._in_message or not self._head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            if at_boundary and completed == self._completed:
                # A method llhttp does not know (it knows HTTP's and WebDAV's): read by
                # hand, so that the emulated API answers it as any other (405, 404).
                self._in_message = False
                self._read_by_hand(data)
            else:
                self._refuse(_bad_request(400, "BAD_REQUEST", "Bad request: invalid method."))
        except httptools.HttpParserUpgrade:
            self._refuse(_bad_request(400, "BAD_REQUEST", "Protocol upgrades are not served."))
        except httptools.HttpParserError as exc:
            detail = str(exc).rstrip(".") or "the request cannot be read"
            self._refuse(_bad_request(400, "BAD_REQUEST", f"Bad request: {detail}."))
        else:
            if self._in_message and self._head_bytes > _MAX_HEAD_BYTES and not self._head_done:
                self._refuse(
                    _bad_request(
                        431,
                        "REQUEST_HEADER_FIELDS_TOO_LARGE",
                        f"The request line and headers are larger than {_MAX_HEAD_BYTES} bytes.",
                    )
                )

    def eof_received(self) -> bool:
        if self._in_message:
            self._refuse(_bad_request(400, "BAD_REQUEST", "The request body ended early."))
            return True  # the answer is written, then the connection closed
        return False

    # -- llhttp callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._begin()
        self._in_message = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._head_done = True
        limit = self._emulator.max_body_bytes
        declared = self._headers.get("content-length")
        if declared is not None and declared.strip().isdigit():
            length = int(declared)
            if length > limit:
                self._refusal = _bad_request(
                    413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
                )
                if length > _DRAIN_LIMIT:
                    self._refuse(self._refusal)

    def on_body(self, body: bytes) -> None:
        if self._refusal is not None:
            return  # read and dropped
        self._size += len(body)
        limit = self._emulator.max_body_bytes
        if self._size > limit:
            self._refuse(
                _bad_request(
                    413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
                )
            )
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self._completed += 1
        self._in_message = False
        if self._closing:
            return
        if self._refusal is not None:
            self._refuse(self._refusal)
            return
        method = self._parser.get_method().decode("latin-1")
        split = urlsplit(self._url.decode("latin-1"))
        body = b"".join(self._chunks)
        self._queue.append(Request(method, split.path or "/", split.query, self._headers, body))
        self._begin()
        if not self._busy:
            self._next()

    def _read_by_hand(self, data: bytes) -> None:
        """Gather a request whose method llhttp refused; answer it, then close (the stream
        cannot be parsed past it)."""
        raw = (self._unparsed or b"") + data
        self._unparsed = raw
        head, found, rest = raw.partition(b"\r\n\r\n")
        if not found:
            if len(raw) > _MAX_HEAD_BYTES:
                self._refuse(_bad_request(400, "BAD_REQUEST", "Bad request: invalid method."))
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                parts = []
                break
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        declared = headers.get("content-length", "0").strip()
        if (
            len(parts) != 3
            or not _TOKEN.fullmatch(parts[0])
            or not parts[2].startswith("HTTP/1.")
            or not declared.isdigit()
            or "transfer-encoding" in headers
            or int(declared) > self._emulator.max_body_bytes
        ):
            self._refuse(_bad_request(400, "BAD_REQUEST", "Bad request: invalid method."))
            return
        if len(rest) < int(declared):
            return  # the body is still coming
        split = urlsplit(parts[1])
        request = Request(parts[0], split.path or "/", split.query, headers, rest[: int(declared)])
        self._queue.append(request)
        self._queue.append(None)  # then close: the stream cannot be parsed past it
        if not self._busy:
            self._next()

    # -- answering ---------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the queued requests in order; a delay holds the ones behind it."""
        while self._queue and not self._closing:
            item = self._queue.popleft()
            if item is None:
                self.close()
                return
            if isinstance(item, Response):
                self._write(item, close=True, method="")
                return
            if not self._play(item):
                return

    def _play(self, request: Request) -> bool:
        """Answer one request; False when the answer comes later (a delay) or never."""
        emulator = self._emulator
        if request.path.startswith(CONTROL_PREFIX):
            self._write(emulator.control(request), method=request.method)
            return True
        fault = emulator.take_fault(request.path, request.headers)
        if fault is None:
            self._write(emulator.answer(request), method=request.method)
            return True
        if fault.kind == "drop":
            if fault.after_effect:
                emulator.apply_and_drop(request)
            else:
                emulator.record(request, None, "drop")
            self.close()  # nothing is written: closing is the client's only answer
            return False
        if fault.kind == "delay":
            self._busy = True
            if self._transport is not None:
                self._transport.pause_reading()
            asyncio.get_running_loop().call_later(fault.seconds, self._delayed, request, fault)
            return False
        emulator.record(request, fault.status, fault.kind)
        self._write(fault_response(fault), method=request.method)
        return True

    def _delayed(self, request: Request, fault: Fault) -> None:
        self._busy = False
        if self._closing:
            return
        if self._transport is not None:
            self._transport.resume_reading()
        self._emulator.record(request, fault.status, fault.kind)
        self._write(fault_response(fault), method=request.method)
        self._next()

    def _refuse(self, response: Response) -> None:
        """Answer ``response`` after the requests before it, then close: the rest of the
        stream cannot be trusted."""
        if self._closing:
            return
        self._in_message = False
        self._queue.append(response)
        if self._transport is not None:
            self._transport.pause_reading()
        if not self._busy:
            self._next()

    def _write(self, response: Response, *, method: str, close: bool = False) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        status = int(response.status)
        lines = [f"HTTP/1.1 {status} {reason_phrase(status)}", f"Server: {_SERVER}"]
        payload = b""
        if status not in _NO_BODY_STATUSES:
            if response.body is not None:
                payload = json.dumps(response.body, separators=(",", ":")).encode()
                lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        transport.write(head if method == "HEAD" else head + payload)
        if close:
            self.close()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(IDLE_TIMEOUT, self.close)

    def close(self) -> None:
        """Close the connection (pending writes are flushed first)."""
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def __repr__(self) -> str:  # pragma: no cover - for logs
        peer: Any = self._transport.get_extra_info("peername") if self._transport else None
        return f"<emulator connection {peer}>"
