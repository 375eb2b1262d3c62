"""The queue consumer: acks an entry only once every delivery of it has ended."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import httpx
import pytest

import framework.queue.consumer as consumer_module
from framework import RetryPolicy, Router, load_instance
from framework.delivery.deadletter import DeadLetterStore
from framework.queue import Entry, QueueBackoff, QueuedEvent, Retrying, consume, finish_within

ONE_TRY = RetryPolicy(max_attempts=1)
QUICK = QueueBackoff(base=0.001, cap=0.001)


class MemoryQueue:
    """An in-memory EventQueue for these tests: entries handed out once until failed."""

    def __init__(self, max_tries: int = 3) -> None:
        self.max_tries = max_tries
        self.stored: dict[str, QueuedEvent] = {}
        self.ready: list[str] = []
        self.tries: dict[str, int] = {}
        self.acked: list[str] = []
        self.dead: dict[str, str] = {}
        self.deferred: list[tuple[str, QueuedEvent, float]] = []
        self._ids = itertools.count()

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        ids = [str(next(self._ids)) for _ in items]
        for entry_id, item in zip(ids, items, strict=True):
            self.stored[entry_id] = item
            self.ready.append(entry_id)
        return ids

    async def put_events(self, events: list[dict[str, Any]], instances: tuple[str, ...]) -> None:
        await self.put([QueuedEvent(event, instances) for event in events])

    async def take(self, max_count: int, *, block: float = 1.0) -> list[Entry]:
        if not self.ready:
            await asyncio.sleep(min(block, 0.01))
            return []
        taken, self.ready = self.ready[:max_count], self.ready[max_count:]
        entries = []
        for entry_id in taken:
            self.tries[entry_id] = self.tries.get(entry_id, 0) + 1
            entries.append(Entry(entry_id, self.stored[entry_id], self.tries[entry_id]))
        return entries

    async def ack(self, ids: list[str]) -> None:
        for entry_id in ids:
            del self.stored[entry_id]
            self.acked.append(entry_id)

    async def fail(self, entry: Entry, error: str) -> None:
        if entry.tries >= self.max_tries:
            del self.stored[entry.id]
            self.dead[entry.id] = error
        else:
            self.ready.append(entry.id)

    async def defer(self, entry: Entry, item: QueuedEvent, *, at: float) -> None:
        # Handed out again at once (the tests' backoffs are short); the time is recorded.
        self.stored[entry.id] = item
        self.deferred.append((entry.id, item, at))
        self.tries[entry.id] -= 1
        self.ready.append(entry.id)

    async def waiting(self) -> int:
        return 0

    async def depth(self) -> int:
        return len(self.stored)

    async def close(self) -> None:
        return None


def instance(name: str) -> Any:
    return load_instance(
        {
            "destination": "contentstack",
            "name": name,
            "settings": {
                "personalizeProjectId": "p",
                "personalizeEdgeApiBaseUrl": "https://edge.example.com",
            },
            "mappings": [{"name": "events", "preset": "events-sync"}],
        }
    )


def track(user: str, name: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name}


async def drain(router: Router, queue: MemoryQueue, **options: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(router, queue, stop, block=0.01, **options))
    while await queue.depth():
        await asyncio.sleep(0.01)
    stop.set()
    await task


def test_entries_are_acked_after_delivery_in_queue_order() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.extend(item["eventKey"] for item in json.loads(request.read()))
        return httpx.Response(200, json={})

    async def scenario() -> MemoryQueue:
        queue = MemoryQueue()
        await queue.put([QueuedEvent(track("u1", f"E{i}")) for i in range(20)])
        transport = httpx.MockTransport(answer)
        async with Router([instance("a")], dead_letters=None, transport=transport) as router:
            await drain(router, queue, in_flight=4)
        return queue

    queue = asyncio.run(scenario())
    assert sorted(queue.acked, key=int) == [str(i) for i in range(20)]
    assert sent == [f"E{i}" for i in range(20)]  # one user's events keep the queue's order


def test_a_retryable_failure_waits_in_the_queue_and_is_tried_again() -> None:
    calls = itertools.count()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if next(calls) < 2 else 200, json={})

    async def scenario() -> MemoryQueue:
        queue = MemoryQueue(max_tries=1)  # a deferred try is not a failed one
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(answer)
        async with Router(
            [instance("a")],
            dead_letters=None,
            transport=transport,
            defer_policy=ONE_TRY,
            hold_limit=0,
        ) as router:
            await drain(router, queue, retrying=Retrying(backoff=QUICK))
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == ["0"]
    assert queue.dead == {}
    retries = [(item.retries, item.last_error) for _, item, _ in queue.deferred]
    assert [count for count, _ in retries] == [1, 2]
    assert all("a/events" in (error or "") and "503" in (error or "") for _, error in retries)
    firsts = {item.first_failed_at for _, item, _ in queue.deferred}
    assert len(firsts) == 1  # the horizon counts from the first failure, kept across tries


def test_past_its_horizon_a_delivery_is_dead_lettered_and_the_entry_acked(
    tmp_path: Any,
) -> None:
    async def scenario() -> tuple[MemoryQueue, int]:
        queue = MemoryQueue()
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(lambda request: httpx.Response(503, json={}))
        store = DeadLetterStore(tmp_path / "dead.sqlite")
        async with Router(
            [instance("a")],
            dead_letters=store,
            transport=transport,
            defer_policy=ONE_TRY,
            hold_limit=0,
        ) as router:
            await drain(router, queue, retrying=Retrying(backoff=QUICK, retry_for=0.05))
        letters = len(store.list())
        store.close()
        return queue, letters

    queue, letters = asyncio.run(scenario())
    assert queue.acked == ["0"]
    assert letters == 1
    assert queue.deferred  # it waited first


def test_past_its_horizon_with_no_store_the_entry_ends_in_the_queues_dead_entries() -> None:
    async def scenario() -> MemoryQueue:
        queue = MemoryQueue(max_tries=2)
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(lambda request: httpx.Response(503, json={}))
        async with Router(
            [instance("a")],
            dead_letters=None,
            transport=transport,
            defer_policy=ONE_TRY,
            hold_limit=0,
        ) as router:
            await drain(router, queue, retrying=Retrying(backoff=QUICK, retry_for=0.05))
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == []
    assert "retryable_failure" in queue.dead["0"]


def test_an_instance_s_retry_for_is_its_horizon() -> None:
    async def scenario() -> MemoryQueue:
        queue = MemoryQueue(max_tries=1)
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(lambda request: httpx.Response(503, json={}))
        short = load_instance(
            {
                "destination": "contentstack",
                "name": "a",
                "settings": {
                    "personalizeProjectId": "p",
                    "personalizeEdgeApiBaseUrl": "https://edge.example.com",
                },
                "mappings": [{"name": "events", "preset": "events-sync"}],
                "delivery": {"retryFor": "50ms"},
            }
        )
        async with Router(
            [short], dead_letters=None, transport=transport, defer_policy=ONE_TRY, hold_limit=0
        ) as router:
            # The consumer's default horizon is hours: only the instance's makes this end.
            await drain(router, queue, retrying=Retrying(backoff=QUICK))
        return queue

    queue = asyncio.run(scenario())
    assert list(queue.dead) == ["0"]


def test_a_subscription_that_ended_is_not_sent_again_on_the_next_try() -> None:
    paths: list[str] = []
    patches = itertools.count()

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("user-attributes") and next(patches) == 0:
            return httpx.Response(503, json={})
        return httpx.Response(200, json={})

    async def scenario() -> MemoryQueue:
        both = load_instance(
            {
                "destination": "contentstack",
                "name": "a",
                "settings": {
                    "personalizeProjectId": "p",
                    "personalizeEdgeApiBaseUrl": "https://edge.example.com",
                },
                "mappings": [
                    {"name": "events", "preset": "events-sync"},
                    {"name": "traits", "preset": "custom-attributes-sync"},
                ],
            }
        )
        queue = MemoryQueue()
        await queue.put(
            [
                QueuedEvent(
                    {"type": "track", "userId": "u1", "event": "E", "context": {"traits": {"a": 1}}}
                )
            ]
        )
        transport = httpx.MockTransport(answer)
        async with Router(
            [both], dead_letters=None, transport=transport, defer_policy=ONE_TRY, hold_limit=0
        ) as router:
            await drain(router, queue, retrying=Retrying(backoff=QUICK))
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == ["0"]
    [(_, item, _)] = queue.deferred
    assert item.done == (("a", "events"),)
    assert sorted(paths) == sorted(["/events", "/user-attributes", "/user-attributes"])


def test_an_entry_routes_only_to_its_instances() -> None:
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.headers["x-project-uid"])
        return httpx.Response(200, json={})

    async def scenario() -> list[int]:
        queue = MemoryQueue()
        await queue.put([QueuedEvent(track("u1", "E"), ("b",))])
        handled: list[int] = []
        transport = httpx.MockTransport(answer)
        async with Router(
            [instance("a"), instance("b")], dead_letters=None, transport=transport
        ) as router:
            await drain(router, queue, on_handled=lambda e, ds: handled.append(len(ds)))
        return handled

    assert asyncio.run(scenario()) == [1]
    assert hosts == ["p"]


def test_in_flight_must_be_positive() -> None:
    async def scenario() -> None:
        async with Router([instance("a")], dead_letters=None, dry_run=True) as router:
            await consume(router, MemoryQueue(), asyncio.Event(), in_flight=0)

    with pytest.raises(ValueError, match="in_flight"):
        asyncio.run(scenario())


def test_cancelling_the_consumer_abandons_what_is_in_flight_without_acking_it() -> None:
    async def scenario() -> MemoryQueue:
        queue = MemoryQueue()
        await queue.put([QueuedEvent(track("u1", "E"))])
        never = asyncio.Event()

        async def hang(request: httpx.Request) -> httpx.Response:
            await never.wait()
            return httpx.Response(200)

        transport = httpx.MockTransport(hang)
        async with Router([instance("a")], dead_letters=None, transport=transport) as router:
            task = asyncio.create_task(consume(router, queue, asyncio.Event(), block=0.01))
            while not queue.tries:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
            never.set()
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == []
    assert "0" in queue.stored  # still stored: handed out again after the idle timeout


def test_an_accepted_event_that_is_invalid_is_acked_and_logged_with_its_problems(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> MemoryQueue:
        queue = MemoryQueue()
        # "josé" cannot be carried by the user header: the event is invalid at /userId.
        await queue.put([QueuedEvent(track("jos\u00e9", "E")), QueuedEvent(track("u2", "E"))])
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
        async with Router([instance("a")], dead_letters=None, transport=transport) as router:
            await drain(router, queue)
        return queue

    with caplog.at_level("WARNING", logger="actionkit.queue"):
        queue = asyncio.run(scenario())
    assert sorted(queue.acked) == ["0", "1"]
    invalid = [r for r in caplog.records if r.getMessage().startswith("event invalid")]
    assert len(invalid) == 1
    line = invalid[0].getMessage()
    assert "entry=0 " in line
    assert "/userId [REQUEST_NOT_BUILT]" in line
    assert "jos\u00e9" not in line  # the reason, never the value


def test_finish_within_gives_up_on_a_task_whose_cancellation_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stopping server or worker must exit even when a library swallows the cancellation.
    monkeypatch.setattr(consumer_module, "CANCEL_WAIT", 0.2)

    async def stubborn(release: asyncio.Event) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await release.wait()  # goes on as if never cancelled

    async def scenario() -> tuple[bool, bool]:
        release = asyncio.Event()
        task = asyncio.ensure_future(stubborn(release))
        left = await asyncio.wait_for(finish_within(task, 0.05), 30)  # bounds a hang only
        still_running = not task.done()
        release.set()
        await task
        return left, still_running

    assert asyncio.run(scenario()) == (True, True)
