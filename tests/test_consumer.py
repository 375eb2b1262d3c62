"""The queue consumer: acks an entry only once every delivery of it has ended."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest

from framework import RetryPolicy, Router, load_instance
from framework.queue import Entry, QueuedEvent, consume

ONE_TRY = RetryPolicy(max_attempts=1)


class MemoryQueue:
    """An in-memory EventQueue for these tests: entries handed out once until failed."""

    def __init__(self, max_tries: int = 3) -> None:
        self.max_tries = max_tries
        self.stored: dict[str, QueuedEvent] = {}
        self.ready: list[str] = []
        self.tries: dict[str, int] = {}
        self.acked: list[str] = []
        self.dead: dict[str, str] = {}
        self._ids = itertools.count()

    async def put(self, items: list[QueuedEvent]) -> list[str]:
        ids = [str(next(self._ids)) for _ in items]
        for entry_id, item in zip(ids, items, strict=True):
            self.stored[entry_id] = item
            self.ready.append(entry_id)
        return ids

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


def test_an_entry_whose_delivery_failed_with_nowhere_to_keep_it_is_given_back() -> None:
    calls = itertools.count()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if next(calls) < 2 else 200, json={})

    async def scenario() -> MemoryQueue:
        queue = MemoryQueue(max_tries=5)
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(answer)
        async with Router(
            [instance("a")], dead_letters=None, transport=transport, retry=ONE_TRY
        ) as router:
            await drain(router, queue)
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == ["0"]
    assert queue.tries["0"] == 3  # two 503s given back, the third try delivered


def test_an_entry_that_keeps_failing_ends_in_the_queues_dead_letters() -> None:
    async def scenario() -> MemoryQueue:
        queue = MemoryQueue(max_tries=2)
        await queue.put([QueuedEvent(track("u1", "E"))])
        transport = httpx.MockTransport(lambda request: httpx.Response(503, json={}))
        async with Router(
            [instance("a")], dead_letters=None, transport=transport, retry=ONE_TRY
        ) as router:
            await drain(router, queue)
        return queue

    queue = asyncio.run(scenario())
    assert queue.acked == []
    assert "retryable_failure" in queue.dead["0"]


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
