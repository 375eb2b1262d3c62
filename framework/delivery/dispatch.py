"""Sending planned requests: retries, batches, per-event results, dead letters.

A :class:`Dispatcher` serves one router. Each ready plan becomes a :class:`Pending` item with
a future; items go through ordered lanes (see :mod:`.batching`), are combined into one request
per batch, sent with retries, and each item's future is settled with its own
:class:`~framework.delivery.outcome.Delivery`. A batch the API refuses for good is split and
its events sent one by one, so one bad event never fails the others.

A ``Retry-After`` on any retryable answer (a 429's, a 503's) pauses the whole endpoint, the
URL's scheme, host and port (see :mod:`.pause`): until it ends, no request to that endpoint
starts; the waiting ones use no attempt, and each lane keeps its order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from framework.definitions.instance import Instance, Planned
from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery.batching import Lanes
from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.delivery.http import Answer, HttpSender, error_for
from framework.delivery.outcome import Delivery, Outcome
from framework.delivery.pause import EndpointPauses, endpoint_of
from framework.delivery.ratelimit import RateLimiter
from framework.delivery.retry import RetryPolicy
from framework.delivery.stats import DeliveryStats
from framework.errors import DeliveryError, RetryableError

logger = logging.getLogger("actionkit.delivery")

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a connection and for an answer, unless an instance says otherwise."""


@dataclass(slots=True)
class Pending:
    """One event's planned request, waiting to be sent; ``future`` gets its Delivery."""

    instance: Instance
    plan: Planned
    event: dict[str, Any]
    future: asyncio.Future[Delivery]
    dead_letter: bool = True
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def request(self) -> PlannedRequest:
        """The planned request (a ready plan always has one)."""
        if self.plan.request is None:  # pragma: no cover - only ready plans become Pending
            raise ValueError("a pending delivery needs a request")
        return self.plan.request


@dataclass(frozen=True, slots=True)
class _Result:
    answer: Answer | None
    error: DeliveryError | None
    attempts: int


def _redact(text: str, secrets: frozenset[str]) -> str:
    """``text`` with every password value of an instance replaced by ``[REDACTED]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


class Dispatcher:
    """Sends the ready plans of a router's instances and settles each one's Delivery."""

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        timeout: float,
        dead_letters: DeadLetterStore | None,
        stats: DeliveryStats,
        batch_window: float | None,
        transport: httpx.AsyncBaseTransport | None,
        seed: int | None,
        batching: bool = True,
    ) -> None:
        self._batching = batching
        self._retry = retry
        self._timeout = timeout
        self._dead_letters = dead_letters
        self._stats = stats
        self._rng = random.Random(seed)
        self._transport = transport
        # One pooled client per network policy: the policy is applied where the client
        # connects, so instances that may reach different addresses never share connections.
        self._senders: dict[NetworkPolicy | None, HttpSender] = {}
        self._lanes: Lanes[Pending] = Lanes(self._send_batch, self._fail_batch)
        self._batch_window = batch_window
        self._limiters: dict[str, RateLimiter] = {}
        self._sleep = asyncio.sleep
        self._clock = time.monotonic
        # Endpoints a server asked us to leave alone for a while (Retry-After).
        self._pauses = EndpointPauses(self._clock)

    async def aclose(self) -> None:
        """Wait for what is in flight, then close the HTTP client.

        Cancelled while waiting, it cancels the deliveries in flight; the client is closed
        either way (shielded, so that a second cancellation cannot leave it open).
        """
        try:
            await self._lanes.drain()
        except asyncio.CancelledError:
            self._lanes.cancel()
            raise
        finally:
            senders = list(self._senders.values())
            self._senders.clear()
            await asyncio.shield(asyncio.gather(*(sender.aclose() for sender in senders)))

    def _sender(self, instance: Instance) -> HttpSender:
        policy = None if self._transport is not None else instance.network
        sender = self._senders.get(policy)
        if sender is None:
            sender = HttpSender(transport=self._transport, policy=policy)
            self._senders[policy] = sender
        return sender

    def submit(self, pending: Pending) -> None:
        """Queue a ready plan; its future is settled when its delivery ends."""
        action = pending.plan.action
        batch = pending.instance.destination.actions[action].definition.batch
        if batch is None or pending.plan.batch_key is None or not self._batching:
            key: tuple[Hashable, ...] = (
                pending.instance.name,
                pending.plan.mapping,
                "",
                str(id(pending)),
            )
            max_count = 1
            window = 0.0
        else:
            # The lane is the key's values, not its text: "a-"+"b" and "a"+"-b" are two users.
            group = pending.plan.batch_group
            key = (
                pending.instance.name,
                pending.plan.mapping,
                group if group is not None else (pending.plan.batch_key,),
            )
            max_count = batch.max_count
            window = batch.window_ms / 1000 if self._batch_window is None else self._batch_window
        self._lanes.submit(key, pending, max_count, window)

    def _limiter(self, instance: Instance) -> RateLimiter:
        limiter = self._limiters.get(instance.name)
        if limiter is None:
            options = instance.delivery
            limiter = RateLimiter(options.requests_per_second, options.concurrency)
            self._limiters[instance.name] = limiter
        return limiter

    def _policy(self, instance: Instance) -> RetryPolicy:
        options = instance.delivery
        if options.max_attempts is None and options.deadline is None:
            return self._retry
        return RetryPolicy(
            max_attempts=options.max_attempts or self._retry.max_attempts,
            base_delay=self._retry.base_delay,
            max_delay=self._retry.max_delay,
            deadline=options.deadline or self._retry.deadline,
            max_retry_after=self._retry.max_retry_after,
        )

    def _http_timeout(self, instance: Instance) -> httpx.Timeout:
        read = instance.delivery.timeout or self._timeout
        connect = instance.delivery.connect_timeout or read
        return httpx.Timeout(read, connect=connect)

    @asynccontextmanager
    async def _turn(self, endpoint: str, limiter: RateLimiter) -> AsyncIterator[None]:
        """Hold a request until its endpoint is not paused and the limiter lets it go.

        The pause is checked again once the limiter allows the request: a pause that began
        while it waited for a token or a slot holds it too.
        """
        while True:
            await self._pauses.wait_until_open(endpoint)
            async with limiter:
                if self._pauses.is_open(endpoint):
                    yield
                    return

    async def _send_with_retries(self, instance: Instance, request: PlannedRequest) -> _Result:
        policy = self._policy(instance)
        timeout = self._http_timeout(instance)
        limiter = self._limiter(instance)
        sender = self._sender(instance)
        endpoint = endpoint_of(request.url)
        # The deadline counts from the first try: waiting out a pause before it is not a try.
        started: float | None = None
        attempts = 0
        while True:
            answer: Answer | None = None
            error: DeliveryError | None
            try:
                async with self._turn(endpoint, limiter):
                    attempts += 1
                    if started is None:
                        started = self._clock()
                    answer = await sender.send(request, timeout)
                # Masked before anything quotes it: an error message keeps only the start of
                # the body, and a secret cut at that point would no longer be found whole.
                answer = replace(answer, body=_redact(answer.body, instance.secrets))
                error = error_for(answer)
            except DeliveryError as exc:
                error = exc
            if error is None or not error.retryable:
                return _Result(answer, error, attempts)
            retry_after = error.retry_after if isinstance(error, RetryableError) else None
            now = self._clock()
            if retry_after is not None:
                # The server spoke for the endpoint, not for this request: hold them all.
                pause = min(retry_after, policy.max_retry_after)
                self._pauses.pause(endpoint, now + pause)
            elapsed = now - (started if started is not None else now)
            wait = policy.next_wait(attempts, elapsed, retry_after, self._rng)
            if wait is None:
                return _Result(answer, error, attempts)
            await self._sleep(wait)

    async def _send_batch(self, batch: list[Pending]) -> None:
        first = batch[0]
        instance = first.instance
        if len(batch) == 1:
            request = first.request
        else:
            builder = instance.destination.actions[first.plan.action].request
            requests = [item.request for item in batch]
            runs = builder.runs(requests)
            if len(runs) > 1:
                # Events of one lane that do not make the same request (method, URL, headers,
                # body outside the combined part) are never merged: each run goes on its own.
                for run in runs:
                    await self._send_batch([batch[index] for index in run])
                return
            request = builder.combine(requests)
        result = await self._send_with_retries(instance, request)
        if result.error is not None and not result.error.retryable and len(batch) > 1:
            # The API refused the combined request: find the culprit by sending each event
            # on its own, in order, so the others still get through.
            for item in batch:
                await self._send_batch([item])
            return
        for item in batch:
            self._settle(item, request, result, len(batch))

    def _settle(self, item: Pending, request: PlannedRequest, result: _Result, size: int) -> None:
        plan = item.plan
        instance = item.instance
        latency = time.perf_counter() - item.enqueued
        answer = result.answer
        response = answer.body if answer is not None else None
        common: dict[str, Any] = {
            "instance": instance.name,
            "mapping": plan.mapping,
            "action": plan.action,
            "message_id": _message_id(item.event),
            "status": answer.status if answer is not None else None,
            "request": request.redacted(),
            "response": response,
            "attempts": result.attempts,
            "batch_size": size,
            "latency": latency,
        }
        if result.error is None:
            delivery = Delivery(outcome="delivered", **common)
        else:
            delivery = self._failed(item, result.error, common)
        self._stats.record(instance.name, plan.action, delivery.outcome, latency)
        if not item.future.done():
            item.future.set_result(delivery)

    def _failed(self, item: Pending, error: DeliveryError, common: dict[str, Any]) -> Delivery:
        instance = item.instance
        message = _redact(error.message, instance.secrets)
        outcome: Outcome = "retryable_failure" if error.retryable else "permanent_failure"
        letter_id = None
        if self._dead_letters is not None and item.dead_letter:
            letter_id = self._dead_letters.add(
                DeadLetter(
                    instance=instance.name,
                    mapping=item.plan.mapping,
                    action=item.plan.action,
                    event=item.event,
                    error_code=error.code,
                    error_message=message,
                    attempts=common["attempts"],
                    status=common["status"],
                    request=common["request"],
                )
            )
            outcome = "dead_lettered"
        logger.warning(
            "delivery failed: instance=%s mapping=%s action=%s code=%s status=%s attempts=%d "
            "outcome=%s message_id=%s: %s",
            instance.name,
            item.plan.mapping,
            item.plan.action,
            error.code,
            common["status"],
            common["attempts"],
            outcome,
            common["message_id"],
            message,
        )
        return Delivery(
            outcome=outcome,
            error_code=error.code,
            error_message=message,
            dead_letter_id=letter_id,
            **common,
        )

    def _fail_batch(self, batch: list[Pending], error: BaseException) -> None:
        if isinstance(error, asyncio.CancelledError):
            logger.warning(
                "%d deliveries cancelled: the router closed before they ended", len(batch)
            )
            for item in batch:
                item.future.cancel()
            return
        logger.error("delivery crashed: %s: %s", type(error).__name__, error)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(error)


def _message_id(event: dict[str, Any]) -> str | None:
    value = event.get("messageId")
    return value if isinstance(value, str) else None
