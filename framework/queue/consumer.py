"""Drain an event queue through a router: at least once, acked only when every delivery ended.

An entry is acknowledged once each of its deliveries has ended: delivered, not subscribed,
filtered, invalid (with its errors) or dead-lettered. A delivery that failed with nowhere to
keep it (a router without a dead-letter store), or an error in routing itself, gives the entry
back to the queue, which hands it out again or dead-letters it after too many tries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from framework.delivery.outcome import Delivery
from framework.delivery.router import Router
from framework.errors import QueueError
from framework.queue.base import Entry, EventQueue

logger = logging.getLogger("actionkit.queue")

ENDED_OUTCOMES = frozenset(
    {"delivered", "not_subscribed", "filtered", "invalid", "dead_lettered", "dry_run"}
)
"""Outcomes after which an entry may be acknowledged: nothing more will happen to it."""

DEFAULT_IN_FLIGHT = 256
"""How many entries ``consume`` keeps in flight at once, by default."""

OnHandled = Callable[[Entry, list[Delivery]], None]
"""Called with each entry and its deliveries once it is acknowledged (metrics, tests)."""


async def handle_entry(
    router: Router, queue: EventQueue, entry: Entry, on_handled: OnHandled | None = None
) -> bool:
    """Route one entry; ack it if every delivery ended, else give it back. True if acked."""
    try:
        deliveries = await router.aroute(entry.item.event, instances=entry.item.instances or None)
    except Exception as exc:  # a bug or a store failure: never lose the entry over it
        logger.exception("routing entry %s failed", entry.id)
        await queue.fail(entry, f"{type(exc).__name__}: {exc}")
        return False
    unfinished = [d for d in deliveries if d.outcome not in ENDED_OUTCOMES]
    if unfinished:
        error = "; ".join(
            f"{d.instance}/{d.mapping}: {d.outcome} {d.error_code or ''}".strip()
            for d in unfinished
        )
        await queue.fail(entry, error)
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
) -> None:
    """Take entries and route them until ``stop`` is set, at most ``in_flight`` at once.

    Entries are started in the order taken, so one user's events reach the router's ordered
    batch lanes in queue order. When ``stop`` is set it takes no more, and returns once every
    entry in flight has been acked or given back. Cancelling it abandons the entries in
    flight (the queue hands them out again after its idle timeout).
    """
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
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
                task = asyncio.create_task(handle_entry(router, queue, entry, on_handled))
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
) -> None:
    """:func:`consume` until ``stop``; when the queue fails, restart it after ``restart_delay``.

    ``on_restart`` is told each failure (to log and count it). Used by the embedded server and
    by workers, whose queue (a SQLite file, Redis) may fail for a while and come back.
    """
    while not stop.is_set():
        try:
            await consume(router, queue, stop, in_flight=in_flight, on_handled=on_handled)
        except QueueError as exc:
            if on_restart is not None:
                on_restart(exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), restart_delay)


async def finish_within(task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``task`` to end, else cancel it; True if it was cancelled."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return not done
