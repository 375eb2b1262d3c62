"""The router a pipeline embeds: events in, one :class:`Delivery` per subscription out.

Async first (``async with Router(...) as router: await router.aroute(event)``); the sync API
(``with Router(...) as router: router.route(event)``) runs the same code on an event loop of
its own in a background thread. Every event routed ends, for each enabled subscription of each
instance, delivered, not subscribed, filtered (with the reason), invalid (with its errors), or
failed; with a dead-letter store (the default), failures are stored for replay.

A user's requests leave in the order of their events, across every mapping and action of an
instance, and a retryable failure is tried again until a horizon (10 minutes by default) while
the user's later requests wait behind it. A queue consumer routes in defer mode instead
(``aroute(..., defer=True)``): a failure that lasts comes back for the queue to keep, and is
given up on with :meth:`Router.bury` once the queue's horizon has passed.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from framework.definitions.instance import Instance, Planned, load_instance
from framework.delivery.bridge import Bridge
from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.delivery.dispatch import (
    DEFAULT_DEFER_POLICY,
    DEFAULT_HOLD_LIMIT,
    DEFAULT_TIMEOUT,
    Dispatcher,
    Pending,
    dead_letter,
    log_failure,
)
from framework.delivery.gate import EndpointGate, EndpointState, OnClose
from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy
from framework.delivery.stats import DeliveryStats
from framework.errors import ActionkitError, EventError

DEFAULT_DEAD_LETTERS = Path(".actionkit") / "dead-letters.sqlite"
"""Where failed deliveries are kept unless the router is told otherwise."""

DEFAULT_CONCURRENCY = 64
"""How many events ``route_many`` keeps in flight at once, by default."""

DEFAULT_RETRY_FOR = 600.0
"""Seconds a delivery that fails retryably is tried again, from its first try, by default."""

T = TypeVar("T")

InstanceSource = Instance | str | Path | Mapping[str, Any]


def _as_instance(source: InstanceSource) -> Instance:
    return source if isinstance(source, Instance) else load_instance(source)


def _message_id(event: Any) -> str | None:
    value = event.get("messageId") if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


def _immediate(plan: Planned, event: Any, *, dry_run: bool) -> Delivery | None:
    """The delivery of a plan that needs no sending, or None when it must be sent."""
    if plan.status == "not_subscribed":  # the most common by far: built without a dict
        return Delivery(
            plan.instance, plan.mapping, plan.action, "not_subscribed", _message_id(event)
        )
    common: dict[str, Any] = {
        "instance": plan.instance,
        "mapping": plan.mapping,
        "action": plan.action,
        "message_id": _message_id(event),
    }
    if plan.status == "filtered":
        return Delivery(outcome="filtered", reason=plan.reason, **common)
    if plan.status == "invalid":
        first = plan.errors[0] if plan.errors else None
        return Delivery(
            outcome="invalid",
            error_code=first.code if first else None,
            error_message=" ".join(error.message for error in plan.errors) or None,
            errors=tuple(error.to_dict() for error in plan.errors),
            **common,
        )
    if dry_run:
        request = plan.request.redacted() if plan.request is not None else None
        return Delivery(outcome="dry_run", request=request, **common)
    return None


class Router:
    """Routes Segment events through destination instances and delivers the requests.

    ``instances``: :class:`Instance` objects, or paths/dicts to load them from.
    ``dry_run``: build every request and send nothing. ``dead_letters``: a path (default
    ``.actionkit/dead-letters.sqlite``), a :class:`DeadLetterStore`, or ``None`` for none.
    ``timeout``: seconds for connecting and for an answer (an instance's ``delivery`` block
    overrides it). ``batch_window``: seconds an idle batch waits for more events before
    sending, for every action (default: each action's ``batch.windowMs``; 0: batches form only
    while the batch's previous request is in flight). A batch gathers the events of every user
    whose events share its key, each user's consecutive and in order.
    ``batching=False`` sends every event in a request of its own, each user's still in order.
    ``retry_for``: the horizon, seconds from a delivery's first try until it is given up on
    (default :data:`DEFAULT_RETRY_FOR`, with no limit on the number of tries; an instance's
    ``delivery.maxAttempts`` and ``deadline`` override it); ``retry``: the whole policy,
    overriding ``retry_for``. ``defer_policy``: the short try of defer mode, and
    ``hold_limit``: the seconds a delivery in defer mode may wait for a paused or open
    endpoint (see :meth:`aroute`). ``concurrency``: events ``route_many`` keeps in flight.
    ``transport``: an httpx transport (tests use :class:`httpx.MockTransport`). ``seed``:
    seeds the retry jitter. ``gate``: the endpoints' pauses, circuit breakers and adaptive
    rates (default: an :class:`~framework.delivery.gate.EndpointGate` with its defaults; give
    one to tune the breaker).
    """

    def __init__(
        self,
        instances: Iterable[InstanceSource],
        *,
        dry_run: bool = False,
        dead_letters: str | Path | DeadLetterStore | None = DEFAULT_DEAD_LETTERS,
        retry: RetryPolicy | None = None,
        retry_for: float | None = None,
        defer_policy: RetryPolicy = DEFAULT_DEFER_POLICY,
        hold_limit: float = DEFAULT_HOLD_LIMIT,
        timeout: float = DEFAULT_TIMEOUT,
        batch_window: float | None = None,
        batching: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
        gate: EndpointGate | None = None,
    ) -> None:
        self.instances: tuple[Instance, ...] = tuple(_as_instance(i) for i in instances)
        names = [instance.name for instance in self.instances]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"Instance names must be unique; repeated: {', '.join(duplicates)}.")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.dry_run = dry_run
        self.concurrency = concurrency
        if retry_for is not None and retry_for <= 0:
            raise ValueError("retry_for must be positive")
        if hold_limit < 0:
            raise ValueError("hold_limit must not be negative")
        self._retry = retry or RetryPolicy(
            max_attempts=None,
            deadline=retry_for if retry_for is not None else DEFAULT_RETRY_FOR,
        )
        self._defer_policy = defer_policy
        self._hold_limit = hold_limit
        self._timeout = timeout
        self._batch_window = batch_window
        self._batching = batching
        self._transport = transport
        self._seed = seed
        self._owns_store = not isinstance(dead_letters, DeadLetterStore)
        self._dead_letters_source = dead_letters
        self.dead_letters: DeadLetterStore | None = None
        self._stats = DeliveryStats()
        self._dispatcher: Dispatcher | None = None
        self._gate = gate if gate is not None else EndpointGate()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def _start(self) -> None:
        if self._dispatcher is not None:
            return
        source = self._dead_letters_source
        if isinstance(source, DeadLetterStore):
            self.dead_letters = source
        elif source is not None and not self.dry_run:
            self.dead_letters = DeadLetterStore(source)
        self._dispatcher = Dispatcher(
            retry=self._retry,
            timeout=self._timeout,
            dead_letters=self.dead_letters,
            stats=self._stats,
            batch_window=self._batch_window,
            batching=self._batching,
            transport=self._transport,
            seed=self._seed,
            defer_policy=self._defer_policy,
            hold_limit=self._hold_limit,
            gate=self._gate,
        )

    async def _close(self) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.aclose()
            self._dispatcher = None
        if self.dead_letters is not None and self._owns_store:
            self.dead_letters.close()
            self.dead_letters = None

    async def __aenter__(self) -> Router:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    def __enter__(self) -> Router:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="actionkit-router", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        self._call(self._start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None

    def _call(self, coroutine: Any) -> Any:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("Use the sync API inside `with Router(...) as router:`.")
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    # -- routing -------------------------------------------------------------------------

    async def aroute(
        self,
        event: Any,
        *,
        only: tuple[str, str] | None = None,
        dead_letter: bool = True,
        instances: Collection[str] | None = None,
        skip: Collection[tuple[str, str]] = (),
        defer: bool = False,
    ) -> list[Delivery]:
        """Route one event through every instance; one Delivery per enabled subscription.

        ``instances`` (names) restricts routing to those instances, as a write key's routes
        do; ``only`` (instance name, mapping name) restricts it to one subscription, as a
        replay does; ``skip`` lists (instance name, mapping name) pairs that ended on an
        earlier try: they are not sent or returned. ``dead_letter=False`` keeps failures out
        of the dead-letter store. A malformed event gives one ``invalid`` Delivery per
        instance.

        ``defer=True`` is for queue consumers, which keep the event and try it again later:
        a delivery still failing retryably after the short defer policy (or held at the gate
        longer than ``hold_limit``) comes back ``retryable_failure`` with ``retry_after``,
        not dead-lettered, and the later requests of its user in this router come back
        ``held``, unsent, while it has any waiting. Permanent failures are dead-lettered as
        usual. Give one up with :meth:`bury`.
        """
        await self._start()
        return await _collect(
            self._submit(
                event,
                only=only,
                dead_letter=dead_letter,
                instances=instances,
                skip=skip,
                defer=defer,
            )
        )

    def _submit(
        self,
        event: Any,
        *,
        only: tuple[str, str] | None = None,
        dead_letter: bool = True,
        instances: Collection[str] | None = None,
        skip: Collection[tuple[str, str]] = (),
        defer: bool = False,
    ) -> list[Delivery | asyncio.Future[Delivery]]:
        """Plan ``event`` and hand what must be sent to the dispatcher, on the running loop:
        each subscription's Delivery, or the future that will get it."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            raise RuntimeError("the router is closed")
        loop = asyncio.get_running_loop()
        results: list[Delivery | asyncio.Future[Delivery]] = []
        for instance in self.instances:
            if only is not None and instance.name != only[0]:
                continue
            if instances is not None and instance.name not in instances:
                continue
            try:
                plans = instance.plan(event)
            except EventError as exc:
                delivery = Delivery(
                    instance=instance.name,
                    mapping="",
                    action="",
                    outcome="invalid",
                    message_id=_message_id(event),
                    error_code=exc.code,
                    error_message=exc.message,
                    errors=({"pointer": exc.pointer, "code": exc.code, "message": exc.message},),
                )
                self._stats.record(instance.name, "", "invalid", None)
                results.append(delivery)
                continue
            for plan in plans:
                if only is not None and plan.mapping != only[1]:
                    continue
                if (instance.name, plan.mapping) in skip:
                    continue
                immediate = _immediate(plan, event, dry_run=self.dry_run)
                if immediate is not None:
                    self._stats.record(instance.name, plan.action, immediate.outcome, None)
                    results.append(immediate)
                    continue
                future: asyncio.Future[Delivery] = loop.create_future()
                dispatcher.submit(
                    Pending(instance, plan, event, future, dead_letter=dead_letter, defer=defer)
                )
                results.append(future)
        return results

    def route(self, event: Any) -> list[Delivery]:
        """Sync :meth:`aroute` (inside ``with Router(...) as router:``)."""
        result: list[Delivery] = self._call(self.aroute(event))
        return result

    async def aroute_many(
        self, events: Iterable[Any] | AsyncIterable[Any], *, concurrency: int | None = None
    ) -> AsyncIterator[list[Delivery]]:
        """Route a stream of events, at most ``concurrency`` in flight; results in order."""
        limit = concurrency or self.concurrency
        await self._start()
        # Each event is planned and submitted as it comes, without a task of its own (a task
        # per event cost more than the rest of routing it); its results are awaited in order.
        window: deque[list[Delivery | asyncio.Future[Delivery]]] = deque()
        async for event in _aiter(events):
            try:
                window.append(self._submit(event))
            except Exception as exc:  # raised where aroute would have raised it: in order
                failed: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                window.append([failed])
            if len(window) >= limit:
                yield await _collect(window.popleft())
        while window:
            yield await _collect(window.popleft())

    def route_many(
        self, events: Iterable[Any], *, concurrency: int | None = None
    ) -> Iterator[list[Delivery]]:
        """Sync :meth:`aroute_many`: yields each event's deliveries, in input order.

        The events are routed by :meth:`aroute_many` on the router's loop, handed over in
        chunks, and their deliveries come back in batches. ``events`` is read in this thread,
        at most twice ``concurrency`` events ahead of what has been yielded (``concurrency``
        of them in flight); every event read is routed, even when the caller stops early. An
        error routing an event is raised in place of its deliveries; an error reading
        ``events`` is raised where reading one event at a time would have raised it (after
        the deliveries of all but the last ``concurrency - 1`` events read before it).
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("Use the sync API inside `with Router(...) as router:`.")
        limit = concurrency or self.concurrency
        bridge = Bridge(loop)
        asyncio.run_coroutine_threadsafe(self._aroute_bridged(bridge, limit), loop)
        iterator = iter(events)
        read = yielded = 0
        closed = False
        failure: Exception | None = None  # reading ``events`` raised it
        fail_after = 0  # deliveries yielded before ``failure`` is raised
        try:
            while True:
                chunk: list[Any] = []
                while not closed and read - yielded < 2 * limit:
                    try:
                        chunk.append(next(iterator))
                    except StopIteration:
                        closed = True
                    except Exception as exc:  # raised below, where it would have been
                        failure, fail_after, closed = exc, max(0, read - limit + 1), True
                    else:
                        read += 1
                if chunk or closed:
                    bridge.send(chunk, close=closed)
                if failure is not None and yielded >= fail_after:
                    raise failure
                if yielded == read:
                    return
                for deliveries, error in bridge.receive():
                    if error is not None:
                        raise error
                    yield deliveries
                    yielded += 1
                    if failure is not None and yielded >= fail_after:
                        raise failure
        finally:
            if not closed:
                bridge.send([], close=True)

    async def _aroute_bridged(self, bridge: Bridge, limit: int) -> None:
        """Route what ``bridge`` brings with :meth:`aroute_many`; its results go back."""
        try:
            async for deliveries in self.aroute_many(bridge.events(), concurrency=limit):
                bridge.put(deliveries)
        except BaseException as exc:  # the caller raises it in place of the next results
            bridge.fail(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            bridge.finish()

    # -- dead letters and stats ----------------------------------------------------------

    def bury(self, event: Any, delivery: Delivery) -> Delivery:
        """Give up on a ``retryable_failure`` of defer mode: store it as a dead letter.

        Returns the ``dead_lettered`` Delivery (with its ``dead_letter_id``); with no
        dead-letter store, or for any other outcome, ``delivery`` unchanged.
        """
        store = self.dead_letters
        if store is None or delivery.outcome != "retryable_failure":
            return delivery
        buried = dead_letter(store, event, delivery)
        self._stats.record(buried.instance, buried.action, buried.outcome, None)
        log_failure(buried)
        return buried

    def endpoints(self) -> list[EndpointState]:
        """The endpoints held (paused, circuit open), slowed, or seen failing lately.

        For ``/health``, ``/metrics`` and progress lines; empty before the router starts.
        Safe to call from any thread.
        """
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and threading.current_thread() is not thread:
            # The gate lives on the router's loop: read it there, not under its feet.
            future = asyncio.run_coroutine_threadsafe(self._aendpoints(), loop)
            try:
                return future.result(timeout=5.0)
            except (TimeoutError, RuntimeError):  # the router is closing
                future.cancel()
                return []
        dispatcher = self._dispatcher
        return dispatcher.endpoints() if dispatcher is not None else []

    def on_endpoint_closed(self, listener: OnClose) -> Callable[[], None]:
        """Call ``listener(endpoint)`` each time an endpoint's circuit closes (a probe
        succeeded: the destination is back); returns what detaches it.

        Called on the router's loop, which may be another thread than the caller's (the
        sync API runs one of its own).
        """
        return self._gate.on_close(listener)

    async def _aendpoints(self) -> list[EndpointState]:
        dispatcher = self._dispatcher
        return dispatcher.endpoints() if dispatcher is not None else []

    async def areplay(self, ids: Iterable[int] | None = None) -> list[tuple[DeadLetter, Delivery]]:
        """Send dead letters again; a letter whose delivery succeeds leaves the store.

        A letter that fails again stays, with the new error and its attempts added.

        A letter for an instance or mapping this router does not have is left as it is.
        """
        await self._start()
        store = self.dead_letters
        if store is None:
            raise ActionkitError("This router has no dead-letter store to replay from.")
        letters = (
            store.list()
            if ids is None
            else [letter for letter in (store.get(i) for i in ids) if letter is not None]
        )
        replayed: list[tuple[DeadLetter, Delivery]] = []
        for letter in letters:
            deliveries = await self._areplay_one(letter)
            for delivery in deliveries:
                replayed.append((letter, delivery))
        return replayed

    async def _areplay_one(self, letter: DeadLetter) -> list[Delivery]:
        store = self.dead_letters
        if store is None or letter.id is None:  # pragma: no cover - checked by areplay
            return []
        deliveries = await self.aroute(
            letter.event, only=(letter.instance, letter.mapping), dead_letter=False
        )
        if deliveries and all(d.outcome == "delivered" for d in deliveries):
            store.remove(letter.id)
            return deliveries
        failed = next((d for d in deliveries if d.outcome != "delivered"), None)
        if failed is not None and failed.error_code is not None:
            store.record_retry(
                letter.id,
                error_code=failed.error_code,
                error_message=failed.error_message or "",
                attempts=failed.attempts,
                status=failed.status,
            )
        return deliveries

    def replay(self, ids: Iterable[int] | None = None) -> list[tuple[DeadLetter, Delivery]]:
        """Sync :meth:`areplay`."""
        result: list[tuple[DeadLetter, Delivery]] = self._call(self.areplay(ids))
        return result

    def stats(self) -> dict[str, Any]:
        """Counts of each outcome and delivery latency (p50, p99), by instance and action."""
        return {"totals": self._stats.outcome_counts(), "by_instance": self._stats.snapshot()}


async def _collect(results: list[Delivery | asyncio.Future[Delivery]]) -> list[Delivery]:
    """The deliveries of one event, once every one of them has ended."""
    return [item if isinstance(item, Delivery) else await item for item in results]


async def _aiter(events: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(events, AsyncIterable):
        async for event in events:
            yield event
    else:
        for event in itertools.chain(events):
            yield event
