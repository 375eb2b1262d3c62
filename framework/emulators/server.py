"""A loopback HTTP server that emulates a destination's API, with fault injection.

The server is generic: what it answers comes from an *emulated API* (:class:`EmulatedApi`), a
plain object whose ``handle`` turns a :class:`Request` into a :class:`Response`. The server
does the HTTP (HTTP/1.1 with keep-alive, on ``ThreadingHTTPServer`` in a background thread),
answers every error as JSON, records requests, counts answers, and plays injected faults.

Faults (:class:`Fault`) wait in a queue; each applies to the next ``count`` requests to its
``path`` (any API path when ``None``). A faulted request never reaches the emulated API, so it
changes no state. An outage (:meth:`EmulatorServer.fail_for`) answers every API request with
one status until a deadline; it is checked before the queue, which it leaves untouched.

Control endpoints, never faulted, logged or counted::

    GET  /_emulator/state      the emulated API's state, plus answer counters
    POST /_emulator/reset      forget state, counters, request log and faults
    POST /_emulator/faults     queue a fault (a JSON object) or several (an array)
    GET  /_emulator/requests   the request log, oldest first
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Literal, Protocol, Self
from urllib.parse import urlsplit

__all__ = [
    "CONTROL_PREFIX",
    "MAX_JSON_DEPTH",
    "ApiError",
    "EmulatedApi",
    "EmulatorServer",
    "Fault",
    "RecordedRequest",
    "Request",
    "Response",
    "Route",
    "dispatch",
    "error_body",
    "parse_json",
]

logger = logging.getLogger("framework.emulators")

CONTROL_PREFIX = "/_emulator/"
"""Paths under this prefix are the emulator's own control endpoints, not the API's."""

FaultKind = Literal["status", "delay", "drop", "outage"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "delay", "drop", "outage")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
MAX_JSON_DEPTH = 64
"""Request bodies nested deeper than this are refused, so no copy of them can recurse too far."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(data: bytes) -> Any:
    """Strict JSON (no NaN or Infinity, nesting up to MAX_JSON_DEPTH); ValueError otherwise."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if _too_deep(value, MAX_JSON_DEPTH):
        raise ValueError("nested too deeply")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure to play on the next ``count`` requests to ``path`` (every API path if None).

    ``kind`` is one of:

    - ``"status"``: answer ``status`` with a JSON error body, and a ``Retry-After`` header of
      ``retry_after`` seconds when given (e.g. 429 with ``retry_after=2``).
    - ``"delay"``: wait ``seconds``, then answer as ``"status"`` does (a slow failure, to make
      a client time out).
    - ``"drop"``: read the request, then close the connection without answering.
    - ``"outage"``: answer ``status`` to every request for ``seconds`` from when it is injected
      (``count`` is ignored); same as :meth:`EmulatorServer.fail_for`.

    Raises ``ValueError`` when a value is out of range.
    """

    kind: FaultKind
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}.")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count must be a whole number of at least 1.")
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError("status must be a whole number.")
        if not 200 <= self.status <= 599:
            raise ValueError("status must be an HTTP status from 200 to 599.")
        if self.retry_after is not None and not (
            _is_number(self.retry_after) and 0 <= self.retry_after < float("inf")
        ):
            raise ValueError("retry_after must be a number of seconds, 0 or more.")
        if not (_is_number(self.seconds) and 0 <= self.seconds < float("inf")):
            raise ValueError("seconds must be a number of seconds, 0 or more.")
        if self.kind in ("delay", "outage") and self.seconds <= 0:
            raise ValueError(f"a {self.kind} fault needs seconds greater than 0.")
        if self.path is not None and not (isinstance(self.path, str) and self.path[:1] == "/"):
            raise ValueError("path must start with '/'.")

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from its JSON form (the same keys as the fields); ``ValueError`` if wrong."""
        if not isinstance(data, dict):
            raise ValueError("A fault must be a JSON object.")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown fault keys: {', '.join(unknown)}.")
        if "kind" not in data:
            raise ValueError("A fault needs a kind.")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The fault as a JSON object, as :meth:`from_json` reads it."""
        return {
            "kind": self.kind,
            "count": self.count,
            "status": self.status,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "path": self.path,
        }

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path``."""
        return self.path is None or self.path == path


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as an emulated API sees it; header names are lower-case."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None when absent."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON; :class:`ApiError` (400) when it is not (see parse_json)."""
        try:
            return parse_json(self.body)
        except ValueError as exc:
            message = f"The request body is not valid JSON ({str(exc).split(':')[0]})."
            raise ApiError(400, "INVALID_JSON", message) from exc


@dataclass(frozen=True, slots=True)
class Response:
    """An answer: status, a JSON-serialisable body (None for none) and extra headers."""

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


def error_body(
    status: int, code: str, message: str, errors: tuple[dict[str, str], ...] = ()
) -> dict[str, Any]:
    """The JSON body of every error answer: ``message``, ``status``, ``code``, ``errors``."""
    body: dict[str, Any] = {"message": message, "status": status, "code": code}
    if errors:
        body["errors"] = list(errors)
    return body


class ApiError(Exception):
    """Raised by an emulated API's handler to answer an error; never leaves the server.

    ``errors`` lists each problem as ``{"pointer": ..., "message": ...}`` (pointers into the
    request body); ``headers`` are added to the answer.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: tuple[dict[str, str], ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers

    def response(self) -> Response:
        """The JSON error answer this error stands for."""
        return Response(
            self.status, error_body(self.status, self.code, self.message, self.errors), self.headers
        )


Route = Callable[[Request], Response]
"""A handler for one method of one path."""


def dispatch(routes: Mapping[str, Mapping[str, Route]], request: Request) -> Response:
    """Call the handler ``routes[path][method]``: 404 for an unknown path, 405 for a method."""
    methods = routes.get(request.path)
    if methods is None:
        raise ApiError(404, "NOT_FOUND", f"There is no endpoint at {request.path}.")
    handler = methods.get(request.method)
    if handler is None:
        allowed = ", ".join(sorted(methods))
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.path} does not accept {request.method}; use {allowed}.",
            headers=(("Allow", allowed),),
        )
    return handler(request)


class EmulatedApi(Protocol):
    """What an emulated API provides. The server calls these under one lock, one at a time."""

    def handle(self, request: Request) -> Response:
        """Answer one API request (raise :class:`ApiError` for an error answer)."""
        ...

    def state(self) -> dict[str, Any]:
        """The API's state as a fresh JSON-serialisable dict."""
        ...

    def reset(self) -> None:
        """Forget every state change."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One API request in the log: what came in, the status answered (None when dropped)."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes
    status: int | None
    fault: FaultKind | None = None

    @property
    def body(self) -> Any:
        """The body parsed as JSON; None when empty or not JSON (see :attr:`text`)."""
        try:
            return parse_json(self.raw_body) if self.raw_body else None
        except ValueError:
            return None

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.raw_body.decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        """The entry as ``GET /_emulator/requests`` shows it (``text`` only for non-JSON)."""
        entry: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
            "status": self.status,
            "fault": self.fault,
        }
        if self.raw_body and entry["body"] is None:
            entry["text"] = self.text[:2000]
        return entry


class _Pending:
    """A queued fault and how many more requests it applies to."""

    __slots__ = ("fault", "remaining")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.remaining = fault.count


class _BadRequestBody(Exception):
    """The request's framing (Content-Length, chunks) is unreadable; answered, then closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = Response(status, error_body(status, code, message))


class EmulatorServer:
    """Serves an emulated API on loopback, in a background thread; a context manager.

    ``port=0`` picks a free port; :attr:`url` is the base URL once started. Requests (API
    paths only) are logged, up to ``max_logged_requests`` (the oldest are forgotten); bodies
    larger than ``max_body_bytes`` are refused with 413.
    """

    def __init__(
        self,
        app: EmulatedApi,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_logged_requests: int = 1000,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_logged_requests < 0:
            raise ValueError("max_logged_requests must be 0 or more.")
        self.app = app
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._faults: deque[_Pending] = deque()
        self._outage: tuple[float, Fault] | None = None
        self._log: deque[RecordedRequest] = deque(maxlen=max_logged_requests)
        self._counters: dict[str, dict[str, int]] = {}
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Life cycle

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``; RuntimeError before :meth:`start`."""
        if self._httpd is None:
            raise RuntimeError("The emulator is not running: call start() or use `with`.")
        host, port = self._httpd.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> Self:
        """Bind the port and serve in a background thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("The emulator is already running.")
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator-{self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection, release the port; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Keep-alive connections would otherwise keep their handler threads serving.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # State, log and faults

    def state(self) -> dict[str, Any]:
        """The emulated API's state, plus ``counters``: answers by path, then by status.

        A dropped request counts under ``"dropped"`` instead of a status.
        """
        with self._lock:
            state = self.app.state()
            state["counters"] = {path: dict(counts) for path, counts in self._counters.items()}
            return state

    def reset(self) -> None:
        """Forget the API's state, the counters, the request log, queued faults and outage."""
        with self._lock:
            self.app.reset()
            self._counters.clear()
            self._log.clear()
            self._faults.clear()
            self._outage = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """The logged API requests, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def inject(self, *faults: Fault) -> None:
        """Queue faults, in order; an ``"outage"`` fault starts at once (see :meth:`fail_for`)."""
        now = time.monotonic()
        with self._lock:
            for fault in faults:
                if fault.kind == "outage":
                    self._outage = (now + fault.seconds, fault)
                else:
                    self._faults.append(_Pending(fault))

    def fail_for(
        self,
        seconds: float,
        status: int = 503,
        *,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer ``status`` to every API request (to ``path``, if given) for ``seconds``."""
        self.inject(
            Fault("outage", status=status, retry_after=retry_after, seconds=seconds, path=path)
        )

    # Called by the request handler

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            if self._outage is not None:
                deadline, outage = self._outage
                if time.monotonic() >= deadline:
                    self._outage = None
                elif outage.matches(path):
                    return outage
            for pending in self._faults:
                if pending.fault.matches(path):
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
            return None

    def _answer(self, request: Request) -> Response:
        with self._lock:
            response = _respond(self.app.handle, request)
            self._record_locked(request, response.status, None)
            return response

    def _record(self, request: Request, status: int | None, fault: FaultKind | None) -> None:
        with self._lock:
            self._record_locked(request, status, fault)

    def _record_locked(self, request: Request, status: int | None, fault: FaultKind | None) -> None:
        self._log.append(
            RecordedRequest(
                request.method, request.path, request.headers, request.body, status, fault
            )
        )
        counts = self._counters.setdefault(request.path, {})
        key = "dropped" if status is None else str(status)
        counts[key] = counts.get(key, 0) + 1

    def _control(self, request: Request) -> Response:
        routes: dict[str, dict[str, Route]] = {
            CONTROL_PREFIX + "state": {"GET": lambda _: Response(200, self.state())},
            CONTROL_PREFIX + "reset": {"POST": self._control_reset},
            CONTROL_PREFIX + "faults": {"POST": self._control_faults},
            CONTROL_PREFIX + "requests": {
                "GET": lambda _: Response(200, [entry.to_json() for entry in self.requests])
            },
        }
        return _respond(lambda request: dispatch(routes, request), request)

    def _control_reset(self, _: Request) -> Response:
        self.reset()
        return Response(200, {"message": "The emulator was reset."})

    def _control_faults(self, request: Request) -> Response:
        data = request.json() if request.body else None
        items = data if isinstance(data, list) else [data]
        faults: list[Fault] = []
        for index, item in enumerate(items):
            try:
                faults.append(Fault.from_json(item))
            except (TypeError, ValueError) as exc:
                where = f"Fault {index}: " if isinstance(data, list) else ""
                raise ApiError(400, "INVALID_FAULT", f"{where}{exc}") from exc
        self.inject(*faults)
        return Response(200, {"queued": [fault.to_json() for fault in faults]})


def _respond(handler: Route, request: Request) -> Response:
    try:
        return handler(request)
    except ApiError as exc:
        return exc.response()
    # Any other failure is a bug in the emulator: it is logged with its traceback and answered
    # as a 500, so that one bad request never stops the server.
    except Exception:
        logger.exception("The emulator failed on %s %s", request.method, request.path)
        message = "The emulator failed on this request; see its log."
        return Response(500, error_body(500, "EMULATOR_ERROR", message))


def _fault_response(fault: Fault) -> Response:
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after is not None:
        headers = (("Retry-After", f"{fault.retry_after:g}"),)
    phrase = _reason(fault.status)
    message = f"Emulated failure: {fault.status} {phrase}."
    return Response(fault.status, error_body(fault.status, "EMULATED_FAULT", message), headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to one :class:`EmulatorServer`."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a client pool opens many.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can take seconds.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("The emulator failed while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    """Reads each request, plays a fault or asks the emulated API, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "actionkit-emulator"
    disable_nagle_algorithm = True
    # Keep-alive connections idle this long are closed.
    timeout = 60
    server: _HTTPServer

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler looks up do_<METHOD>: every method goes through routing, so
        # an unsupported one is a 405 (with Allow) rather than the base class's 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        with self.server.emulator._lock:
            self.server.emulator._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.emulator._lock:
            self.server.emulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        emulator = self.server.emulator
        try:
            body = self._read_body(emulator.max_body_bytes)
        except _BadRequestBody as exc:
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
            self._write(emulator._control(request))
            return
        fault = emulator._take_fault(request.path)
        if fault is None:
            self._write(emulator._answer(request))
            return
        if fault.kind == "drop":
            emulator._record(request, None, "drop")
            # Nothing is written: closing the socket is the client's only answer.
            self.close_connection = True
            return
        if fault.kind == "delay" and emulator._stopping.wait(fault.seconds):
            self.close_connection = True
            return
        emulator._record(request, fault.status, fault.kind)
        self._write(_fault_response(fault))

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
            raise _BadRequestBody(400, "BAD_REQUEST", "The Content-Length header is not valid.")
        if length > limit:
            if length <= _DRAIN_LIMIT:
                # Read and drop the body, so the 413 reaches the client instead of a reset.
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise _BadRequestBody(
                413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
            )
        body = self.rfile.read(length)
        if len(body) < length:
            raise _BadRequestBody(400, "BAD_REQUEST", "The request body ended early.")
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
                raise _BadRequestBody(400, "BAD_REQUEST", "The chunked request body is malformed.")
            if size == 0:
                break
            size_total += size
            if size_total > limit:
                raise _BadRequestBody(
                    413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."
                )
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequestBody(400, "BAD_REQUEST", "The chunked request body is malformed.")
            chunks.append(chunk)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # Trailer fields are read and ignored.
        return b"".join(chunks)

    def _write(self, response: Response) -> None:
        status = int(response.status)
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"Server: {self.server_version}"]
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
        text = message or _reason(code)
        if not text.endswith("."):
            text += "."
        name = HTTPStatus(code).name if code in HTTPStatus._value2member_map_ else "BAD_REQUEST"
        self._write(Response(code, error_body(code, name, text)))

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)
