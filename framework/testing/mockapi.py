"""The API a tester's requests reach instead of the network: it records and answers them.

Answers are queued with :meth:`MockApi.respond` and used in order, one per request; the last
one keeps answering every later request (so ``respond(429)`` then ``respond(200)`` makes the
first request fail and every retry succeed). With nothing queued, every request gets
``200 {}``. A handler (a callable taking the ``httpx.Request``) answers however it likes.
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


class MockApi:
    """Records every request sent to it, and answers each with the next queued answer."""

    def __init__(self) -> None:
        self._answers: list[Handler] = []
        self.received: list[httpx.Request] = []

    def respond(
        self,
        status_or_handler: int | Handler = 200,
        *,
        json: Any = UNSET,
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        """Queue an answer: a status with a JSON body (default ``{}``) or text, or a handler."""
        if callable(status_or_handler):
            self._answers.append(status_or_handler)
        else:
            self._answers.append(_fixed(status_or_handler, json, headers, text))

    def reset(self) -> None:
        """Forget the queued answers and the requests received."""
        self._answers.clear()
        self.received.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it (the ``httpx.MockTransport`` handler)."""
        self.received.append(request)
        if not self._answers:
            return httpx.Response(200, json={})
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        return answer(request)

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
