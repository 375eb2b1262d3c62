"""Drain an event queue through a router: at least once, acked only when every delivery ended.

An entry is acknowledged once each of its deliveries has ended: delivered, not subscribed,
filtered, invalid (with its errors) or dead-lettered. The router runs in defer mode: a delivery
that fails retryably after a few quick tries comes back, and the entry is put back in the queue
to wait (:meth:`~framework.queue.EventQueue.defer`) with the subscriptions that ended recorded,
until its instance's retry horizon has passed (``delivery.retryFor``, 4 hours by default); then
the delivery is dead-lettered. See :mod:`framework.queue.horizon` for the decisions. A delivery
that failed with nowhere to keep it (a router without a dead-letter store), or an error in
routing itself, gives the entry back to the queue, which hands it out again or sets it aside
after too many tries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from framework.delivery.outcome import Delivery
from framework.delivery.router import Router
from framework.errors import QueueError
from framework.queue.base import Entry, EventQueue
from framework.queue.horizon import (
    DEFAULT_RETRY_FOR,
    QueueBackoff,
    decide,
    expired,
)
from framework.queue.horizon import ENDED_OUTCOMES as ENDED_OUTCOMES
from framework.queue.resume import resume_waiting_on_close

logger = logging.getLogger("actionkit.queue")

DEFAULT_IN_FLIGHT = 256
"""How many entries ``consume`` keeps in flight at once, by default."""

OnHandled = Callable[[Entry, list[Delivery]], None]
"""Called with each entry and its deliveries once it is acknowledged (metrics, tests)."""

OnDeferred = Callable[[Entry, list[Delivery], float], None]
"""Called with each entry put back to wait, the deliveries of that try and its next time."""


@dataclass(slots=True)
class Retrying:
    """How a consumer waits out failures: the backoff, the default horizon, clock and luck.

    ``retry_for`` is the horizon of instances whose ``delivery.retryFor`` is unset.
    ``on_deferred`` is told each entry put back to wait (metrics). ``clock`` gives Unix
    times (the queues' ``defer`` takes one); ``rng`` the jitter.
    """

    backoff: QueueBackoff = field(default_factory=QueueBackoff)
    retry_for: float = DEFAULT_RETRY_FOR
    on_deferred: OnDeferred | None = None
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def horizon(self, router: Router) -> Callable[[str], float]:
        """The horizon of each of ``router``'s instances, by name."""
        horizons = {
            instance.name: instance.delivery.retry_for or self.retry_for
            for instance in router.instances
        }
        return lambda name: horizons.get(name, self.retry_for)


async def handle_entry(
    router: Router,
    queue: EventQueue,
    entry: Entry,
    on_handled: OnHandled | None = None,
    *,
    retrying: Retrying | None = None,
) -> bool:
    """Route one entry; ack it if every delivery ended, else put it back. True if acked.

    Put back to wait (deferred) when deliveries wait for a retry, given back as a failed try
    when one failed with nowhere to go (see the module doc).
    """
    retrying = retrying or Retrying()
    item = entry.item
    try:
        deliveries = await router.aroute(
            item.event, instances=item.instances or None, skip=item.done, defer=True
        )
        horizon = retrying.horizon(router)
        now = retrying.clock()
        late = expired(item, deliveries, now=now, horizon_for=horizon)
        if late:
            # The horizon has passed: these are given up on, into the dead-letter store.
            buried = {id(d): router.bury(item.event, d) for d in late}
            deliveries = [buried.get(id(d), d) for d in deliveries]
    except Exception as exc:  # a bug or a store failure: never lose the entry over it
        logger.exception("routing entry %s failed", entry.id)
        await queue.fail(entry, f"{type(exc).__name__}: {exc}")
        return False
    decision = decide(
        item,
        deliveries,
        now=now,
        horizon_for=horizon,
        backoff=retrying.backoff,
        rng=retrying.rng,
    )
    if decision.action == "fail":
        await queue.fail(entry, decision.error or "")
        return False
    if decision.action == "defer" and decision.item is not None and decision.at is not None:
        await queue.defer(entry, decision.item, at=decision.at)
        logger.debug(
            "entry %s waits %.1f s (retry %d): %s",
            entry.id,
            max(0.0, decision.at - now),
            decision.item.retries,
            decision.error,
        )
        if retrying.on_deferred is not None:
            retrying.on_deferred(entry, deliveries, decision.at)
        return False
    await queue.ack([entry.id])
    for delivery in deliveries:
        if delivery.outcome == "invalid":
            _log_invalid(entry, delivery)
    if on_handled is not None:
        on_handled(entry, deliveries)
    return True


def _log_invalid(entry: Entry, delivery: Delivery) -> None:
    """Say why an accepted event was not sent: the operator's record of it (no event values)."""
    problems = "; ".join(
        f"{error.get('pointer') or '/'} [{error.get('code')}] {error.get('message')}"
        for error in delivery.errors
    )
    logger.warning(
        "event invalid: entry=%s instance=%s mapping=%s action=%s message_id=%s: %s",
        entry.id,
        delivery.instance,
        delivery.mapping,
        delivery.action,
        delivery.message_id,
        problems or delivery.error_message,
    )


async def consume(
    router: Router,
    queue: EventQueue,
    stop: asyncio.Event,
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    block: float = 0.5,
    on_handled: OnHandled | None = None,
    retrying: Retrying | None = None,
) -> None:
    """Take entries and route them until ``stop`` is set, at most ``in_flight`` at once.

    Entries are started in the order taken, so one user's events reach the router's ordered
    batch lanes in queue order. When ``stop`` is set it takes no more, and returns once every
    entry in flight has been acked or given back. Cancelling it abandons the entries in
    flight (the queue hands them out again after its idle timeout). When one of the router's
    circuits closes, the entries waiting for a retry are made due at once
    (:mod:`framework.queue.resume`).
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    async with resume_waiting_on_close(router, queue):
        await _take_and_route(
            router,
            queue,
            stop,
            in_flight=in_flight,
            block=block,
            on_handled=on_handled,
            retrying=retrying or Retrying(),  # one random source for every entry
        )


async def _take_and_route(
    router: Router,
    queue: EventQueue,
    stop: asyncio.Event,
    *,
    in_flight: int,
    block: float,
    on_handled: OnHandled | None,
    retrying: Retrying,
) -> None:
    running: set[asyncio.Task[bool]] = set()
    slots = asyncio.Semaphore(in_flight)

    def finished(task: asyncio.Task[bool]) -> None:
        running.discard(task)
        slots.release()

    try:
        while not stop.is_set():
            await slots.acquire()
            free = in_flight - len(running)
            try:
                entries = await queue.take(max(1, free), block=block)
            except BaseException:
                slots.release()
                raise
            if not entries:
                slots.release()
                continue
            # One slot is held already; take one for each further entry.
            for index, entry in enumerate(entries):
                if index > 0:
                    await slots.acquire()
                task = asyncio.create_task(
                    handle_entry(router, queue, entry, on_handled, retrying=retrying)
                )
                running.add(task)
                task.add_done_callback(finished)
    except asyncio.CancelledError:
        # Cancelled rather than stopped: abandon what is in flight. Those entries were neither
        # acked nor given back, so the queue hands them out again after its idle timeout.
        for task in list(running):
            task.cancel()
        raise
    finally:
        if running:
            await asyncio.gather(*list(running), return_exceptions=True)


async def consume_supervised(
    router: Router,
    queue: EventQueue,
    stop: asyncio.Event,
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    on_handled: OnHandled | None = None,
    on_restart: Callable[[QueueError], None] | None = None,
    restart_delay: float = 1.0,
    retrying: Retrying | None = None,
) -> None:
    """:func:`consume` until ``stop``; when the queue fails, restart it after ``restart_delay``.

    ``on_restart`` is told each failure (to log and count it). Used by the embedded server and
    by workers, whose queue (a SQLite file, Redis) may fail for a while and come back.
    """
    while not stop.is_set():
        try:
            await consume(
                router,
                queue,
                stop,
                in_flight=in_flight,
                on_handled=on_handled,
                retrying=retrying,
            )
        except QueueError as exc:
            if on_restart is not None:
                on_restart(exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), restart_delay)


CANCEL_WAIT = 5.0
"""Seconds :func:`finish_within` waits for a cancelled task to end before giving up on it."""


async def finish_within(task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``task`` to end, else cancel it; True if it was cancelled.

    A cancelled task is waited for at most :data:`CANCEL_WAIT` seconds more: a cancellation
    lost inside a library call must not keep a stopping process alive.
    """
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_WAIT)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: it was logged where it happened, or does not matter now
    return not done
