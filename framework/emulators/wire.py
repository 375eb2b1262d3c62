"""The HTTP/1.1 side of an emulator: framing, keep-alive, faults played on the wire.

:class:`HttpServer` is a ``ThreadingHTTPServer`` bound to one
:class:`~framework.emulators.server.EmulatorServer`; its :class:`Handler` reads each request
(Content-Length or chunked), plays a fault or asks the emulator, and writes the answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from framework.emulators.api import CONTROL_PREFIX, Request, Response, error_body
from framework.emulators.faults import Fault

if TYPE_CHECKING:
    from framework.emulators.server import EmulatorServer

logger = logging.getLogger("framework.emulators")

_DRAIN_LIMIT = 64 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class BadRequestBody(Exception):
    """The request's framing (Content-Length, chunks) is unreadable; answered, then closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = Response(status, error_body(status, code, message))


def fault_response(fault: Fault) -> Response:
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after is not None:
        headers = (("Retry-After", f"{fault.retry_after:g}"),)
    phrase = reason_phrase(fault.status)
    message = f"Emulated failure: {fault.status} {phrase}."
    return Response(fault.status, error_body(fault.status, "EMULATED_FAULT", message), headers)


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class HttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to one :class:`EmulatorServer`."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a client pool opens many.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can take seconds.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies (kill -9) or resets its connection is not a failure of ours.
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            logger.debug("A client reset its connection: %s", client_address)
            return
        logger.exception("The emulator failed while serving %s", client_address)


class Handler(BaseHTTPRequestHandler):
    """Reads each request, plays a fault or asks the emulated API, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "actionkit-emulator"
    disable_nagle_algorithm = True
    # Keep-alive connections idle this long are closed.
    timeout = 60
    server: HttpServer

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler looks up do_<METHOD>: every method goes through routing, so
        # an unsupported one is a 405 (with Allow) rather than the base class's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        self.server.emulator.track_connection(self.connection, open_=True)

    def finish(self) -> None:
        self.server.emulator.track_connection(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        emulator = self.server.emulator
        try:
            body = self._read_body(emulator.max_body_bytes)
        except BadRequestBody as exc:
            self.close_connection = True
            self._write(exc.response)
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        split = urlsplit(self.path)
        request = Request(self.command, split.path or "/", split.query, headers, body)
        if request.path.startswith(CONTROL_PREFIX):
            self._write(emulator.control(request))
            return
        fault = emulator.take_fault(request.path, request.headers)
        if fault is None:
            self._write(emulator.answer(request))
            return
        if fault.kind == "drop":
            if fault.after_effect:
                emulator.apply_and_drop(request)
            else:
                emulator.record(request, None, "drop")
            # Nothing is written: closing the socket is the client's only answer.
            self.close_connection = True
            return
        if fault.kind == "delay" and emulator.stopping.wait(fault.seconds):
            self.close_connection = True
            return
        emulator.record(request, fault.status, fault.kind)
        self._write(fault_response(fault))

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequestBody(400, "BAD_REQUEST", "The Content-Length header is not valid.")
        if length > limit:
            if length <= _DRAIN_LIMIT:
                # Read and drop the body, so the 413 reaches the client instead of a reset.
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise BadRequestBody(
                413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
            )
        body = self.rfile.read(length)
        if len(body) < length:
            raise BadRequestBody(400, "BAD_REQUEST", "The request body ended early.")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = -1
            if size < 0:
                raise BadRequestBody(400, "BAD_REQUEST", "The chunked request body is malformed.")
            if size == 0:
                break
            size_total += size
            if size_total > limit:
                raise BadRequestBody(
                    413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
                )
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadRequestBody(400, "BAD_REQUEST", "The chunked request body is malformed.")
            chunks.append(chunk)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # Trailer fields are read and ignored.
        return b"".join(chunks)

    def _write(self, response: Response) -> None:
        status = int(response.status)
        lines = [f"HTTP/1.1 {status} {reason_phrase(status)}", f"Server: {self.server_version}"]
        payload = b""
        if status not in _NO_BODY_STATUSES:
            if response.body is not None:
                payload = json.dumps(response.body, separators=(",", ":")).encode()
                lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head if self.command == "HEAD" else head + payload)
            self.wfile.flush()
        except OSError:
            # The client went away (e.g. it timed out during a delay): nothing left to answer.
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class calls this for malformed request lines and headers: answer in JSON
        # like every other error, and close, since the rest of the stream cannot be trusted.
        self.close_connection = True
        text = message or reason_phrase(code)
        if not text.endswith("."):
            text += "."
        name = HTTPStatus(code).name if code in HTTPStatus._value2member_map_ else "BAD_REQUEST"
        self._write(Response(code, error_body(code, name, text)))

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)
