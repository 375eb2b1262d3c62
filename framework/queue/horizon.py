"""What a queue consumer does with an entry whose deliveries did not all end: pure decisions.

A delivery that fails retryably is not given up after a few tries: its entry stays in the
queue, waiting, and is tried again later, until the retry horizon of its instance has passed
since its first failure (``delivery.retryFor``, 4 hours by default, as Segment retries a
failed delivery for up to four hours). :func:`decide` says, for one try of one entry:

- ``ack``: every delivery ended (delivered, filtered, invalid, dead-lettered, ...);
- ``defer``: some wait for a retry (``retryable_failure``) or were held behind an earlier
  request of their user (``held``); the entry goes back to the queue with its new retry
  state (the subscriptions that ended are recorded, so they are not sent again) and the time
  of its next try: capped exponential backoff with jitter, at least the server's or the
  circuit breaker's ``retry_after``, and never past the horizon (the last try is at it);
  a held-only entry goes back at once (the queue keeps it behind its user's earlier entry);
- ``fail``: a delivery failed with nowhere to go (no dead-letter store): the queue counts a
  try and, after its ``max_tries``, sets the entry aside in its dead entries.

:func:`expired` picks the retryable failures whose horizon has passed: the consumer
dead-letters those first (:meth:`framework.Router.bury`), then decides. Nothing here reads a
clock, sleeps or does I/O; ``now`` and the random source are given.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from framework.delivery.outcome import Delivery
from framework.queue.base import QueuedEvent

__all__ = [
    "DEFAULT_RETRY_FOR",
    "ENDED_OUTCOMES",
    "Decision",
    "QueueBackoff",
    "decide",
    "expired",
]

DEFAULT_RETRY_FOR = 4 * 3600.0
"""Seconds a queue keeps retrying a delivery from its first failure, unless its instance says."""

ENDED_OUTCOMES = frozenset(
    {"delivered", "not_subscribed", "filtered", "invalid", "dead_lettered", "dry_run"}
)
"""Outcomes after which nothing more will happen to a delivery."""

HorizonFor = Callable[[str], float]
"""The retry horizon, in seconds, of an instance (by name)."""


@dataclass(frozen=True, slots=True)
class QueueBackoff:
    """The wait before a deferred entry's next try: ``base`` doubling per retry, up to ``cap``.

    Equal jitter: half the wait is fixed, half random, so that entries failing together
    spread out and none is tried again almost at once.
    """

    base: float = 1.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("base must be positive and cap at least base")

    def delay(self, retries: int, rng: random.Random) -> float:
        """The wait after the ``retries``-th failure (1 for the first)."""
        wait = min(self.cap, self.base * 2.0 ** min(max(retries, 1) - 1, 60))
        return wait / 2 + rng.uniform(0.0, wait / 2)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an entry after a try (see the module doc).

    ``item`` and ``at`` (a Unix time) are set for ``defer``; ``error`` for ``defer`` and
    ``fail`` (the subscriptions that did not end and why, no event values).
    """

    action: Literal["ack", "defer", "fail"]
    item: QueuedEvent | None = None
    at: float | None = None
    error: str | None = None


def _first_failure(item: QueuedEvent, now: float) -> float:
    return item.first_failed_at if item.first_failed_at is not None else now


def expired(
    item: QueuedEvent, deliveries: list[Delivery], *, now: float, horizon_for: HorizonFor
) -> list[Delivery]:
    """The retryable failures among ``deliveries`` whose instance's horizon has passed."""
    first = _first_failure(item, now)
    return [
        delivery
        for delivery in deliveries
        if delivery.outcome == "retryable_failure" and now - first >= horizon_for(delivery.instance)
    ]


def _describe(deliveries: list[Delivery]) -> str:
    return "; ".join(
        f"{d.instance}/{d.mapping}: {d.outcome}"
        + (f" {d.error_code}" if d.error_code else "")
        + (f" (status {d.status})" if d.status is not None else "")
        for d in deliveries
    )


def decide(
    item: QueuedEvent,
    deliveries: list[Delivery],
    *,
    now: float,
    horizon_for: HorizonFor,
    backoff: QueueBackoff,
    rng: random.Random,
) -> Decision:
    """What to do with the entry of ``item`` after a try that gave ``deliveries``."""
    unfinished = [d for d in deliveries if d.outcome not in ENDED_OUTCOMES]
    if not unfinished:
        return Decision("ack")
    first = _first_failure(item, now)
    waiting = [
        d
        for d in unfinished
        if d.outcome == "retryable_failure" and now - first < horizon_for(d.instance)
    ]
    held = [d for d in unfinished if d.outcome == "held"]
    stuck = [d for d in unfinished if d not in waiting and d not in held]
    if stuck:
        return Decision("fail", error=_describe(stuck))
    done = item.done + tuple(
        (d.instance, d.mapping)
        for d in deliveries
        if d.outcome in ENDED_OUTCOMES and d.mapping and (d.instance, d.mapping) not in item.done
    )
    if not waiting:  # held only: back at once, behind the user's earlier entry
        return Decision("defer", item=replace(item, done=done), at=now, error=_describe(held))
    retries = item.retries + 1
    wait = backoff.delay(retries, rng)
    asked = [d.retry_after for d in waiting if d.retry_after is not None]
    if asked:
        wait = max(wait, max(asked))
    # Never past the horizon: the last try is at it.
    last = first + min(horizon_for(d.instance) for d in waiting)
    at = min(now + wait, last)
    error = _describe(waiting + held)
    state = replace(item, done=done, retries=retries, first_failed_at=first, last_error=error)
    return Decision("defer", item=state, at=at, error=error)
