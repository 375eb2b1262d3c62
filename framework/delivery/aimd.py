"""One endpoint's adaptive rate: cut on a 429, raised by successes, lifted once recovered.

Unlimited at first: requests go as fast as the instance's own
:class:`~framework.delivery.ratelimit.RateLimiter` lets them (its ``requestsPerSecond`` is the
ceiling; this rate only ever limits below it). A 429 that names no ``Retry-After`` cuts the
rate multiplicatively: to ``decrease`` (one half) of the rate observed over the last
``window`` seconds when it was unlimited, of the current rate when it was limited, and never
below ``min_rate``. One cut per round: a 429 to a request let go before the last cut (or at
its instant) does not cut again (the requests in flight when the first 429 came all carry
the same news). Each
success raises the rate additively, ``increase`` requests per second for each second of
successes; once it climbs above the rate of the first cut, the limit is lifted.

Requests are spaced evenly at the rate (no burst): :meth:`AdaptiveRate.ready_at` says when the
next may go, :meth:`AdaptiveRate.take` books it. The observed rate is counted in two
``window``-long buckets, so memory stays constant whatever the traffic.

Nothing here reads the clock or waits: :class:`~framework.delivery.gate.EndpointGate` passes
the time in and does the waiting.
"""

from __future__ import annotations

__all__ = ["AdaptiveRate"]


class AdaptiveRate:
    """The adaptive rate of one endpoint (see the module doc); times are seconds."""

    def __init__(
        self,
        *,
        min_rate: float = 1.0,
        decrease: float = 0.5,
        increase: float = 1.0,
        window: float = 1.0,
    ) -> None:
        self.min_rate = min_rate
        self.decrease = decrease
        self.increase = increase
        self.window = window
        self.rate: float | None = None
        """Requests per second allowed now; None when not limited."""
        self.cut_from: float | None = None
        """The rate the first cut was made from (the limit is lifted above it)."""
        self.cut_to: float | None = None
        """The rate the last cut set (for the reason shown)."""
        self.cut_at: float | None = None
        self._step_at = 0.0
        self._next_at = 0.0
        self._bucket_start = 0.0
        self._current = 0
        self._previous = 0

    def ready_at(self, now: float) -> float | None:
        """When the next request may go, None when it may go at ``now``."""
        if self.rate is None or now >= self._next_at:
            return None
        return self._next_at

    def take(self, now: float) -> None:
        """A request goes at ``now``: count it and book its place at the rate."""
        self._roll(now)
        self._current += 1
        if self.rate is not None:
            self._next_at = max(self._next_at, now) + 1 / self.rate

    def observed(self, now: float) -> float:
        """Requests per second let go over about the last ``window`` seconds."""
        self._roll(now)
        elapsed = (now - self._bucket_start) / self.window
        return (self._previous * (1 - elapsed) + self._current) / self.window

    def idle(self, now: float) -> bool:
        """Not limited, and no request counted for two windows: nothing worth keeping."""
        self._roll(now)
        return self.rate is None and self._current == 0 and self._previous == 0

    def cut(self, now: float, sent_at: float) -> bool:
        """A 429 without Retry-After came to a request let go at ``sent_at``; True when the
        rate was cut (not when a cut since that request already accounts for it)."""
        if self.cut_at is not None and sent_at <= self.cut_at:
            return False
        if self.rate is None:
            base = max(self.observed(now), self.min_rate)
            self.cut_from = base
            self.rate = max(self.min_rate, base * self.decrease)
        else:
            self.rate = max(self.min_rate, self.rate * self.decrease)
        self.cut_to = self.rate
        self.cut_at = now
        self._step_at = now
        self._next_at = max(self._next_at, now)
        return True

    def succeeded(self, now: float) -> bool:
        """A request succeeded at ``now``: raise the rate; True when the limit was lifted."""
        if self.rate is None or self.cut_from is None:
            return False
        self.rate += self.increase * min(max(now - self._step_at, 0.0), self.window)
        self._step_at = now
        if self.rate <= self.cut_from:
            return False
        self.rate = None
        self.cut_from = None
        self.cut_to = None
        return True

    def _roll(self, now: float) -> None:
        passed = now - self._bucket_start
        if passed < self.window:
            return
        if passed < 2 * self.window:
            self._previous = self._current
            self._bucket_start += self.window
        else:
            self._previous = 0
            self._bucket_start = now
        self._current = 0
