"""One endpoint's circuit breaker: closed, open, half-open, as a state machine of given times.

Closed, every request goes. ``threshold`` retryable failures in a row, the first and the last
at least ``span`` seconds apart, open the circuit: no
request goes until the probe time, ``interval`` seconds later (a little less, by a random
``jitter`` fraction, so that many processes do not probe in step). At the probe time the
circuit is half-open: one request, the probe, is let through and the others wait for its
answer. The probe's success closes the circuit (and resets the interval); its failure opens
it again for twice the interval, up to ``max_interval``. A probe that ends without an answer
(cancelled, or failed for a reason that says nothing of the endpoint) is given back, and the
next request becomes the probe.

The ``span`` tells an endpoint that is down from a burst of failures: requests in flight
together all fail together when an API stumbles for an instant, and retrying them a moment
later (with the retry policy's backoff) is what works; an endpoint still failing ``span``
seconds later is down. Without it, a burst of failures would open the circuit and then be
drained one probe at a time, each at a longer interval: minutes for a few dozen failures.

A 429 is not a failure: the endpoint is up. It ends a run of failures as a success does.
While the circuit is open or half-open, only the probe's answer moves it: the answers of
requests sent before it opened say nothing newer.

Nothing here reads the clock or waits: :class:`~framework.delivery.gate.EndpointGate` passes
the time in and does the waiting.
"""

from __future__ import annotations

import random
from enum import Enum
from typing import Literal

__all__ = ["Admission", "BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]
"""Closed (requests go), open (none goes until the probe time), half-open (one probe goes)."""


class Admission(Enum):
    """What the breaker says of a request that asks to go now."""

    GO = "go"
    """Closed: it may go."""
    PROBE = "probe"
    """Half-open with no probe out: it may go, as the probe (call :meth:`CircuitBreaker.probe`)."""
    WAIT_TIME = "wait_time"
    """Open: wait until :attr:`CircuitBreaker.probe_at`."""
    WAIT_PROBE = "wait_probe"
    """Half-open with a probe out: wait for its answer."""


class CircuitBreaker:
    """The breaker of one endpoint (see the module doc); times are seconds on any clock."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        span: float = 1.0,
        interval: float = 1.0,
        max_interval: float = 10.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.threshold = threshold
        self.span = span
        self.first_interval = interval
        self.max_interval = max_interval
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self.state: BreakerState = "closed"
        self.failures = 0
        """Retryable failures in a row."""
        self.last_status: int | None = None
        """The HTTP status of the last failure counted (None: no answer came)."""
        self.first_failure_at: float | None = None
        """When the run of failures began."""
        self.last_failure_at: float | None = None
        self.interval = interval
        """How long the circuit stays open when it opens next (or stays open now)."""
        self.probe_at: float | None = None
        """When an open circuit lets its probe go."""
        self.probing = False
        """Whether a probe is out (half-open only)."""

    def admit(self, now: float) -> Admission:
        """Whether a request may go at ``now``; an open circuit past its probe time turns
        half-open here."""
        if self.state == "closed":
            return Admission.GO
        if self.state == "open":
            assert self.probe_at is not None
            if now < self.probe_at:
                return Admission.WAIT_TIME
            self.state = "half_open"
            self.probe_at = None
        return Admission.WAIT_PROBE if self.probing else Admission.PROBE

    def probe(self) -> None:
        """The request admitted with :attr:`Admission.PROBE` goes: it is the one probe."""
        self.probing = True

    def release_probe(self) -> None:
        """The probe ended without an answer: the next request will be the probe."""
        self.probing = False

    def succeeded(self, *, probe: bool) -> bool:
        """A request's answer showed the endpoint up; True when the circuit closed."""
        if self.state == "closed":
            self.failures = 0
            return False
        if not probe:
            return False
        self.state = "closed"
        self.failures = 0
        self.interval = self.first_interval
        self.probing = False
        return True

    def failed(self, now: float, status: int | None, *, probe: bool) -> bool:
        """A request failed (retryable); True when the circuit opened (again)."""
        if self.state != "closed" and not probe:
            return False
        self.failures += 1
        if self.failures == 1:
            self.first_failure_at = now
        self.last_status = status
        self.last_failure_at = now
        if self.state == "closed":
            assert self.first_failure_at is not None
            if self.failures < self.threshold or now - self.first_failure_at < self.span:
                return False
            self.interval = self.first_interval
        else:
            self.interval = min(self.interval * 2, self.max_interval)
        self.state = "open"
        self.probing = False
        self.probe_at = now + self.interval * (1 - self.jitter * self._rng.random())
        return True
