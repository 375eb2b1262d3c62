"""The model of an emulated API: requests, responses, JSON errors, and routing by path.

An emulated API (:class:`EmulatedApi`) turns a :class:`Request` into a :class:`Response`, or
raises :class:`ApiError` for an error answer; :func:`dispatch` routes by path and method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

CONTROL_PREFIX = "/_emulator/"
"""Paths under this prefix are the emulator's own control endpoints, not the API's."""

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
    request body); ``headers`` are added to the answer; ``extra`` keys are added to the body
    (where the real API's clients read a key of their own).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: tuple[dict[str, str], ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers
        self.extra = dict(extra or {})

    def response(self) -> Response:
        """The JSON error answer this error stands for."""
        body = {**error_body(self.status, self.code, self.message, self.errors), **self.extra}
        return Response(self.status, body, self.headers)


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
