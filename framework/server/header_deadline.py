"""A deadline on request heads: uvicorn's h11 protocol, timing each request line and headers.

uvicorn limits how long a connection may idle between requests (``timeout_keep_alive``), but
once a client has sent a first byte it waits for the rest of the head for ever: a client
sending its headers a byte at a time holds a connection as long as it likes. Here a timer
starts when a connection opens and again after each answer; if a complete request head
(request line and headers) has not arrived when it fires, the connection is closed, with a
408 answer (``HEADER_TIMEOUT``, JSON as the app's refusals) when part of a head had come, and
silently when nothing had. Once a head is complete the body is the app's business
(``limits.body_timeout``).

:func:`header_deadline_protocol` makes the protocol class for a number of seconds; pass it as
``uvicorn.Config(http=...)``. It is h11's, whether or not httptools is installed: the one
parser whose states this timer reads.

It also turns Nagle's algorithm off on each TCP connection (``TCP_NODELAY``). asyncio does
that only for a socket created with ``proto=IPPROTO_TCP``, and a listening socket made as
``socket.socket(family, SOCK_STREAM)`` (``actionkit serve``'s) has ``proto`` 0, so its
connections kept Nagle on: the answer's body, written after its head, then waited for the
client's delayed ACK, about 40 ms on Linux, on every request but a connection's first. A
keep-alive client could send no more than about 23 requests a second per connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
from contextlib import suppress

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["header_deadline_protocol"]


def _answer_408(seconds: float) -> h11.Response:
    return h11.Response(
        status_code=408,
        reason=b"Request Timeout",
        headers=[
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            (b"content-length", str(len(_body(seconds))).encode()),
        ],
    )


def _body(seconds: float) -> bytes:
    return json.dumps(
        {
            "success": False,
            "code": "HEADER_TIMEOUT",
            "message": f"The request line and headers did not arrive in full within {seconds:g} "
            "seconds (a stalled or too slow client); nothing was accepted.",
        }
    ).encode()


def _no_delay(transport: asyncio.Transport) -> None:
    """Send small writes at once on a TCP connection (see the module docstring)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with suppress(OSError):  # a connection already gone: nothing to tune
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head (see the module docstring)."""

    header_timeout: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(  # type: ignore[override]  # uvicorn's own signature
        self, transport: asyncio.Transport
    ) -> None:
        _no_delay(transport)
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._settle_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start on a pipelined head already received
        self._arm_head_timer()
        self._settle_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _settle_head_timer(self) -> None:
        # h11 leaves IDLE for the client once it has parsed a whole request head.
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is h11.IDLE and self.conn.trailing_data[0]:
            # Part of a head came: say why the connection ends (h11 lets a server answer a
            # client that has not finished its request, for exactly this).
            body = _body(self.header_timeout)
            self.transport.write(self.conn.send(_answer_408(self.header_timeout)) or b"")
            self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


def header_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """The uvicorn HTTP protocol class that closes a connection whose request head is late.

    ``seconds``: how long after a connection opens, or after an answer on it, the next
    request line and headers may take to arrive in full. Late, the connection is closed
    (answered 408 ``HEADER_TIMEOUT`` if part of a head came). Use it as
    ``uvicorn.Config(app, http=header_deadline_protocol(10))``. Raises ``ValueError`` when
    ``seconds`` is not a positive number.
    """
    if not seconds > 0:
        raise ValueError("seconds must be a positive number.")
    return type(
        "HeaderDeadlineProtocol",
        (_HeaderDeadlineProtocol,),
        {"header_timeout": float(seconds), "__module__": __name__},
    )
