"""CORS for an emulated API that web pages call, as the Personalize Edge API is called.

A page's ``fetch`` with custom headers (``x-project-uid``, the user UID) first sends an
``OPTIONS`` preflight; the answer must allow the method and headers, and every answer must
allow the page's origin and expose the headers the page reads (the SDK reads the user UID
from the manifest's answer). No credentials are involved, so any origin is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from framework.emulators.api import Request, Response

__all__ = ["PREFLIGHT_MAX_AGE", "preflight", "with_cors"]

PREFLIGHT_MAX_AGE = 600
"""Seconds a browser may keep a preflight's answer."""


def preflight(request: Request, methods: Iterable[str], allowed_headers: Iterable[str]) -> Response:
    """The 204 answer to an ``OPTIONS`` preflight of a path that takes ``methods``.

    The headers the page asks for (``Access-Control-Request-Headers``) are allowed as asked;
    with none asked, ``allowed_headers`` are listed.
    """
    asked = request.header("access-control-request-headers")
    headers = (
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", ", ".join(sorted({*methods, "OPTIONS"}))),
        ("Access-Control-Allow-Headers", asked or ", ".join(allowed_headers)),
        ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)),
    )
    return Response(204, None, headers)


def with_cors(response: Response, exposed_headers: Iterable[str]) -> Response:
    """``response`` with the headers that let a page of any origin read it, and read
    ``exposed_headers`` from it."""
    headers = (
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", ", ".join(exposed_headers)),
    )
    return dataclasses.replace(response, headers=response.headers + headers)
