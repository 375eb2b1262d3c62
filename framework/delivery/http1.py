"""One keep-alive HTTP/1.1 connection of the router's own client: a request out, its answer in.

:class:`Http1Connection` is an asyncio protocol. A request's bytes go out in one write and
the answer is parsed as it arrives by llhttp, Node's HTTP parser, through the ``httptools``
binding (MagicStack's, as uvicorn uses it): status line, headers, ``Content-Length`` and
chunked bodies, and interim ``1xx`` answers, which are skipped. A body that has neither
length nor chunks ends when the server closes the connection.

At most ``limit`` bytes of a body are kept. A longer body ends the exchange at once: the
answer is marked truncated and the connection is closed rather than drained. A connection
is offered for reuse only after a whole answer that allows keep-alive. A status line and
headers longer than :data:`MAX_HEAD_BYTES` in all are refused.

The read timeout bounds the silence while an answer is awaited. The first byte must come
within it; after that, a silence longer than it fails the exchange, and is noticed between
one and two timeouts after the last byte, so that a byte costs no timer. Failures are
:class:`ConnectionDropped` (closed or reset before the whole answer came),
:class:`AnswerTimeout` and :class:`InvalidAnswer` (bytes llhttp cannot read as HTTP/1.x).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

import httptools

__all__ = [
    "AnswerTimeout",
    "ConnectionDropped",
    "Http1Connection",
    "InvalidAnswer",
    "Reply",
    "decoded_body",
]


class ConnectionDropped(ConnectionError):
    """The connection closed or was reset before the whole answer came."""


class AnswerTimeout(TimeoutError):
    """No byte of the answer came within the read timeout."""


class InvalidAnswer(Exception):
    """The server's bytes are not an HTTP/1.x answer that llhttp can read."""


@dataclass(slots=True)
class Reply:
    """A whole answer (or its first ``limit`` bytes of body, ``truncated``)."""

    status: int
    body: bytes
    truncated: bool
    retry_after: str | None
    content_encoding: str | None


_NO_BODY_STATUSES = frozenset({204, 304})

MAX_HEAD_BYTES = 64 * 1024
"""An answer whose status line and headers take more bytes than this is refused."""


class Http1Connection(asyncio.Protocol):
    """One client connection; :meth:`exchange` sends a request and waits for its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        """True once an answer ended with the connection kept alive (and until reused)."""
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Reply] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0
        self._heard = False
        self._limit = 0
        self._expect_body = True
        self._lost: asyncio.Future[None] | None = None
        self._begin()

    def _begin(self) -> None:
        """Forget the answer so far: a new one (or the final one after a 1xx) begins."""
        self._chunks: list[bytes] = []
        self._size = 0
        self._retry_after: str | None = None
        self._encoding: str | None = None
        self._framed = False
        self._headers_done = False
        self._head_bytes = 0
        self._head_size = 0

    # -- asyncio protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (called by asyncio)."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Feed the answer's bytes to the parser (called by asyncio)."""
        if self._waiter is None:
            # Bytes nobody asked for: the connection cannot be trusted any more.
            self.close()
            return
        self._heard = True
        if not self._headers_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(InvalidAnswer("the server switched protocols, which was not asked for"))
            return
        except InvalidAnswer as exc:  # raised by a callback
            self._fail(exc)
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__ or exc.__cause__
            self._fail(cause if isinstance(cause, InvalidAnswer) else InvalidAnswer(str(exc)))
            return
        if (
            self._waiter is not None
            and not self._headers_done
            and self._head_bytes > MAX_HEAD_BYTES
        ):
            self._fail(InvalidAnswer(f"the answer's head is larger than {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        """End the exchange in progress, if any (called by asyncio)."""
        self.closed = True
        self.reusable = False
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._waiter is None:
            return
        status = self._parser.get_status_code() if self._headers_done else 0
        if self._headers_done and not self._framed and status not in _NO_BODY_STATUSES:
            self._finish(status)  # a body without length or chunks ends with the connection
            return
        dropped = ConnectionDropped("the connection closed before the whole answer came")
        if exc is not None:
            dropped.__cause__ = exc
        self._fail(dropped)

    # -- llhttp callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A new answer starts; one that no request waits for spoils the connection."""
        if self._waiter is None:
            self.close()
        self._begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        """Note the headers the client uses; llhttp itself reads the framing ones."""
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            raise InvalidAnswer(f"the answer's head is larger than {MAX_HEAD_BYTES} bytes")
        lower = name.lower()
        if lower == b"retry-after":
            self._retry_after = value.decode("latin-1")
        elif lower == b"content-encoding":
            self._encoding = value.decode("latin-1").strip().lower()
        elif lower == b"content-length" or lower == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        """The headers are in; an answer to a request that has no body ends here."""
        self._headers_done = True
        if not self._expect_body and self._parser.get_status_code() >= 200:
            self._finish(self._parser.get_status_code(), reusable=False)

    def on_body(self, body: bytes) -> None:
        """Keep the body up to the limit; past it, the exchange ends truncated."""
        if self._waiter is None:
            return
        room = self._limit - self._size
        if len(body) > room:
            if room > 0:
                self._chunks.append(body[:room])
            self._size = self._limit
            self._finish(self._parser.get_status_code(), truncated=True, reusable=False)
            return
        self._chunks.append(body)
        self._size += len(body)

    def on_message_complete(self) -> None:
        """A whole answer came: the final one ends the exchange, an interim 1xx does not."""
        if self._waiter is None:
            return
        status = self._parser.get_status_code()
        if status < 200:
            self._begin()
            return
        self._finish(status, reusable=self._parser.should_keep_alive())

    # -- the exchange --------------------------------------------------------------------

    def exchange(
        self, data: bytes, *, limit: int, read_timeout: float | None, expect_body: bool = True
    ) -> asyncio.Future[Reply]:
        """Write ``data`` (a whole request); the future gets its answer or its failure.

        ``limit``: at most this many body bytes are kept. ``expect_body``: False for an
        answer that has none whatever its headers say (the answer to ``HEAD``).
        """
        transport = self.transport
        if transport is None or self.closed:
            raise ConnectionDropped("the connection is closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._waiter = waiter
        self.reusable = False
        self._limit = limit
        self._expect_body = expect_body
        self._heard = False
        transport.write(data)
        if read_timeout is not None:
            self._read_timeout = read_timeout
            self._timer = loop.call_later(read_timeout, self._check_silence)
        return waiter

    def _check_silence(self) -> None:
        self._timer = None
        if self._waiter is None:
            return
        if self._heard:
            self._heard = False
            self._timer = asyncio.get_running_loop().call_later(
                self._read_timeout, self._check_silence
            )
            return
        self._fail(AnswerTimeout("no answer within the read timeout"))

    def _end(self) -> asyncio.Future[Reply] | None:
        """End the exchange in progress: its waiter (to be settled), the silence timer gone."""
        waiter = self._waiter
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return waiter

    def _finish(self, status: int, *, truncated: bool = False, reusable: bool = False) -> None:
        waiter = self._end()
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        reply = Reply(status, body, truncated, self._retry_after, self._encoding)
        self._begin()
        if reusable and not self.closed:
            self.reusable = True
        else:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _fail(self, error: Exception) -> None:
        waiter = self._end()
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def abandon(self) -> None:
        """The exchange's caller gave up (cancelled): the connection is closed."""
        self._end()
        self.close()

    @property
    def usable(self) -> bool:
        """Whether a request may be written now: open, and not closing."""
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing()

    def close(self) -> None:
        """Close the connection (it is never reused)."""
        self.reusable = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def wait_closed(self, timeout: float) -> None:
        """Close, and wait up to ``timeout`` seconds until the connection is gone."""
        if self.closed:
            return
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        self.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), timeout)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()


def decoded_body(body: bytes, encoding: str | None, limit: int) -> tuple[bytes, bool]:
    """``body`` without its ``gzip`` or ``deflate`` content coding, at most ``limit`` bytes,
    and whether more would have come. Any other coding, or a body that does not decode, is
    returned as it came."""
    if encoding not in ("gzip", "x-gzip", "deflate") or not body:
        return body, False
    # 32 + MAX_WBITS reads a gzip or a zlib header; a bare deflate stream has neither.
    for wbits in (32 + zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits)
        try:
            plain = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(plain) > limit:
            return plain[:limit], True
        return plain, False
    return body, False
