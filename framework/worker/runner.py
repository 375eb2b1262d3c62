"""One worker: a router over some instances, consuming its share of a Redis queue's partitions.

:class:`Worker` opens the :class:`~framework.queue.redis_stream.RedisStreamQueue` (its first take
joins the live workers and leases a fair share of the partitions), starts a
:class:`~framework.Router` and runs :func:`~framework.queue.consume` until its ``stop`` event is
set. A failure of Redis while it runs is logged and the consumer started again a second later
(entries in hand stay pending meanwhile); a Redis it cannot reach at the start is an error.

Metrics: each worker counts what its consumer did in a
:class:`~framework.server.metrics.ConsumerMetrics` (``Worker.metrics``: the same
``actionkit_outcomes_total``, ``actionkit_deliveries_total``, queue gauges and latencies as
the embedded server's ``/metrics``); given a listening socket (``metrics_socket``, what
``actionkit worker --metrics-port`` binds), it serves them at ``GET /metrics`` there
(:class:`~framework.worker.metrics.MetricsEndpoint`) while it runs.

Stopping: once ``stop`` is set, no entry is taken; the entries in flight are finished (acked, or
handed back) for up to ``shutdown_grace`` seconds. What is still unfinished then is left
stored; the worker gives its partitions up, and their next owner hands it out first.
:func:`run_worker` wires SIGTERM and SIGINT to ``stop``; a second signal stops at once, leaving
everything in flight to the partitions' next owners.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from framework.definitions.instance import Instance
from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router
from framework.errors import QueueError
from framework.queue.base import Entry
from framework.queue.consumer import (
    DEFAULT_IN_FLIGHT,
    Retrying,
    consume_supervised,
    finish_within,
)
from framework.queue.redis_stream import DEFAULT_PARTITIONS, RedisStreamQueue
from framework.server.metrics import ConsumerMetrics
from framework.worker.metrics import MetricsEndpoint

__all__ = ["SHUTDOWN_GRACE", "Worker", "WorkerReport", "WorkerSettings", "run_worker"]

logger = logging.getLogger("actionkit.worker")

SHUTDOWN_GRACE = 30.0
"""Seconds a stopping worker waits for the entries in flight before leaving them pending."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What a worker consumes, and how.

    ``instances`` are what the router delivers to (see :class:`~framework.Router`); the names
    a server's write keys route to must be among them. ``stream``, ``group``, ``consumer``,
    ``claim_idle``, ``max_tries`` and ``partitions`` are the queue's (``consumer`` None:
    ``hostname-pid``; ``partitions`` must be the stream's, as its servers were given).
    ``dead_letters`` is the router's dead-letter store (None: a delivery that finally fails
    hands its entry back, and after ``max_tries`` the entry goes to the dead stream).
    """

    redis_url: str
    instances: Sequence[Instance | str | Path | dict[str, Any]]
    stream: str = "actionkit:events"
    group: str = "actionkit"
    consumer: str | None = None
    in_flight: int = DEFAULT_IN_FLIGHT
    claim_idle: float = 30.0
    max_tries: int = 5
    partitions: int = DEFAULT_PARTITIONS
    dead_letters: str | Path | None = DEFAULT_DEAD_LETTERS
    shutdown_grace: float = SHUTDOWN_GRACE


@dataclass(slots=True)
class WorkerReport:
    """What a worker did: entries acked, their deliveries by outcome, restarts, the stats."""

    consumer: str
    entries: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    left_pending: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    def handled(self, entry: Entry, deliveries: list[Delivery]) -> None:
        """Count one acked entry and its deliveries (the consumer's ``on_handled``)."""
        self.entries += 1
        self.outcomes.update(delivery.outcome for delivery in deliveries)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "consumer": self.consumer,
            "entries": self.entries,
            "outcomes": dict(sorted(self.outcomes.items())),
            "restarts": self.restarts,
            "left_pending": self.left_pending,
            "stats": self.stats,
        }


class Worker:
    """Consume a Redis stream through a router until stopped (see the module doc).

    ``retry`` and ``transport`` go to the router (tests and benchmarks use them).
    ``metrics_socket``: a bound, listening socket to serve ``GET /metrics`` on while it runs
    (the worker closes it when it stops); None serves nothing (``metrics`` still counts).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics_socket: socket.socket | None = None,
    ) -> None:
        if settings.in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.settings = settings
        self.queue = RedisStreamQueue(
            settings.redis_url,
            stream=settings.stream,
            group=settings.group,
            consumer=settings.consumer,
            claim_idle=settings.claim_idle,
            max_tries=settings.max_tries,
            partitions=settings.partitions,
        )
        self.router = Router(
            settings.instances,
            dead_letters=settings.dead_letters,
            retry=retry,
            transport=transport,
            concurrency=settings.in_flight,
        )
        self.report = WorkerReport(self.queue.consumer)
        self.metrics = ConsumerMetrics()
        self._metrics_socket = metrics_socket
        self._task: asyncio.Task[None] | None = None
        self._hurry = False

    def abort(self) -> None:
        """Stop at once: the entries in flight are left stored, for the partitions' next owner."""
        self._hurry = True
        if self._task is not None:
            self._task.cancel()

    async def run(self, stop: asyncio.Event) -> WorkerReport:
        """Deliver the stream's entries until ``stop`` is set; returns what was done.

        Raises :class:`~framework.errors.QueueError` when Redis cannot be used at the start.
        """
        endpoint = None
        try:
            async with self.queue:
                await self.metrics.watch(self.queue)
                self.metrics.track(self.router.endpoints)
                if self._metrics_socket is not None:
                    endpoint = MetricsEndpoint(
                        self.metrics, self.queue, self._metrics_socket, asyncio.get_running_loop()
                    )
                    endpoint.start()
                try:
                    await self._run(stop, endpoint)
                finally:
                    if endpoint is not None:  # before the queue closes: no scrape after it
                        await asyncio.to_thread(endpoint.stop)  # closes the socket
        finally:
            if endpoint is None and self._metrics_socket is not None:
                self._metrics_socket.close()
        logger.info(
            "worker %s stopped: %d entries handled%s",
            self.queue.consumer,
            self.report.entries,
            "; entries in flight were left pending" if self.report.left_pending else "",
            extra={"worker": {"state": "stopped", **self.report.to_dict()}},
        )
        return self.report

    async def _run(self, stop: asyncio.Event, endpoint: MetricsEndpoint | None) -> None:
        """Say the worker started, then route until ``stop`` and close the router."""
        settings = self.settings
        names = ", ".join(instance.name for instance in self.router.instances)
        started: dict[str, Any] = {"state": "started", "consumer": self.queue.consumer}
        if endpoint is not None:
            started["metrics"] = endpoint.url
        logger.info(
            "worker %s started: stream %s, %d partitions, instances %s, %d in flight at most%s",
            self.queue.consumer,
            settings.stream,
            settings.partitions,
            names,
            settings.in_flight,
            f"; metrics at {endpoint.url}" if endpoint is not None else "",
            extra={"worker": started},
        )
        await self.router.__aenter__()
        loop = asyncio.get_running_loop()
        task = self._task = asyncio.ensure_future(self._supervise(stop))
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            self._hurry = True  # run() itself was cancelled: close, and leave the rest
            raise
        finally:
            stop.set()
            grace = 0.0 if self._hurry else settings.shutdown_grace
            deadline = loop.time() + grace
            await self._within(task, grace)
            closing = asyncio.ensure_future(self.router.__aexit__(None, None, None))
            await self._within(closing, max(0.0, deadline - loop.time()))
            self.report.stats = self.router.stats()

    async def _supervise(self, stop: asyncio.Event) -> None:
        """Run the consumer until ``stop``; a Redis failure is logged and the consumer restarted."""
        await consume_supervised(
            self.router,
            self.queue,
            stop,
            in_flight=self.settings.in_flight,
            on_handled=self._handled,
            on_restart=self._restarting,
            retrying=Retrying(on_deferred=self.metrics.deferred_entry),
        )

    def _handled(self, entry: Entry, deliveries: list[Delivery]) -> None:
        self.report.handled(entry, deliveries)
        self.metrics.handled(entry, deliveries)

    def _restarting(self, exc: QueueError) -> None:
        self.report.restarts += 1
        logger.error("worker %s: [%s] %s; retrying", self.queue.consumer, exc.code, exc)

    async def _within(self, task: asyncio.Future[None], seconds: float) -> None:
        """Wait up to ``seconds`` for ``task``, then cancel it: its entries stay pending."""
        if await finish_within(task, seconds):
            self.report.left_pending = True


def run_worker(
    settings: WorkerSettings,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    metrics_socket: socket.socket | None = None,
) -> WorkerReport:
    """Run a worker in this process until SIGTERM or SIGINT; returns what it did.

    ``metrics_socket``: serve ``GET /metrics`` on it while the worker runs (see :class:`Worker`).

    The first signal stops taking entries and finishes those in flight (up to the settings'
    ``shutdown_grace``); a second one stops at once, leaving them pending for another worker.
    """

    async def main() -> WorkerReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        worker = Worker(settings, retry=retry, transport=transport, metrics_socket=metrics_socket)

        def on_signal(signum: int) -> None:
            if stop.is_set():
                logger.warning(
                    "second %s: stopping now; entries in flight stay pending",
                    signal.Signals(signum).name,
                )
                worker.abort()
                return
            logger.info(
                "%s: finishing the entries in flight, then stopping",
                signal.Signals(signum).name,
            )
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await worker.run(stop)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
