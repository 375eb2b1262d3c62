"""Sending planned requests: user lanes, retries, the endpoint gate, per-event results.

A :class:`Dispatcher` serves one router. The life of one item:

1. A ready plan becomes a :class:`Pending` item with a future, and joins the lane of its user
   in its instance (:func:`~framework.delivery.ordering.lane_key`; an event with no user has a
   lane of its own), whatever its mapping or action (see :mod:`.batching`).
2. When its turn in the lane comes, it leaves alone, or, when its action batches, with the
   items right behind it and the items at the front of other users' lanes that make the same
   batch (same instance, mapping and batch key), combined into one request.
3. Each try passes the endpoint's gate (:class:`~framework.delivery.gate.EndpointGate`:
   pauses asked by a ``Retry-After``, the circuit breaker, the adaptive rate, the instance's
   rate limiter), is sent, and its answer is reported to the gate. Waiting at the gate uses
   no attempt and does not start the retry horizon's clock: a request never tried has not
   failed.
4. A retryable failure is tried again with backoff until the policy's horizon
   (:class:`~framework.delivery.retry.RetryPolicy`), the lane's later items waiting behind
   it. A batch the API refuses for good is split and its events sent one by one, so one bad
   event never fails the others.
5. The item's future is settled with its own :class:`~framework.delivery.outcome.Delivery`;
   a failure is dead-lettered when the router keeps dead letters.

In defer mode (a queue consumer's), step 4 is short (the router's defer policy) and the gate
waits at most ``hold_limit`` for a paused or open endpoint: a delivery still failing
retryably comes back as ``retryable_failure`` with ``retry_after``, for the queue to keep
and try again later, and the items of its lane behind it come back ``held``, unsent, so that
the user's order is kept until that retry.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from framework.definitions.instance import Instance, Planned
from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery.batching import Lanes
from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.delivery.gate import EndpointGate, EndpointState, Signal, Ticket
from framework.delivery.http import Answer, HttpSender, Sender, error_for
from framework.delivery.ordering import lane_key
from framework.delivery.outcome import Delivery, Outcome
from framework.delivery.pause import endpoint_of
from framework.delivery.ratelimit import RateLimiter
from framework.delivery.retry import RetryPolicy
from framework.delivery.stats import DeliveryStats
from framework.delivery.wire_sender import WireSender
from framework.errors import DeliveryError, EndpointPausedError, RetryableError

logger = logging.getLogger("actionkit.delivery")

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a connection and for an answer, unless an instance says otherwise."""

DEFAULT_DEFER_POLICY = RetryPolicy(max_attempts=3, deadline=10.0)
"""The short in-process try of defer mode: 3 attempts within 10 seconds."""

DEFAULT_HOLD_LIMIT = 5.0
"""Seconds a delivery in defer mode may wait for a paused or open endpoint."""

_endpoint_of = functools.lru_cache(maxsize=4096)(endpoint_of)
"""endpoint_of, remembered: parsing a URL per request cost 5% of the router's time."""

HELD_REASON = "not sent: an earlier request of the same user waits for a retry"
"""The reason of a ``held`` delivery."""


@dataclass(slots=True)
class Pending:
    """One event's planned request, waiting to be sent; ``future`` gets its Delivery.

    ``defer``: sent in defer mode (see the module doc). ``lane``: the lane it waits in,
    set by :meth:`Dispatcher.submit`.
    """

    instance: Instance
    plan: Planned
    event: dict[str, Any]
    future: asyncio.Future[Delivery]
    dead_letter: bool = True
    defer: bool = False
    lane: Hashable = None
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def request(self) -> PlannedRequest:
        """The planned request (a ready plan always has one)."""
        if self.plan.request is None:  # pragma: no cover - only ready plans become Pending
            raise ValueError("a pending delivery needs a request")
        return self.plan.request


@dataclass(frozen=True, slots=True)
class _Route:
    """What sending an instance's requests takes, looked up once per instance."""

    instance: Instance
    sender: Sender
    limiter: RateLimiter
    timeout: httpx.Timeout
    policy: RetryPolicy
    defer_policy: RetryPolicy


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


def _shown(request: PlannedRequest) -> dict[str, Any]:
    """The request as a delivery shows it: :meth:`PlannedRequest.redacted`, without its
    deep copy when there is nothing to mask (the body is then the request's own)."""
    if request.secrets:
        return request.redacted()
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "json": request.json,
    }


def _signal(error: DeliveryError | None) -> Signal:
    """What an answer (or a failed send) says about its endpoint."""
    if error is None or not error.retryable:
        return Signal.OK
    if error.status == 429:
        return Signal.RATE_LIMITED
    return Signal.FAILURE


def _retry_after(error: DeliveryError | None) -> float | None:
    return error.retry_after if isinstance(error, RetryableError) else None


def dead_letter(store: DeadLetterStore, event: dict[str, Any], delivery: Delivery) -> Delivery:
    """Store a failed ``delivery`` of ``event`` as a dead letter; return it ``dead_lettered``.

    The one place a dead letter is built, for failures at the end of a router's retries and
    for those a queue consumer gives up on (:meth:`framework.Router.bury`).
    """
    letter_id = store.add(
        DeadLetter(
            instance=delivery.instance,
            mapping=delivery.mapping,
            action=delivery.action,
            event=event,
            error_code=delivery.error_code or "RETRYABLE_ERROR",
            error_message=delivery.error_message or "",
            attempts=delivery.attempts,
            status=delivery.status,
            request=delivery.request,
        )
    )
    return replace(delivery, outcome="dead_lettered", dead_letter_id=letter_id)


def log_failure(delivery: Delivery) -> None:
    """The operator's line for a delivery that failed (no event values in it)."""
    logger.warning(
        "delivery failed: instance=%s mapping=%s action=%s code=%s status=%s attempts=%d "
        "outcome=%s message_id=%s: %s",
        delivery.instance,
        delivery.mapping,
        delivery.action,
        delivery.error_code,
        delivery.status,
        delivery.attempts,
        delivery.outcome,
        delivery.message_id,
        delivery.error_message,
    )


class Dispatcher:
    """Sends the ready plans of a router's instances and settles each one's Delivery.

    ``retry`` is the policy outside defer mode (an instance's ``delivery.maxAttempts`` and
    ``deadline`` override it), ``defer_policy`` the short one of defer mode, ``hold_limit``
    the longest wait at the gate in defer mode. ``clock``, ``sleep`` and ``gate`` are
    injected for tests (the gate gets the same clock and sleep by default).
    """

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
        defer_policy: RetryPolicy = DEFAULT_DEFER_POLICY,
        hold_limit: float = DEFAULT_HOLD_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        gate: EndpointGate | None = None,
    ) -> None:
        self._batching = batching
        self._retry = retry
        self._defer_policy = defer_policy
        self._hold_limit = hold_limit
        self._timeout = timeout
        self._dead_letters = dead_letters
        self._stats = stats
        self._rng = random.Random(seed)
        self._transport = transport
        # One pooled client per network policy: the policy is applied where the client
        # connects, so instances that may reach different addresses never share connections.
        self._senders: dict[NetworkPolicy | None, Sender] = {}
        self._lanes: Lanes[Pending] = Lanes(self._send_batch, self._fail_batch)
        self._solo = itertools.count()
        self._batch_window = batch_window
        self._limiters: dict[str, RateLimiter] = {}
        self._timeouts: dict[tuple[float, float], httpx.Timeout] = {}
        self._routes: dict[str, _Route] = {}
        self._sleep = sleep
        self._clock = clock
        self.gate = gate if gate is not None else EndpointGate(clock=clock, sleep=sleep)

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
            self._routes.clear()
            await asyncio.shield(asyncio.gather(*(sender.aclose() for sender in senders)))

    def endpoints(self) -> list[EndpointState]:
        """The endpoints the gate holds, slows, or has seen fail lately."""
        return self.gate.states()

    def _sender(self, instance: Instance) -> Sender:
        policy = None if self._transport is not None else instance.network
        sender = self._senders.get(policy)
        if sender is None:
            # A transport given (a test's, a user's) is used through httpx; otherwise the
            # router's own wire (asyncio and llhttp; framework/delivery/wire_sender.py).
            sender = (
                HttpSender(transport=self._transport)
                if self._transport is not None
                else WireSender(policy=policy)
            )
            self._senders[policy] = sender
        return sender

    def submit(self, pending: Pending) -> None:
        """Queue a ready plan in its user's lane; its future is settled when it ends."""
        instance = pending.instance
        user = lane_key(pending.event)
        pending.lane = (
            (instance.name, user) if user is not None else (instance.name, None, next(self._solo))
        )
        plan = pending.plan
        batch = instance.destination.actions[plan.action].definition.batch
        if batch is None or plan.batch_key is None or not self._batching:
            self._lanes.submit(pending.lane, pending)
            return
        # The group is the key's values, not its text: "a-"+"b" and "a"+"-b" are two users.
        values = plan.batch_group if plan.batch_group is not None else (plan.batch_key,)
        window = batch.window_ms / 1000 if self._batch_window is None else self._batch_window
        self._lanes.submit(
            pending.lane,
            pending,
            group=(instance.name, plan.mapping, pending.defer, values),
            # A setting may lower the action's maxCount for this instance (maxCountFrom).
            max_count=_batch_size(plan.request, batch.max_count),
            window=window,
        )

    def _route(self, instance: Instance) -> _Route:
        """The instance's sender, limiter, timeout and policies (an instance never changes)."""
        route = self._routes.get(instance.name)
        if route is None or route.instance is not instance:
            route = self._routes[instance.name] = _Route(
                instance,
                self._sender(instance),
                self._limiter(instance),
                self._http_timeout(instance),
                self._policy(instance, defer=False),
                self._policy(instance, defer=True),
            )
        return route

    def _limiter(self, instance: Instance) -> RateLimiter:
        limiter = self._limiters.get(instance.name)
        if limiter is None:
            options = instance.delivery
            limiter = RateLimiter(options.requests_per_second, options.concurrency)
            self._limiters[instance.name] = limiter
        return limiter

    def _policy(self, instance: Instance, *, defer: bool) -> RetryPolicy:
        options = instance.delivery
        if defer:
            # The queue waits out what the short try does not; an instance asking for fewer
            # attempts still gets no more.
            limit = options.max_attempts
            base = self._defer_policy
            if limit is not None and (base.max_attempts is None or limit < base.max_attempts):
                return replace(base, max_attempts=limit)
            return base
        if options.max_attempts is None and options.deadline is None:
            return self._retry
        return replace(
            self._retry,
            max_attempts=options.max_attempts or self._retry.max_attempts,
            deadline=options.deadline or self._retry.deadline,
        )

    def _http_timeout(self, instance: Instance) -> httpx.Timeout:
        read = instance.delivery.timeout or self._timeout
        connect = instance.delivery.connect_timeout or read
        key = (read, connect)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = httpx.Timeout(read, connect=connect)
        return timeout

    def _max_wait(self, policy: RetryPolicy, started: float | None, defer: bool) -> float | None:
        """How long the next try may wait at the gate.

        In defer mode, ``hold_limit``. Otherwise a request never tried waits as long as it
        takes (it has not failed), and a retry only until the horizon.
        """
        if defer:
            return self._hold_limit
        if started is None:
            return None
        return max(0.0, policy.deadline - (self._clock() - started))

    async def _try(
        self, route: _Route, request: PlannedRequest, ticket: Ticket, policy: RetryPolicy
    ) -> tuple[Answer | None, DeliveryError | None]:
        """Send once inside a granted turn and tell the gate what came of it."""
        instance = route.instance
        try:
            answer = await route.sender.send(request, route.timeout)
        except DeliveryError as exc:
            if exc.retryable:
                ticket.report(Signal.FAILURE, retry_after=self._pause(exc, policy))
            raise
        # Masked before anything quotes it: an error message keeps only the start of the
        # body, and a secret cut at that point would no longer be found whole.
        if instance.secrets:
            masked = _redact(answer.body, instance.secrets)
            if masked != answer.body:
                answer = replace(answer, body=masked)
        error = error_for(answer)
        ticket.report(_signal(error), retry_after=self._pause(error, policy), status=answer.status)
        return answer, error

    @staticmethod
    def _pause(error: DeliveryError | None, policy: RetryPolicy) -> float | None:
        """The endpoint-wide pause a failure asks for, within the policy's bound."""
        retry_after = _retry_after(error)
        return None if retry_after is None else min(retry_after, policy.max_retry_after)

    async def _send_with_retries(
        self, instance: Instance, request: PlannedRequest, *, defer: bool
    ) -> _Result:
        route = self._route(instance)
        policy = route.defer_policy if defer else route.policy
        limiter = route.limiter
        endpoint = _endpoint_of(request.url)
        # The horizon counts from the first try: waiting at the gate before it is not a try.
        started: float | None = None
        attempts = 0
        answer: Answer | None = None
        gate = self.gate
        while True:
            # The common case, a free endpoint, takes its turn without an async context.
            now_ticket = gate.enter_now(endpoint, limiter)
            if now_ticket is not None:
                attempts += 1
                if started is None:
                    started = self._clock()
                try:
                    answer, error = await self._try(route, request, now_ticket, policy)
                except DeliveryError as exc:
                    answer, error = None, exc
                finally:
                    gate.leave(now_ticket)
            else:
                max_wait = self._max_wait(policy, started, defer)
                try:
                    async with gate.turn(endpoint, limiter, max_wait=max_wait) as ticket:
                        attempts += 1
                        if started is None:
                            started = self._clock()
                        answer, error = await self._try(route, request, ticket, policy)
                except EndpointPausedError as exc:
                    # Not sent: the endpoint stays held longer than this request may wait.
                    return _Result(answer, exc, attempts)
                except DeliveryError as exc:
                    answer, error = None, exc
            if error is None or not error.retryable:
                return _Result(answer, error, attempts)
            elapsed = self._clock() - (started if started is not None else self._clock())
            wait = policy.next_wait(attempts, elapsed, _retry_after(error), self._rng)
            if wait is None:
                return _Result(answer, error, attempts)
            await self._sleep(wait)

    async def _send_batch(self, batch: list[Pending]) -> None:
        lanes = self._lanes
        if any(item.defer and lanes.blocked(item.lane) for item in batch):
            # An earlier request of one of these users waits for a queue's retry: keep the
            # order, holding that user's events; the others' still go.
            kept = []
            for item in batch:
                if item.defer and lanes.blocked(item.lane):
                    self._hold(item)
                else:
                    kept.append(item)
            batch = kept
            if not batch:
                return
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
        result = await self._send_with_retries(instance, request, defer=first.defer)
        if result.error is not None and not result.error.retryable and len(batch) > 1:
            # The API refused the combined request: find the culprit by sending each event
            # on its own, in order, so the others still get through.
            for item in batch:
                await self._send_batch([item])
            return
        for item in batch:
            self._settle(item, request, result, len(batch))

    def _hold(self, item: Pending) -> None:
        plan = item.plan
        delivery = Delivery(
            instance=item.instance.name,
            mapping=plan.mapping,
            action=plan.action,
            outcome="held",
            message_id=_message_id(item.event),
            reason=HELD_REASON,
        )
        self._stats.record(item.instance.name, plan.action, "held", None)
        if not item.future.done():
            item.future.set_result(delivery)

    def _settle(self, item: Pending, request: PlannedRequest, result: _Result, size: int) -> None:
        plan = item.plan
        instance = item.instance
        latency = time.perf_counter() - item.enqueued
        answer = result.answer
        delivery = Delivery(
            instance=instance.name,
            mapping=plan.mapping,
            action=plan.action,
            outcome="delivered",
            message_id=_message_id(item.event),
            status=answer.status if answer is not None else None,
            request=_shown(request),
            response=answer.body if answer is not None else None,
            attempts=result.attempts,
            batch_size=size,
            latency=latency,
        )
        if result.error is not None:
            delivery = self._failed(item, result.error, delivery)
        self._stats.record(instance.name, plan.action, delivery.outcome, latency)
        if not item.future.done():
            item.future.set_result(delivery)

    def _failed(self, item: Pending, error: DeliveryError, delivery: Delivery) -> Delivery:
        outcome: Outcome = "retryable_failure" if error.retryable else "permanent_failure"
        delivery = replace(
            delivery,
            outcome=outcome,
            error_code=error.code,
            error_message=_redact(error.message, item.instance.secrets),
            retry_after=_retry_after(error),
        )
        if item.defer and error.retryable:
            # The queue keeps it and tries again later; the user's later requests wait.
            self._lanes.block(item.lane)
            logger.info(
                "delivery waits for a retry: instance=%s mapping=%s code=%s status=%s "
                "attempts=%d message_id=%s",
                delivery.instance,
                delivery.mapping,
                delivery.error_code,
                delivery.status,
                delivery.attempts,
                delivery.message_id,
            )
            return delivery
        if self._dead_letters is not None and item.dead_letter:
            delivery = dead_letter(self._dead_letters, item.event, delivery)
        log_failure(delivery)
        return delivery

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


def _batch_size(request: PlannedRequest | None, max_count: int) -> int:
    """How many events one request of a batch may gather: the action's ``maxCount``, or less
    when the instance's settings say so (``batch.maxCountFrom``)."""
    limit = request.batch_limit if request is not None else None
    return max_count if limit is None else min(limit, max_count)
