"""Reading a request body within a byte limit, gzip or not, and parsing it as a JSON object.

A body is read as it streams in and refused as soon as it passes the limit, so a client
cannot make the server hold more than the limit in memory; a gzip body (``Content-Encoding:
gzip``, which Segment's libraries can send) is held to the same limit once inflated.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from framework.errors import EventJsonError, Problem
from framework.event_json import decode_event_json

__all__ = ["CLOSE", "Rejection", "parse_json_object", "read_body"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused: HTTP status, a stable ``code``, a sentence, problems by pointer.

    ``headers`` are extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    status: int
    code: str
    message: str
    errors: tuple[Problem, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        body: dict[str, Any] = {"success": False, "code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = [problem.to_dict() for problem in self.errors]
        return body


def _too_large(limit: int) -> Rejection:
    return Rejection(
        400,
        "BODY_TOO_LARGE",
        f"The request body is larger than {limit} bytes, the most this endpoint accepts; "
        "send fewer events per request.",
    )


CLOSE = {"Connection": "close"}
"""The header of a refusal answered before the body is read in full: the connection is
closed after the answer, so that what the client still sends is never taken for a next
request."""

_BODY_INCOMPLETE = Rejection(
    400,
    "BODY_INCOMPLETE",
    "The client disconnected before the request body arrived in full; nothing was accepted.",
    headers=CLOSE,
)


async def read_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    limit: int,
    *,
    length: str | None = None,
    encoding: str = "identity",
) -> bytes | Rejection:
    """The request body from ASGI ``receive``, inflated if gzip; a :class:`Rejection` once it
    passes ``limit``, or when the client disconnects first.

    ``length`` and ``encoding`` are the request's ``Content-Length`` and
    ``Content-Encoding`` headers: a declared length over the limit is refused before any of
    the body is read.
    """
    if length is not None and length.isdigit() and int(length) > limit:
        return _too_large(limit)
    encoding = encoding.strip().lower()
    if encoding not in ("identity", "", "gzip"):
        return Rejection(
            400,
            "UNSUPPORTED_ENCODING",
            f"The Content-Encoding {encoding[:20]!r} is not supported; send gzip or none.",
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return _BODY_INCOMPLETE
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error:
                return Rejection(400, "INVALID_GZIP", "The gzip body does not inflate.")
            if inflater.unconsumed_tail:
                return _too_large(limit)
        size += len(chunk)
        if size > limit:
            return _too_large(limit)
        if more or chunks:  # the whole body in one message, the usual case, is not copied
            chunks.append(chunk)
    if inflater is not None and not inflater.eof:
        return Rejection(400, "INVALID_GZIP", "The gzip body ends before its end.")
    return b"".join(chunks) if chunks else chunk


def parse_json_object(raw: bytes) -> dict[str, Any] | Rejection:
    """The body as a JSON object, under the one rule for event JSON; anything else is refused.

    The rule (:mod:`framework.event_json`): UTF-8, strict JSON (no ``NaN``), no lone
    surrogate, at most 64 levels deep, number literals of at most 100 characters. A body that
    breaks it is ``400 INVALID_JSON`` with one problem whose ``code`` is the rule broken
    (``NOT_UTF8``, ``SYNTAX``, ...) and whose ``pointer`` says where, when the body parsed.
    """
    try:
        value = decode_event_json(raw)
    except EventJsonError as exc:
        problem = Problem(exc.pointer, exc.message, exc.reason)
        return Rejection(400, "INVALID_JSON", exc.message, (problem,))
    if not isinstance(value, dict):
        return Rejection(400, "INVALID_JSON", "The request body must be a JSON object.")
    return value
