"""The debugger's starlette app: a read-only JSON API over the run history, and its page.

Routes::

    GET /                         the page (static/index.html; static/app.js does the rest)
    GET /app.js, /app.css         its script and style
    GET /api/runs?sync=&limit=    runs, newest first: {"runs": [...]}
    GET /api/runs/{id}?primary_key=&limit=
                                  {"run": ..., "rejected": [...], "calls": [...]}; with
                                  primary_key, only that row's rejections and calls
    GET /api/runs/{id}/rows?status=&operation=&primary_key=&limit=&offset=
                                  one page of the run's rows, filtered:
                                  {"rows": [...], "total", "offset", "limit", "rows_recorded"}
    GET /api/runs/{id}/calls?primary_key=&limit=&offset=
                                  one page of its calls, one line each (no request or
                                  response): {"calls": [...], "total", "offset", "limit"}
    GET /api/calls/{id}           one call: its request and response

Every answer is JSON except the page's three files; an unknown run or call is 404 with
``{"error": ...}``. A request whose ``Host`` header is not one of the names the debugger
was started for (``localhost``, ``127.0.0.1``, ``[::1]`` and the host it is bound to) is
refused with 400: a page of another site, its name rebound to 127.0.0.1 (DNS rebinding),
cannot read the history. The page is served with a strict Content-Security-Policy (its own script
only) and the script writes every value as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from framework.errors import StorageError
from framework.sync.history import (
    OPERATIONS,
    ROW_STATUSES,
    RowOperation,
    RowStatus,
    RunHistory,
)

__all__ = ["DEFAULT_LIMIT", "create_app"]

STATIC = Path(__file__).parent / "static"
DEFAULT_LIMIT = 200
"""How many runs, rejected rows or calls an answer holds unless ``limit`` says otherwise."""
_MAX_LIMIT = 5000
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The ``Host`` names the debugger always answers; any other is refused with 400."""
_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}
_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_HEADERS)


def _limit(request: Request) -> int | None:
    """The ``limit`` query parameter, within bounds; None when it is not a number."""
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        return max(1, min(int(raw), _MAX_LIMIT))
    except ValueError:
        return None


def _bad_limit() -> JSONResponse:
    return _json({"error": f"limit must be a whole number from 1 to {_MAX_LIMIT}."}, 400)


def _offset(request: Request) -> int | None:
    """The ``offset`` query parameter (0 when absent); None when it is not a whole number."""
    raw = request.query_params.get("offset") or "0"
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> tuple[str | None, str]:
    """A query parameter that must be one of ``allowed`` (absent or empty: None).

    Returns the value and, when it is not allowed, the sentence that says so.
    """
    value = request.query_params.get(name) or None
    if value is None or value in allowed:
        return value, ""
    return None, f"{name} must be one of {', '.join(allowed)}, not {value!r}."


def _page(request: Request) -> tuple[int, int] | JSONResponse:
    """The ``limit`` and ``offset`` of a paged answer, or the 400 answer saying what is wrong."""
    limit, offset = _limit(request), _offset(request)
    if limit is None:
        return _bad_limit()
    if offset is None:
        return _json({"error": "offset must be a whole number, 0 or more."}, 400)
    return limit, offset


def _host_name(host: str) -> str:
    """``host`` as a ``Host`` header names it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def create_app(history_path: str | Path, *, hosts: Iterable[str] = ()) -> Starlette:
    """The debugger app over the run history at ``history_path`` (opened when it starts).

    The history is only read, except that opening it marks ``interrupted`` the runs of this
    host whose process is gone, as every reader of the history does. A store that cannot
    be read answers 503 with the reason.
    Only requests whose ``Host`` is localhost, 127.0.0.1, [::1] or one of ``hosts`` (the address the
    server is bound to) are answered; any other gets 400, so that a site whose name was
    rebound to a loopback address cannot read the history through the visitor's browser.
    """
    path = Path(history_path)
    allowed = [*_LOCAL_HOSTS, *(_host_name(host) for host in hosts)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.history = RunHistory(path)
        try:
            yield
        finally:
            app.state.history.close()

    def history(request: Request) -> RunHistory:
        store: RunHistory = request.app.state.history
        return store

    async def page(request: Request) -> Response:
        name, media_type = _FILES[request.url.path]
        return FileResponse(STATIC / name, media_type=media_type, headers=_HEADERS)

    def runs(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return _bad_limit()
        sync = request.query_params.get("sync") or None
        found = history(request).list_runs(sync, limit=limit)
        return _json({"runs": [run.to_dict() for run in found]})

    def run(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return _bad_limit()
        run_id: int = request.path_params["run_id"]
        store = history(request)
        record = store.get_run(run_id)
        if record is None:
            return _json({"error": f"There is no run {run_id} in the history."}, 404)
        key = request.query_params.get("primary_key") or None
        rejected = store.rejected_rows(run_id, key, limit=limit)
        calls = store.calls(run_id, primary_key=key, limit=None if key else limit)
        return _json(
            {
                "run": record.to_dict(),
                "primary_key": key,
                "rejected": [row.to_dict() for row in rejected],
                "calls": [call.to_dict() for call in calls[:limit]],
            }
        )

    def run_rows(request: Request) -> Response:
        page = _page(request)
        if isinstance(page, JSONResponse):
            return page
        limit, offset = page
        status, status_error = _choice(request, "status", ROW_STATUSES)
        operation, operation_error = _choice(request, "operation", OPERATIONS)
        if status_error or operation_error:
            return _json({"error": " ".join(filter(None, (status_error, operation_error)))}, 400)
        run_id: int = request.path_params["run_id"]
        store = history(request)
        record = store.get_run(run_id)
        if record is None:
            return _json({"error": f"There is no run {run_id} in the history."}, 404)
        found = store.rows(
            run_id,
            status=cast(RowStatus | None, status),  # one of ROW_STATUSES, checked above
            operation=cast(RowOperation | None, operation),  # one of OPERATIONS
            primary_key=request.query_params.get("primary_key") or None,
            limit=limit,
            offset=offset,
        )
        return _json(
            {
                "run_id": run_id,
                "rows": [row.to_dict() for row in found.items],
                "total": found.total,
                "offset": found.offset,
                "limit": limit,
                "rows_recorded": record.rows_recorded,
            }
        )

    def run_calls(request: Request) -> Response:
        page = _page(request)
        if isinstance(page, JSONResponse):
            return page
        limit, offset = page
        run_id: int = request.path_params["run_id"]
        store = history(request)
        if store.get_run(run_id) is None:
            return _json({"error": f"There is no run {run_id} in the history."}, 404)
        key = request.query_params.get("primary_key") or None
        calls = store.calls(run_id, primary_key=key, limit=limit, offset=offset)
        return _json(
            {
                "run_id": run_id,
                "calls": [call.summary() for call in calls],
                "total": store.count_calls(run_id, primary_key=key),
                "offset": offset,
                "limit": limit,
            }
        )

    def call(request: Request) -> Response:
        call_id: int = request.path_params["call_id"]
        record = history(request).get_call(call_id)
        if record is None:
            return _json({"error": f"There is no call {call_id} in the history."}, 404)
        return _json({"call": record.to_dict()})

    async def storage_failed(request: Request, exc: Exception) -> Response:
        message = exc.message if isinstance(exc, StorageError) else "The history cannot be read."
        return _json({"error": message}, 503)

    routes = [
        *(Route(route, page, methods=["GET"]) for route in _FILES),
        Route("/api/runs", runs, methods=["GET"]),
        Route("/api/runs/{run_id:int}", run, methods=["GET"]),
        Route("/api/runs/{run_id:int}/rows", run_rows, methods=["GET"]),
        Route("/api/runs/{run_id:int}/calls", run_calls, methods=["GET"]),
        Route("/api/calls/{call_id:int}", call, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={StorageError: storage_failed},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed, www_redirect=False)],
    )
