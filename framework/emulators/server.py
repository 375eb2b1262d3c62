"""A loopback HTTP server that emulates a destination's API, with fault injection.

The server is generic: what it answers comes from an *emulated API* (:class:`EmulatedApi`), a
plain object whose ``handle`` turns a :class:`Request` into a :class:`Response`. The server
does the HTTP (HTTP/1.1 with keep-alive, on ``ThreadingHTTPServer`` in a background thread),
answers every error as JSON, records requests, counts answers, and plays injected faults.

Faults (:class:`Fault`) wait in a queue; each applies to the next ``count`` requests to its
``path`` (any API path when ``None``). A faulted request never reaches the emulated API, so it
changes no state. An outage (:meth:`EmulatorServer.fail_for`) answers every API request with
one status until a deadline, or for a number of requests; it is checked before the queue,
which it leaves untouched.

Control endpoints, never faulted, logged or counted::

    GET  /_emulator/state      the emulated API's state, plus answer counters
    POST /_emulator/reset      forget state, counters, request log and faults
    POST /_emulator/faults     queue a fault (a JSON object) or several (an array)
    GET  /_emulator/requests   the request log, oldest first
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from framework.emulators.api import (
    CONTROL_PREFIX,
    MAX_JSON_DEPTH,
    ApiError,
    EmulatedApi,
    Request,
    Response,
    Route,
    dispatch,
    error_body,
    parse_json,
)
from framework.emulators.faults import Fault, FaultKind
from framework.emulators.wire import HttpServer

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


DEFAULT_MAX_BODY_BYTES = 1024 * 1024


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
        # The outage: its deadline (None: it lasts a number of requests), and the fault.
        self._outage: tuple[float | None, _Pending] | None = None
        self._log: deque[RecordedRequest] = deque(maxlen=max_logged_requests)
        self._counters: dict[str, dict[str, int]] = {}
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: HttpServer | None = None
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
        self.stopping.clear()
        self._httpd = HttpServer((self.host, self.port), self)
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
        self.stopping.set()
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
                    deadline = now + fault.seconds if fault.seconds > 0 else None
                    self._outage = (deadline, _Pending(fault))
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
        """Answer ``status`` to every API request (to ``path``, if given) for ``seconds``.

        Raises ``ValueError`` unless ``seconds`` is greater than 0 (an outage of a number of
        requests is ``inject(Fault("outage", count=n))``).
        """
        if not (isinstance(seconds, int | float) and seconds > 0):
            raise ValueError("an outage needs seconds greater than 0.")
        self.inject(
            Fault("outage", status=status, retry_after=retry_after, seconds=seconds, path=path)
        )

    # Called by the request handler

    def track_connection(self, connection: socket.socket, *, open_: bool) -> None:
        """Note a client connection opening or closing (stop() closes those still open)."""
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def take_fault(self, path: str) -> Fault | None:
        """The fault to play on a request for ``path`` (the outage first), if any."""
        with self._lock:
            if self._outage is not None:
                deadline, outage = self._outage
                if deadline is not None and time.monotonic() >= deadline:
                    self._outage = None
                elif outage.fault.matches(path):
                    if deadline is None:
                        outage.remaining -= 1
                        if outage.remaining == 0:
                            self._outage = None
                    return outage.fault
            for pending in self._faults:
                if pending.fault.matches(path):
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
            return None

    def answer(self, request: Request) -> Response:
        """Ask the emulated API (under the lock), and log and count the answer."""
        with self._lock:
            response = _respond(self.app.handle, request)
            self._record_locked(request, response.status, None)
            return response

    def record(self, request: Request, status: int | None, fault: FaultKind | None) -> None:
        """Log a request and count its answer (``status`` None: the connection was dropped)."""
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

    def control(self, request: Request) -> Response:
        """Answer a request to one of the ``/_emulator/`` control endpoints."""
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
