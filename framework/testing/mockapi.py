"""The API a tester's requests reach instead of the network: it records and answers them.

Answers are queued with :meth:`MockApi.respond` and used in order, one per request; the last
one keeps answering every later request (so ``respond(429)`` then ``respond(200)`` makes the
first request fail and every retry succeed). With nothing queued, every request gets
``200 {}``. A handler (a callable taking the ``httpx.Request``) answers however it likes.

An answer no request reached is a mistake in the test, as in pytest-httpx: the test meant a
request that was never sent. :meth:`MockApi.unused` lists them (the runner of case files
fails such a case); an answer queued with ``optional=True`` may go unused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from framework.definitions.request import PlannedRequest

__all__ = ["UNSET", "Handler", "MockApi"]

Handler = Callable[[httpx.Request], httpx.Response]
"""Answers one request the mock API received."""

UNSET: Any = object()
"""The default of ``json``: no body given (the answer's body is then ``{}``)."""


def _fixed(status: int, body: Any, headers: Mapping[str, str] | None, text: str | None) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json={} if body is UNSET else body, headers=headers)

    return answer


def _label(status_or_handler: int | Handler) -> str:
    if callable(status_or_handler):
        return f"the handler {getattr(status_or_handler, '__name__', repr(status_or_handler))}"
    return f"{status_or_handler}"


class MockApi:
    """Records every request sent to it, and answers each with the next queued answer."""

    def __init__(self) -> None:
        self._answers: list[tuple[Handler, str, bool]] = []
        self._used = 0
        self.received: list[httpx.Request] = []

    def respond(
        self,
        status_or_handler: int | Handler = 200,
        *,
        json: Any = UNSET,
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
        optional: bool = False,
    ) -> None:
        """Queue an answer: a status with a JSON body (default ``{}``) or text, or a handler.

        ``optional``: the answer may go unused (see :meth:`unused`).
        """
        if callable(status_or_handler):
            handler = status_or_handler
        else:
            handler = _fixed(status_or_handler, json, headers, text)
        self._answers.append((handler, _label(status_or_handler), optional))

    def reset(self) -> None:
        """Forget the queued answers and the requests received."""
        self._answers.clear()
        self._used = 0
        self.received.clear()

    def unused(self) -> list[str]:
        """The answers no request reached (but optional ones), as sentences: ``answer 2 (503)``."""
        return [
            f"answer {index + 1} ({label})"
            for index, (_, label, optional) in enumerate(self._answers)
            if index >= self._used and not optional
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it (the ``httpx.MockTransport`` handler)."""
        self.received.append(request)
        if not self._answers:
            return httpx.Response(200, json={})
        handler = self._answers[min(self._used, len(self._answers) - 1)][0]
        self._used += 1
        return handler(request)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that sends every request here."""
        return httpx.MockTransport(self.handle)


def shown_request(
    request: httpx.Request, header_names: frozenset[str], secrets: frozenset[str]
) -> dict[str, Any]:
    """A received request as a dict: method, URL, the headers named, JSON body; masked."""
    content = request.read()
    body: Any = None
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", errors="replace")
    headers = {name: value for name, value in request.headers.items() if name in header_names}
    planned = PlannedRequest(request.method, str(request.url), headers, body, secrets)
    return planned.redacted()
