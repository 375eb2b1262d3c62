"""When to try a delivery again, and how long to wait: pure functions, no clock, no I/O.

Statuses follow Segment's rules: 408, 423, 429 and every 5xx except 501 and 505 are
retryable; every other 4xx is not.

A delivery is retried until a horizon (``deadline``: seconds from its first try, waits
included), with no limit on the number of tries unless ``max_attempts`` sets one. Waits grow
exponentially up to ``max_delay`` (30 s by default), with jitter: a random wait between half
the exponential cap and the cap, so that many clients retrying together spread out while a
delivery that waits out a long outage still makes at most two tries per ``max_delay``, never
a storm. A server's ``Retry-After`` is honoured when it asks for longer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 423, 429})
"""4xx statuses that are worth retrying."""

NOT_RETRYABLE_5XX = frozenset({501, 505})
"""5xx statuses that retrying cannot fix (not implemented, HTTP version not supported)."""


def is_retryable_status(status: int) -> bool:
    """Whether a request answered with ``status`` may succeed if sent again later."""
    if status in RETRYABLE_STATUSES:
        return True
    return 500 <= status <= 599 and status not in NOT_RETRYABLE_5XX


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` for a missing or unreadable header; never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        reference = now or datetime.now(UTC)
        return max(0.0, (when - reference).total_seconds())
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and for how long, a delivery is tried.

    ``deadline`` is the horizon: it bounds the whole delivery from its first try, waits
    included, and no retry starts that could not begin before it (a wait for an endpoint
    that has not had a try yet does not count). ``max_attempts`` counts the first try; None
    (the default) sets no limit but the horizon. ``max_retry_after`` caps how long a server's
    Retry-After may make us wait (a longer one ends the retries).
    """

    max_attempts: int | None = None
    base_delay: float = 0.2
    max_delay: float = 30.0
    deadline: float = 600.0
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None for no limit)")
        if self.base_delay < 0 or self.max_delay < 0 or self.deadline <= 0:
            raise ValueError("delays must be non-negative and the deadline positive")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait before try number ``attempt + 1`` (``attempt`` >= 1 tries made so far)."""
        # The exponent is capped: 2**60 already exceeds any max_delay, and a larger power
        # would overflow a float.
        cap = min(self.max_delay, self.base_delay * (2.0 ** min(attempt - 1, 60)))
        return rng.uniform(cap / 2, cap)

    def next_wait(
        self,
        attempt: int,
        elapsed: float,
        retry_after: float | None,
        rng: random.Random,
    ) -> float | None:
        """The wait before the next try, or ``None`` when no further try should be made.

        ``attempt`` is the number of tries made, ``elapsed`` the seconds since the first.
        """
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        wait = self.backoff(attempt, rng)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        if elapsed + wait >= self.deadline:
            return None
        return wait
