"""The gate every request passes to reach an endpoint: pauses, a circuit breaker, an adaptive rate.

An endpoint is a URL's scheme, host and port (:func:`~framework.delivery.pause.endpoint_of`).
Before each send the dispatcher enters :meth:`EndpointGate.turn`; the turn is granted once

1. the endpoint is not paused (a server's ``Retry-After`` pauses the whole endpoint);
2. its circuit breaker lets the request through: closed, or half-open with this request as
   the one probe (:mod:`framework.delivery.breaker`);
3. its adaptive rate allows another request (after a 429 without ``Retry-After`` the rate is
   cut multiplicatively, and recovers additively, never above the instance's
   ``requestsPerSecond`` ceiling, enforced by the instance's own limiter;
   :mod:`framework.delivery.aimd`);
4. the instance's :class:`~framework.delivery.ratelimit.RateLimiter` lets it go.

A pause and an open circuit combine: requests wait for the later of the two. Requests that
wait for an endpoint stand in one line per endpoint and are let go in the order they came,
one after the other, each through the adaptive rate and then the limiter: when a circuit
closes or a pause ends, the waiting requests do not leave all in one instant if a rate is set.

Inside the turn the dispatcher sends, then calls :meth:`Ticket.report` with what the answer
says about the endpoint (:class:`Signal`). A turn left without a report (the send raised
something other than a delivery error, or was cancelled) tells the gate nothing, and a probe
slot it held is given to the next request.

A 429 with ``Retry-After`` pauses the endpoint for that long and does not cut the rate: the
server said how long to wait, and waiting that long is what HTTP asks. Only a 429 without one
cuts the rate.

``max_wait`` bounds how long a turn may wait for a pause or an open circuit: when the endpoint
cannot open within that time, :meth:`EndpointGate.turn` raises
:class:`~framework.errors.EndpointPausedError` with the seconds until it may (what a queue
consumer uses to put the event back to wait, rather than holding it in memory). Waiting for a
probe's answer (one request) and for the adaptive rate is not bounded by it.

The clock, the sleep and the breaker's random jitter are injected, so tests drive the gate
with a fake clock. Endpoints that are closed, unpaused and unlimited, with no failure in the
last ``forget_after`` seconds and no request in the last two seconds, are forgotten, so
memory follows the endpoints in use, not every endpoint ever seen.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum

from framework.delivery.aimd import AdaptiveRate
from framework.delivery.breaker import Admission, BreakerState, CircuitBreaker
from framework.delivery.ratelimit import RateLimiter
from framework.errors import EndpointPausedError

__all__ = ["EndpointGate", "EndpointState", "OnClose", "Signal", "Ticket"]

logger = logging.getLogger("actionkit.delivery")

OnClose = Callable[[str], None]
"""Told the endpoint whose circuit a probe's success just closed (on the gate's loop)."""


class Signal(Enum):
    """What an answer says about its endpoint."""

    OK = "ok"
    """The endpoint answered (any answer but a retryable one: a 400 is the request's fault)."""
    FAILURE = "failure"
    """A retryable failure: a 5xx other than 501 and 505, 408, 423, a timeout, a dropped or
    refused connection. Repeated, they open the circuit."""
    RATE_LIMITED = "rate_limited"
    """A 429: the endpoint is up and asks for fewer requests."""


@dataclass(frozen=True, slots=True)
class EndpointState:
    """One endpoint as the gate sees it now (for ``/health``, ``/metrics`` and progress lines).

    ``state``: the circuit breaker's. ``resumes_in``: seconds until requests may go again (a
    pause, or the next probe of an open circuit, the later of the two), None when they may go
    now. ``reason``: why it is held or slowed, a sentence that stays the same while the cause
    does (None when it is neither). ``failures``: retryable failures in a row. ``rate``: the
    adaptive rate in requests per second, None when it is not limited.
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
            "rate": round(self.rate, 3) if self.rate is not None else None,
        }


class Ticket:
    """A granted turn: say what the answer was with :meth:`report`, once.

    ``probe`` says whether this request is the probe of a half-open circuit; ``granted_at``
    is when it was let go, on the gate's clock.
    """

    def __init__(
        self, gate: EndpointGate, endpoint: str, *, probe: bool = False, granted_at: float = 0.0
    ) -> None:
        self._gate = gate
        self.endpoint = endpoint
        self.probe = probe
        self.granted_at = granted_at
        self.reported = False

    def report(
        self, signal: Signal, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        """Tell the gate what the request found: ``signal``, the server's ``Retry-After``
        in seconds (pauses the endpoint), and the HTTP status (for the reason shown)."""
        if self.reported:
            return
        self.reported = True
        self._gate._report(self, signal, retry_after=retry_after, status=status)


class _Waiter:
    """A turn standing in an endpoint's line."""

    __slots__ = ("bounded", "wake")

    def __init__(self, bounded: bool) -> None:
        self.bounded = bounded
        self.wake = asyncio.Event()


class _Endpoint:
    """What the gate keeps of one endpoint."""

    __slots__ = ("active", "breaker", "line", "pause_reason", "paused_until", "rate")

    def __init__(self, breaker: CircuitBreaker, rate: AdaptiveRate) -> None:
        self.breaker = breaker
        self.rate = rate
        self.line: deque[_Waiter] = deque()
        self.active = 0
        self.pause_reason: str | None = None
        self.paused_until: float | None = None

    def paused(self, now: float) -> float | None:
        """When the endpoint's pause ends, None when it is not paused at ``now``."""
        until = self.paused_until
        return until if until is not None and until > now else None


class EndpointGate:
    """Pauses, circuit breakers and adaptive rates of the endpoints a dispatcher sends to.

    ``max_pause`` caps how long one ``Retry-After`` may pause an endpoint.
    ``failure_threshold`` failures in a row, spanning at least ``failure_span`` seconds (a
    burst of failures together is retried, not taken for an outage), open a circuit for
    ``open_interval`` seconds,
    doubled after each failed probe up to ``max_open_interval``, less a random fraction of up
    to ``jitter`` drawn from ``rng``. A 429 without Retry-After halves an endpoint's rate,
    never below ``min_rate`` requests per second; each second of successes adds
    ``rate_increase``. See the module doc.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_pause: float = 3600.0,
        failure_threshold: int = 5,
        failure_span: float = 5.0,
        open_interval: float = 1.0,
        max_open_interval: float = 10.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        min_rate: float = 1.0,
        rate_increase: float = 1.0,
        forget_after: float = 60.0,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < open_interval <= max_open_interval:
            raise ValueError("open_interval must be positive and at most max_open_interval")
        if min_rate <= 0:
            raise ValueError("min_rate must be positive")
        self._clock = clock
        self._sleep = sleep
        self._max_pause = max_pause
        self._failure_threshold = failure_threshold
        self._failure_span = failure_span
        self._open_interval = open_interval
        self._max_open_interval = max_open_interval
        self._jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._min_rate = min_rate
        self._rate_increase = rate_increase
        self._forget_after = forget_after
        self._endpoints: dict[str, _Endpoint] = {}
        self._swept_at = -math.inf
        self._on_close: list[OnClose] = []

    def on_close(self, listener: OnClose) -> Callable[[], None]:
        """Call ``listener(endpoint)`` each time a circuit closes; returns what detaches it.

        A queue consumer uses it to make the entries that wait for a retry due at once: the
        destination is back. Called on the gate's loop; a listener that raises is logged.
        """
        self._on_close.append(listener)

        def detach() -> None:
            if listener in self._on_close:
                self._on_close.remove(listener)

        return detach

    def _closed(self, endpoint: str) -> None:
        for listener in list(self._on_close):
            try:
                listener(endpoint)
            except Exception:  # a listener's failure must not break delivery
                logger.exception("a listener of the circuit of %s failed", endpoint)

    @asynccontextmanager
    async def turn(
        self, endpoint: str, limiter: RateLimiter, *, max_wait: float | None = None
    ) -> AsyncIterator[Ticket]:
        """Hold a request until ``endpoint`` takes one (see the module doc); yield its ticket.

        Raises :class:`~framework.errors.EndpointPausedError` when the endpoint will not open
        within ``max_wait`` seconds (None: wait as long as it takes).
        """
        deadline = None if max_wait is None else self._clock() + max_wait
        state = self._endpoint(endpoint)
        state.active += 1
        try:
            while True:
                probe = await self._admit(endpoint, state, deadline)
                granted = False
                try:
                    async with limiter:
                        if self._still_open(endpoint, state, probe):
                            granted = True
                            ticket = Ticket(self, endpoint, probe=probe, granted_at=self._clock())
                            try:
                                yield ticket
                            finally:
                                if probe and not ticket.reported:
                                    self._release_probe(state)
                            return
                finally:
                    if probe and not granted:
                        self._release_probe(state)
        finally:
            state.active -= 1

    def enter_now(self, endpoint: str, limiter: RateLimiter) -> Ticket | None:
        """A turn granted at once, without waiting, or None when :meth:`turn` must be used.

        Granted only when :meth:`turn` would grant it without waiting, and the same way:
        nobody in the endpoint's line, no pause, a closed circuit, no adaptive rate holding
        it back, and a limiter without limits. Give the turn back with :meth:`leave` once
        the request has ended (its answer reported with :meth:`Ticket.report`).
        """
        if not limiter.unlimited:
            return None
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoint(endpoint)
        if state.line or state.breaker.state != "closed":
            return None
        now = self._clock()
        if state.paused(now) is not None or state.rate.ready_at(now) is not None:
            return None
        state.rate.take(now)
        state.active += 1
        return Ticket(self, endpoint, granted_at=now)

    def leave(self, ticket: Ticket) -> None:
        """End a turn :meth:`enter_now` granted."""
        state = self._endpoints.get(ticket.endpoint)
        if state is not None:
            state.active -= 1

    async def _admit(self, endpoint: str, state: _Endpoint, deadline: float | None) -> bool:
        """Stand in the endpoint's line until this turn may go; True when it goes as the probe.

        With nobody in line the turn is decided at once, and takes a place in the line only
        when it has to wait (with the decision it would have met at the head).
        """
        decided: tuple[float, Admission, float | None] | None = None
        if not state.line:
            now = self._clock()
            admission, until = self._decide(endpoint, state, now)
            if admission is Admission.GO or admission is Admission.PROBE:
                if admission is Admission.PROBE:
                    state.breaker.probe()
                state.rate.take(now)
                return admission is Admission.PROBE
            decided = (now, admission, until)
        waiter = _Waiter(bounded=deadline is not None)
        state.line.append(waiter)
        try:
            while True:
                if decided is not None:  # alone in the line, so at its head: decided above
                    (now, admission, until), decided = decided, None
                    head = True
                else:
                    now = self._clock()
                    head = state.line[0] is waiter
                    if head:
                        admission, until = self._decide(endpoint, state, now)
                if head:
                    if admission is Admission.GO or admission is Admission.PROBE:
                        if admission is Admission.PROBE:
                            state.breaker.probe()
                        state.rate.take(now)
                        return admission is Admission.PROBE
                    self._check_deadline(endpoint, state, deadline, now)
                    waiter.wake.clear()
                    await self._wait(waiter, None if until is None else until - now)
                else:
                    self._check_deadline(endpoint, state, deadline, now)
                    waiter.wake.clear()
                    await waiter.wake.wait()
        finally:
            was_head = state.line[0] is waiter
            state.line.remove(waiter)
            if was_head and state.line:
                state.line[0].wake.set()

    def _decide(
        self, endpoint: str, state: _Endpoint, now: float
    ) -> tuple[Admission, float | None]:
        """What the head of the line may do now, and until when it waits (None: an answer)."""
        paused_until = state.paused(now)
        if paused_until is not None:
            probe_at = state.breaker.probe_at if state.breaker.state == "open" else None
            return Admission.WAIT_TIME, max(paused_until, probe_at or paused_until)
        admission = state.breaker.admit(now)
        if admission is Admission.WAIT_TIME:
            return admission, state.breaker.probe_at
        if admission is Admission.WAIT_PROBE:
            return admission, None
        ready_at = state.rate.ready_at(now)
        if ready_at is not None:
            return Admission.WAIT_TIME, ready_at
        return admission, None

    @staticmethod
    def _resume_at(state: _Endpoint, now: float) -> float | None:
        """When a pause or an open circuit lets requests go again (None: nothing known holds)."""
        times = [state.paused(now)]
        if state.breaker.state == "open":
            times.append(state.breaker.probe_at)
        known = [value for value in times if value is not None]
        return max(known) if known else None

    def _check_deadline(
        self, endpoint: str, state: _Endpoint, deadline: float | None, now: float
    ) -> None:
        if deadline is None:
            return
        resume_at = self._resume_at(state, now)
        if resume_at is None or resume_at <= deadline:
            return
        wait = resume_at - now
        raise EndpointPausedError(
            f"The endpoint {endpoint} takes no request for {wait:.1f} s more "
            f"({self._held_reason(endpoint, state, now) or 'it is held'}), longer than this "
            "request may wait; it may be sent again after that.",
            retry_after=wait,
        )

    async def _wait(self, waiter: _Waiter, seconds: float | None) -> None:
        """Wait ``seconds`` (None: no limit), or less if the waiter is woken."""
        if seconds is None:
            await waiter.wake.wait()
            return
        sleeper = asyncio.ensure_future(self._sleep(max(seconds, 0.0)))
        woken = asyncio.ensure_future(waiter.wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    def _still_open(self, endpoint: str, state: _Endpoint, probe: bool) -> bool:
        """Checked again once the limiter lets a request go: nothing closed the way since."""
        if state.paused(self._clock()) is not None:
            return False
        if probe:
            return state.breaker.state == "half_open" and state.breaker.probing
        return state.breaker.state == "closed"

    def _release_probe(self, state: _Endpoint) -> None:
        if state.breaker.state == "half_open" and state.breaker.probing:
            state.breaker.release_probe()
            self._wake(state, everyone=False)

    def _wake(self, state: _Endpoint, *, everyone: bool) -> None:
        """Wake the head of the line (it decides again), and with ``everyone`` the turns that
        have a ``max_wait`` (the endpoint may now be held longer than they may wait)."""
        if not state.line:
            return
        state.line[0].wake.set()
        if everyone:
            for waiter in state.line:
                if waiter.bounded:
                    waiter.wake.set()

    def _report(
        self, ticket: Ticket, signal: Signal, *, retry_after: float | None, status: int | None
    ) -> None:
        endpoint = ticket.endpoint
        state = self._endpoint(endpoint)
        now = self._clock()
        longer = False
        if retry_after is not None and signal is not Signal.OK:
            pause = max(0.0, min(retry_after, self._max_pause))
            before = state.paused(now)
            if before is None or now + pause > before:
                state.paused_until = now + pause
                answer = f"a {status}" if status is not None else "an answer"
                state.pause_reason = (
                    f"{answer} answer asked to wait {_seconds(pause)} (Retry-After)"
                )
                longer = True
        breaker = state.breaker
        if signal is Signal.FAILURE:
            longer = breaker.failed(now, status, probe=ticket.probe) or longer
        else:
            if breaker.succeeded(probe=ticket.probe):
                self._wake(state, everyone=False)
                self._closed(endpoint)
            if signal is Signal.OK:
                state.rate.succeeded(now)
            elif retry_after is None:
                state.rate.cut(now, ticket.granted_at)
        if longer:
            self._wake(state, everyone=True)
        self._sweep(now)

    def _endpoint(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.get(endpoint)
        if state is None:
            self._sweep(self._clock())
            state = _Endpoint(
                CircuitBreaker(
                    threshold=self._failure_threshold,
                    span=self._failure_span,
                    interval=self._open_interval,
                    max_interval=self._max_open_interval,
                    jitter=self._jitter,
                    rng=self._rng,
                ),
                AdaptiveRate(min_rate=self._min_rate, increase=self._rate_increase),
            )
            self._endpoints[endpoint] = state
        return state

    def _sweep(self, now: float) -> None:
        """Forget the endpoints with nothing to keep, at most once a second."""
        if now - self._swept_at < 1.0:
            return
        self._swept_at = now
        for endpoint in [
            name for name, state in self._endpoints.items() if self._forgettable(name, state, now)
        ]:
            del self._endpoints[endpoint]

    def _forgettable(self, endpoint: str, state: _Endpoint, now: float) -> bool:
        breaker = state.breaker
        recent = self._failed_lately(breaker, now)
        return (
            state.active == 0
            and not state.line
            and breaker.state == "closed"
            and not recent
            and state.paused(now) is None
            and state.rate.idle(now)
        )

    def _failed_lately(self, breaker: CircuitBreaker, now: float) -> bool:
        """Whether the breaker counts failures, the last within ``forget_after`` seconds."""
        last = breaker.last_failure_at
        return breaker.failures > 0 and (last is None or now - last < self._forget_after)

    def _held_reason(self, endpoint: str, state: _Endpoint, now: float) -> str | None:
        """Why the endpoint is held or slowed now, a sentence stable while the cause is."""
        breaker = state.breaker
        paused_until = state.paused(now)
        if breaker.state != "closed":
            last = str(breaker.last_status) if breaker.last_status is not None else "no answer"
            failures = "1 failure" if breaker.failures == 1 else f"{breaker.failures} failures"
            run = f"{failures} in a row (last: {last})"
            probe_at = breaker.probe_at
            if paused_until is not None and (probe_at is None or paused_until > probe_at):
                return f"{state.pause_reason}; {run}"
            if breaker.state == "half_open":
                return f"{run}; probing"
            return f"{run}; next probe after {_seconds(breaker.interval)}"
        if paused_until is not None:
            return state.pause_reason
        if state.rate.rate is not None and state.rate.cut_to is not None:
            return f"rate cut to {_rate(state.rate.cut_to)} requests/s after a 429"
        return None

    def states(self) -> list[EndpointState]:
        """Every endpoint the gate holds, slows, or has seen fail lately, sorted by endpoint.

        It only reads, so another thread may call it while the loop runs (``actionkit run``'s
        progress line does): it changes nothing, and copies the table before reading it.
        """
        now = self._clock()
        result = []
        snapshot = list(self._endpoints.items())  # one step under the GIL
        for endpoint, state in sorted(snapshot, key=lambda item: item[0]):
            resume_at = self._resume_at(state, now)
            breaker = state.breaker
            rate = state.rate.rate
            quiet = breaker.state == "closed" and not self._failed_lately(breaker, now)
            if quiet and resume_at is None and rate is None:
                continue
            result.append(
                EndpointState(
                    endpoint=endpoint,
                    state=breaker.state,
                    resumes_in=max(resume_at - now, 0.0) if resume_at is not None else None,
                    reason=self._held_reason(endpoint, state, now),
                    failures=breaker.failures,
                    rate=rate,
                )
            )
        return result


def _seconds(value: float) -> str:
    """``30 s``, ``1.5 s``, ``0.25 s``: a duration for a reason."""
    return f"{value:.3g} s" if value < 100 else f"{round(value)} s"


def _rate(value: float) -> str:
    """``12``, ``1.5``: a rate for a reason."""
    return f"{round(value)}" if value >= 10 else f"{value:.2g}"
