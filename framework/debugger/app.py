"""The debugger's starlette app: a read-only JSON API over the run history, and its page.

Routes::

    GET /                         the page (static/index.html; static/app.js does the rest)
    GET /app.js, /app.css         its script and style
    GET /api/runs?sync=&limit=    runs, newest first: {"runs": [...]}
    GET /api/runs/{id}?primary_key=&limit=
                                  {"run": ..., "rejected": [...], "calls": [...]}; with
                                  primary_key, only that row's rejections and calls
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
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from framework.errors import StorageError
from framework.sync.history import RunHistory

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
        Route("/api/calls/{call_id:int}", call, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={StorageError: storage_failed},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed, www_redirect=False)],
    )
