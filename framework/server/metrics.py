"""The Prometheus metrics of servers and workers, each in a registry of its own.

Each app has its own :class:`ServerMetrics`, and each worker its own :class:`ConsumerMetrics`
(what a consumer of a queue counts: every name below but the first two), so two servers or
workers in one process (tests, an embedding program) never mix their counts. Names and labels:

- ``actionkit_http_requests_total{endpoint, status}``: requests answered.
- ``actionkit_events_accepted_total{type}``: events durably queued (answered 200).
- ``actionkit_deliveries_total{instance, outcome}``: deliveries of the events the consumer
  (the embedded server's, or a worker) finished, by outcome (``delivered``, ``filtered``,
  ``invalid``, ...).
- ``actionkit_outcomes_total{outcome, code}``: what became of the events the consumer
  handled, failures by code: each delivery it ended (``delivered``, ``filtered``,
  ``not_subscribed`` with ``code=""``; ``invalid`` and ``dead_lettered`` with their error
  code, e.g. ``PAYLOAD_VALIDATION_FAILED``, ``INTEGRATION_ERROR``), and each queue entry set
  aside in the queue's dead entries (``outcome="queue_dead"``, ``code`` one of
  ``TRIES_EXHAUSTED``, ``NOT_A_QUEUED_EVENT``, ``NEVER_ACKNOWLEDGED``).
- ``actionkit_queue_depth``: entries stored and not yet acked, read when scraped.
- ``actionkit_queue_dead_entries``: entries set aside in the queue's dead entries (read when
  the consumer starts and at each scrape, counted between); ``actionkit dlq list`` shows them.
- ``actionkit_queue_waiting_entries``: entries waiting in the queue for a later try (read when
  scraped).
- ``actionkit_deferred_total{code}``: deliveries put back in the queue to wait, by the error
  code of their retryable failure (``HELD`` for those held behind an earlier request of their
  user).
- ``actionkit_endpoint_state{endpoint, state}``: 1 for each endpoint's circuit state
  (``closed``, ``half_open``, ``open``), 0 for the others; with
  ``actionkit_endpoint_resumes_in_seconds{endpoint}`` (0 when requests may go) and
  ``actionkit_endpoint_rate{endpoint}`` (the adaptive rate after a 429, requests per second;
  absent when not limited), read from the router when scraped.
- ``actionkit_delivery_latency_seconds``: routing to the API's answer, per delivery sent.
- ``actionkit_event_latency_seconds``: ``receivedAt`` to the end of the event's last
  delivery, per event the consumer finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from framework.delivery.gate import EndpointState
from framework.delivery.outcome import Delivery
from framework.queue.base import Entry, EventQueue

EndpointStates = Callable[[], list[EndpointState]]
"""What a router tells of its endpoints (:meth:`framework.Router.endpoints`)."""

_BREAKER_STATES = ("closed", "half_open", "open")

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ConsumerMetrics", "ServerMetrics"]

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class ConsumerMetrics:
    """What a consumer of a queue counts: deliveries, outcomes, the queue's gauges, latencies.

    A worker's metrics (see the module docstring); :class:`ServerMetrics` adds the server's.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "actionkit_deliveries",
            "Deliveries of consumed events, by instance and outcome.",
            ["instance", "outcome"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "actionkit_outcomes",
            "Deliveries ended and queue entries set aside, by outcome and error code.",
            ["outcome", "code"],
            registry=self.registry,
        )
        self.queue_dead_entries = Gauge(
            "actionkit_queue_dead_entries",
            "Entries set aside in the queue's dead entries (see actionkit dlq list).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "actionkit_queue_depth",
            "Entries stored in the queue and not yet acked.",
            registry=self.registry,
        )
        self.queue_waiting = Gauge(
            "actionkit_queue_waiting_entries",
            "Entries waiting in the queue for a later try.",
            registry=self.registry,
        )
        self.deferred = Counter(
            "actionkit_deferred",
            "Deliveries put back in the queue to wait, by error code (HELD: behind their user).",
            ["code"],
            registry=self.registry,
        )
        self.endpoint_state = Gauge(
            "actionkit_endpoint_state",
            "1 for each endpoint's circuit state (closed, half_open, open), 0 for the others.",
            ["endpoint", "state"],
            registry=self.registry,
        )
        self.endpoint_resumes_in = Gauge(
            "actionkit_endpoint_resumes_in_seconds",
            "Seconds until requests may go to the endpoint again (0: they may now).",
            ["endpoint"],
            registry=self.registry,
        )
        self.endpoint_rate = Gauge(
            "actionkit_endpoint_rate",
            "The adaptive rate of an endpoint after a 429, in requests per second.",
            ["endpoint"],
            registry=self.registry,
        )
        self._endpoints: EndpointStates | None = None
        self.delivery_latency = Histogram(
            "actionkit_delivery_latency_seconds",
            "Seconds from routing a delivery to the API's answer.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.event_latency = Histogram(
            "actionkit_event_latency_seconds",
            "Seconds from receivedAt to the end of an event's last delivery.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def handled(self, entry: Entry, deliveries: list[Delivery]) -> None:
        """Count an entry the consumer acked (the consumer's ``on_handled`` callback)."""
        for delivery in deliveries:
            self.deliveries.labels(delivery.instance, delivery.outcome).inc()
            self.outcomes.labels(delivery.outcome, delivery.error_code or "").inc()
            if delivery.latency is not None and delivery.attempts:
                self.delivery_latency.observe(delivery.latency)
        received = entry.item.event.get("receivedAt")
        if isinstance(received, str):
            try:
                start = datetime.fromisoformat(received).timestamp()
            except ValueError:
                return
            self.event_latency.observe(max(0.0, time.time() - start))

    async def watch(self, queue: EventQueue) -> None:
        """Count ``queue``'s dead entries: those it holds now, then each one it sets aside.

        Call it once, when the consumer of ``queue`` starts; it sets ``queue.on_dead``.
        """
        self.queue_dead_entries.set(await queue.dead_count())
        queue.on_dead = self.dead

    async def refresh(self, queue: EventQueue) -> None:
        """Read the queue's gauges now (depth, waiting and dead entries) and the endpoints'."""
        self.queue_depth.set(await queue.depth())
        self.queue_waiting.set(await queue.waiting())
        self.queue_dead_entries.set(await queue.dead_count())
        self.refresh_endpoints()

    def track(self, endpoints: EndpointStates) -> None:
        """Read the endpoints' states from ``endpoints`` at each scrape (a router's)."""
        self._endpoints = endpoints

    def refresh_endpoints(self) -> None:
        """Set the endpoint gauges from the tracked router (nothing when none is tracked)."""
        if self._endpoints is None:
            return
        for gauge in (self.endpoint_state, self.endpoint_resumes_in, self.endpoint_rate):
            gauge.clear()  # an endpoint the router forgot is not reported forever
        for state in self._endpoints():
            for name in _BREAKER_STATES:
                value = 1.0 if state.state == name else 0.0
                self.endpoint_state.labels(state.endpoint, name).set(value)
            self.endpoint_resumes_in.labels(state.endpoint).set(state.resumes_in or 0.0)
            if state.rate is not None:
                self.endpoint_rate.labels(state.endpoint).set(state.rate)

    def deferred_entry(self, entry: Entry, deliveries: list[Delivery], at: float) -> None:
        """Count the deliveries of an entry put back to wait (the consumer's ``on_deferred``)."""
        for delivery in deliveries:
            if delivery.outcome == "retryable_failure":
                self.deferred.labels(delivery.error_code or "RETRYABLE_ERROR").inc()
            elif delivery.outcome == "held":
                self.deferred.labels("HELD").inc()

    def dead(self, code: str, error: str) -> None:
        """Count one entry the queue set aside (the queue's ``on_dead`` callback)."""
        self.outcomes.labels("queue_dead", code).inc()
        self.queue_dead_entries.inc()

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class ServerMetrics(ConsumerMetrics):
    """The counters, gauges and histograms of one server (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = Counter(
            "actionkit_http_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "actionkit_events_accepted",
            "Events durably queued, by type.",
            ["type"],
            registry=self.registry,
        )
