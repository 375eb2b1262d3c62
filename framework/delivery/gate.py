"""The gate every request passes to reach an endpoint: pauses, a circuit breaker, an adaptive rate.

An endpoint is a URL's scheme, host and port (:func:`~framework.delivery.pause.endpoint_of`).
Before each send the dispatcher enters :meth:`EndpointGate.turn`; the turn is granted once

1. the endpoint is not paused (a server's ``Retry-After`` pauses the whole endpoint);
2. its circuit breaker lets the request through: closed, or half-open with this request as
   the one probe;
3. its adaptive rate allows another request (after a 429 without ``Retry-After`` the rate is
   cut multiplicatively, and recovers additively, never above the instance's
   ``requestsPerSecond`` ceiling, enforced by the instance's own limiter);
4. the instance's :class:`~framework.delivery.ratelimit.RateLimiter` lets it go.

Inside the turn the dispatcher sends, then calls :meth:`Ticket.report` with what the answer
says about the endpoint (:class:`Signal`). A turn left without a report (the send raised
something other than a delivery error, or was cancelled) tells the gate nothing, and a probe
slot it held is given to the next request.

``max_wait`` bounds how long a turn may wait for the endpoint: when it cannot open within that
time, :meth:`EndpointGate.turn` raises :class:`~framework.errors.EndpointPausedError` with the
seconds until it may (what a queue consumer uses to put the event back to wait, rather than
holding it in memory).

The clock and the sleep are injected, so tests drive the gate with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from framework.delivery.pause import EndpointPauses
from framework.delivery.ratelimit import RateLimiter
from framework.errors import EndpointPausedError

__all__ = ["EndpointGate", "EndpointState", "Signal", "Ticket"]


class Signal(Enum):
    """What an answer says about its endpoint."""

    OK = "ok"
    """The endpoint answered (any answer but a retryable one: a 400 is the request's fault)."""
    FAILURE = "failure"
    """A retryable failure: a 5xx other than 501 and 505, 408, 423, a timeout, a dropped or
    refused connection. Repeated, they open the circuit."""
    RATE_LIMITED = "rate_limited"
    """A 429: the endpoint is up and asks for fewer requests."""


BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class EndpointState:
    """One endpoint as the gate sees it now (for ``/health``, ``/metrics`` and progress lines).

    ``resumes_in``: seconds until requests may go again (a pause, or the next probe of an open
    circuit), None when they may go now. ``reason``: why it is held, a sentence (None when it
    is not). ``failures``: retryable failures in a row. ``rate``: the adaptive rate in requests
    per second, None when it is not limited.
    """

    endpoint: str
    state: BreakerState
    resumes_in: float | None
    reason: str | None
    failures: int
    rate: float | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return {
            "endpoint": self.endpoint,
            "state": self.state,
            "resumes_in": round(self.resumes_in, 3) if self.resumes_in is not None else None,
            "reason": self.reason,
            "failures": self.failures,
            "rate": self.rate,
        }


class Ticket:
    """A granted turn: say what the answer was with :meth:`report`, once."""

    def __init__(self, gate: EndpointGate, endpoint: str) -> None:
        self._gate = gate
        self.endpoint = endpoint
        self.reported = False

    def report(
        self, signal: Signal, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        """Tell the gate what the request found: ``signal``, the server's ``Retry-After``
        in seconds (pauses the endpoint), and the HTTP status (for the reason shown)."""
        if self.reported:
            return
        self.reported = True
        self._gate._report(self.endpoint, signal, retry_after=retry_after, status=status)


class EndpointGate:
    """Pauses, circuit breakers and adaptive rates of the endpoints a dispatcher sends to.

    ``max_pause`` caps how long one ``Retry-After`` may pause an endpoint.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_pause: float = 3600.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_pause = max_pause
        self._pauses = EndpointPauses(clock, sleep)
        self._reasons: dict[str, str] = {}
        self._failures: dict[str, int] = {}

    @asynccontextmanager
    async def turn(
        self, endpoint: str, limiter: RateLimiter, *, max_wait: float | None = None
    ) -> AsyncIterator[Ticket]:
        """Hold a request until ``endpoint`` takes one (see the module doc); yield its ticket.

        Raises :class:`~framework.errors.EndpointPausedError` when the endpoint will not open
        within ``max_wait`` seconds (None: wait as long as it takes).
        """
        while True:
            until = self._pauses.paused_until(endpoint)
            if until is not None:
                wait = until - self._clock()
                if max_wait is not None and wait > max_wait:
                    raise EndpointPausedError(
                        f"The endpoint {endpoint} is paused for {wait:.1f} s more: "
                        f"{self._reasons.get(endpoint, 'the server asked to wait')}.",
                        retry_after=wait,
                    )
                await self._pauses.wait_until_open(endpoint)
            async with limiter:
                if self._pauses.is_open(endpoint):
                    yield Ticket(self, endpoint)
                    return

    def _report(
        self, endpoint: str, signal: Signal, *, retry_after: float | None, status: int | None
    ) -> None:
        if signal is Signal.OK:
            self._failures.pop(endpoint, None)
        elif signal is Signal.FAILURE:  # a 429 means the endpoint is up: not a failure
            self._failures[endpoint] = self._failures.get(endpoint, 0) + 1
        if retry_after is not None and signal is not Signal.OK:
            pause = min(retry_after, self._max_pause)
            self._pauses.pause(endpoint, self._clock() + pause)
            answer = f"a {status} answer" if status is not None else "an answer"
            self._reasons[endpoint] = f"{answer} asked to wait {pause:g} s (Retry-After)"

    def states(self) -> list[EndpointState]:
        """Every endpoint the gate holds or has seen fail, sorted by endpoint."""
        now = self._clock()
        names = sorted(set(self._failures) | set(self._reasons))
        result = []
        for endpoint in names:
            until = self._pauses.paused_until(endpoint)
            result.append(
                EndpointState(
                    endpoint=endpoint,
                    state="closed",
                    resumes_in=until - now if until is not None else None,
                    reason=self._reasons.get(endpoint) if until is not None else None,
                    failures=self._failures.get(endpoint, 0),
                    rate=None,
                )
            )
        return result
