"""A loopback HTTP server that emulates a destination's API, with fault injection.

The server is generic: what it answers comes from an *emulated API* (:class:`EmulatedApi`), a
plain object whose ``handle`` turns a :class:`Request` into a :class:`Response`. The server
does the HTTP (HTTP/1.1 with keep-alive, on an asyncio loop in a background thread:
:mod:`framework.emulators.wire`),
answers every error as JSON, records requests, counts answers, and plays injected faults.

Faults (:class:`Fault`) wait in a queue; each applies to the next ``count`` requests to its
``path`` (any API path when ``None``). A faulted request never reaches the emulated API, so it
changes no state, except a drop ``after_effect``, which is handled and then not answered. An
outage answers every API request with one status until a deadline
(:meth:`EmulatorServer.fail_for`), for a number of requests, or until it is ended
(:meth:`EmulatorServer.start_outage`, :meth:`EmulatorServer.end_outage`); it is checked
before the queue, which it leaves untouched.

Control endpoints, never faulted, logged or counted::

    GET    /_emulator/state      the emulated API's state, plus answer counters
    POST   /_emulator/reset      forget state, counters, request log, faults and outage
    POST   /_emulator/faults     queue a fault (a JSON object) or several (an array)
    GET    /_emulator/requests   the request log, in arrival order
    GET    /_emulator/outage     the outage going on, or null
    POST   /_emulator/outage     start an outage that lasts until it is ended
    DELETE /_emulator/outage     end the outage
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
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
    """One API request in the log: what came in, the status answered (None when dropped).

    ``applied``: the emulated API handled the request and accepted it (a 2xx), so it took
    effect, including when a drop ``after_effect`` then lost the answer. ``number``: its place
    in arrival order, from 1, counted since the last reset (it goes on when the log forgets
    the oldest entries, so a gap shows what was forgotten).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes
    status: int | None
    fault: FaultKind | None = None
    applied: bool = False
    number: int = 0

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
            "applied": self.applied,
            "number": self.number,
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


class _Outage:
    """The outage going on: until ``deadline`` (monotonic), for ``remaining`` requests, or,
    when both are None, until it is ended."""

    __slots__ = ("answered", "deadline", "fault", "remaining")

    def __init__(self, fault: Fault, deadline: float | None, remaining: int | None) -> None:
        self.fault = fault
        self.deadline = deadline
        self.remaining = remaining
        self.answered = 0

    def to_json(self, now: float) -> dict[str, Any]:
        ends = "deadline" if self.deadline is not None else "count" if self.remaining else "ended"
        return {
            "status": self.fault.status,
            "retry_after": self.fault.retry_after,
            "path": self.fault.path,
            "ends": ends,
            "seconds_left": None if self.deadline is None else max(0.0, self.deadline - now),
            "requests_left": self.remaining,
            "answered": self.answered,
        }


class EmulatorServer:
    """Serves an emulated API on loopback, in a background thread; a context manager.

    ``port=0`` picks a free port; :attr:`url` is the base URL once started. Requests (API
    paths only) are logged, up to ``max_logged_requests`` (the oldest are forgotten; None
    keeps them all); bodies larger than ``max_body_bytes`` are refused with 413.
    """

    def __init__(
        self,
        app: EmulatedApi,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_logged_requests: int | None = 1000,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_logged_requests is not None and max_logged_requests < 0:
            raise ValueError("max_logged_requests must be 0 or more.")
        self.app = app
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        # Notified whenever a request is logged (see wait_until).
        self._logged = threading.Condition(self._lock)
        self._faults: deque[_Pending] = deque()
        self._outage: _Outage | None = None
        self._log: deque[RecordedRequest] = deque(maxlen=max_logged_requests)
        self._arrivals = 0
        self._counters: dict[str, dict[str, int]] = {}
        self.stopping = threading.Event()
        self._httpd: HttpServer | None = None

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
        self._httpd.start(name=f"emulator-{self.url}")
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection, release the port; safe to call twice."""
        httpd = self._httpd
        if httpd is None:
            return
        self.stopping.set()
        httpd.stop()  # closes every connection, keep-alive ones included
        self._httpd = None

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
            self._arrivals = 0
            self._faults.clear()
            self._outage = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """The logged API requests, in arrival order, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def wait_until(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 30.0
    ) -> list[RecordedRequest]:
        """Wait until ``predicate(requests)`` is true of the log; returns the log then.

        The predicate is tried now and each time a request is logged, under the emulator's
        lock: it must only look at the list it is given (calling the emulator would deadlock).
        ``timeout`` (seconds) is only a safety net for a test that would otherwise hang:
        ``TimeoutError`` when reached.
        """
        with self._logged:
            if not self._logged.wait_for(lambda: predicate(list(self._log)), timeout):
                raise TimeoutError(
                    f"The emulator's request log did not reach the expected state in {timeout:g} s."
                )
            return list(self._log)

    def inject(self, *faults: Fault) -> None:
        """Queue faults, in order; an ``"outage"`` fault starts at once (see :meth:`fail_for`)."""
        now = time.monotonic()
        with self._lock:
            for fault in faults:
                if fault.kind == "outage":
                    if fault.seconds > 0:
                        self._outage = _Outage(fault, now + fault.seconds, None)
                    else:
                        self._outage = _Outage(fault, None, fault.count)
                else:
                    self._faults.append(_Pending(fault))

    def start_outage(
        self, status: int = 503, *, retry_after: float | None = None, path: str | None = None
    ) -> None:
        """Answer ``status`` (with ``Retry-After`` when given) to every API request (to
        ``path``, if given) from now until :meth:`end_outage`; it replaces any outage going on.

        Raises ``ValueError`` when a value is out of range (as :class:`Fault` does).
        """
        fault = Fault("outage", status=status, retry_after=retry_after, path=path)
        with self._lock:
            self._outage = _Outage(fault, None, None)

    def end_outage(self) -> bool:
        """End the outage going on, whichever way it was started; False if there was none."""
        with self._lock:
            ongoing = self._outage_locked(time.monotonic()) is not None
            self._outage = None
            return ongoing

    def outage(self) -> dict[str, Any] | None:
        """The outage going on, or None: its ``status``, ``retry_after`` and ``path``, how it
        ``ends`` (``"deadline"``, ``"count"`` or ``"ended"``: by :meth:`end_outage`),
        ``seconds_left``, ``requests_left`` and the number of requests it ``answered``."""
        now = time.monotonic()
        with self._lock:
            outage = self._outage_locked(now)
            return None if outage is None else outage.to_json(now)

    def _outage_locked(self, now: float) -> _Outage | None:
        outage = self._outage
        if outage is not None and outage.deadline is not None and now >= outage.deadline:
            self._outage = outage = None
        return outage

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

    def clear_faults(self) -> int:
        """Forget the queued faults (not an outage going on); returns how many were queued."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def take_fault(self, path: str, headers: Mapping[str, str] | None = None) -> Fault | None:
        """The fault to play on a request for ``path`` with ``headers`` (the outage first)."""
        with self._lock:
            outage = self._outage_locked(time.monotonic())
            if outage is not None and outage.fault.matches(path, headers):
                outage.answered += 1
                if outage.remaining is not None:
                    outage.remaining -= 1
                    if outage.remaining == 0:
                        self._outage = None
                return outage.fault
            for pending in self._faults:
                if pending.fault.matches(path, headers):
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
            return None

    def answer(self, request: Request) -> Response:
        """Ask the emulated API (under the lock), and log and count the answer."""
        with self._lock:
            response = _respond(self.app.handle, request)
            self._record_locked(request, response.status, None, _accepted(response))
            return response

    def apply_and_drop(self, request: Request) -> None:
        """Let the emulated API handle a request whose answer a drop fault will lose; log it."""
        with self._lock:
            response = _respond(self.app.handle, request)
            self._record_locked(request, None, "drop", _accepted(response))

    def record(self, request: Request, status: int | None, fault: FaultKind | None) -> None:
        """Log a request and count its answer (``status`` None: the connection was dropped)."""
        with self._lock:
            self._record_locked(request, status, fault, False)

    def _record_locked(
        self, request: Request, status: int | None, fault: FaultKind | None, applied: bool
    ) -> None:
        self._arrivals += 1
        self._log.append(
            RecordedRequest(
                request.method,
                request.path,
                request.headers,
                request.body,
                status,
                fault,
                applied,
                self._arrivals,
            )
        )
        counts = self._counters.setdefault(request.path, {})
        key = "dropped" if status is None else str(status)
        counts[key] = counts.get(key, 0) + 1
        self._logged.notify_all()

    def control(self, request: Request) -> Response:
        """Answer a request to one of the ``/_emulator/`` control endpoints."""
        routes = self.control_routes()
        return _respond(lambda request: dispatch(routes, request), request)

    def control_routes(self) -> dict[str, dict[str, Route]]:
        """The control endpoints, ``{path: {method: handler}}``; a subclass may add its own."""
        return {
            CONTROL_PREFIX + "state": {"GET": lambda _: Response(200, self.state())},
            CONTROL_PREFIX + "reset": {"POST": self._control_reset},
            CONTROL_PREFIX + "faults": {
                "POST": self._control_faults,
                "DELETE": lambda _: Response(200, {"cleared": self.clear_faults()}),
            },
            CONTROL_PREFIX + "requests": {
                "GET": lambda _: Response(200, [entry.to_json() for entry in self.requests])
            },
            CONTROL_PREFIX + "outage": {
                "GET": lambda _: Response(200, {"outage": self.outage()}),
                "POST": self._control_start_outage,
                "DELETE": lambda _: Response(200, {"ended": self.end_outage()}),
            },
        }

    def _control_start_outage(self, request: Request) -> Response:
        data = request.json() if request.body else {}
        allowed = {"status", "retry_after", "path"}
        if not isinstance(data, dict):
            raise ApiError(400, "INVALID_OUTAGE", "An outage must be a JSON object.")
        unknown = sorted(set(data) - allowed)
        if unknown:
            message = f"Unknown outage keys: {', '.join(unknown)}; use status, retry_after, path."
            raise ApiError(400, "INVALID_OUTAGE", message)
        try:
            self.start_outage(**data)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "INVALID_OUTAGE", str(exc)) from exc
        return Response(200, {"outage": self.outage()})

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


def _accepted(response: Response) -> bool:
    return 200 <= response.status < 300


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
