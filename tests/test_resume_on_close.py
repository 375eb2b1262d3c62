"""Entries waiting for a retry go at once when a probe closes their endpoint's circuit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from framework import RetryPolicy, Router, load_instance
from framework.delivery.gate import EndpointGate
from framework.queue import QueueBackoff, QueuedEvent, Retrying, consume
from framework.queue.sqlite import SqliteQueue

USER_HEADER = "x-cs-personalize-user-uid"
INSTANCE = "resume"


def instance() -> Any:
    return load_instance(
        {
            "destination": "contentstack",
            "name": INSTANCE,
            "settings": {
                "personalizeProjectId": "p",
                "personalizeEdgeApiBaseUrl": "https://edge.example.com",
            },
            "mappings": [{"name": "events", "preset": "events-sync"}],
        }
    )


def track(user: str) -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": user, "event": "Viewed"}, (INSTANCE,))


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    """Wait for ``condition``; the timeout bounds a hang only."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_a_probe_that_closes_the_circuit_makes_the_waiting_entries_due(tmp_path: Path) -> None:
    down = True
    delivered: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(503)
        delivered.append(request.headers[USER_HEADER])
        return httpx.Response(200, json={})

    # The first failure opens the circuit; probes every 50 ms. Each failed delivery waits
    # 30 to 60 minutes in the queue: only the circuit's closing brings it back in this test.
    gate = EndpointGate(
        failure_threshold=1, failure_span=0.0, open_interval=0.05, max_open_interval=0.05
    )
    retrying = Retrying(backoff=QueueBackoff(base=3600.0, cap=3600.0))

    async def scenario() -> tuple[int, int]:
        nonlocal down
        router = Router(
            [instance()],
            dead_letters=tmp_path / "dead.sqlite",
            transport=httpx.MockTransport(answer),
            defer_policy=RetryPolicy(max_attempts=1),
            gate=gate,
        )
        async with router, SqliteQueue(tmp_path / "queue.sqlite") as queue:
            stop = asyncio.Event()
            consumer = asyncio.create_task(
                consume(router, queue, stop, block=0.05, retrying=retrying)
            )
            await queue.put([track("u1"), track("u2")])

            async def both_wait() -> bool:
                return await queue.waiting() == 2

            await until(both_wait, "both entries to wait for a retry")
            waited = await queue.waiting()
            down = False
            await queue.put([track("u3")])  # a new event: the probe that closes the circuit

            async def drained() -> bool:
                return await queue.depth() == 0

            await until(drained, "the waiting entries to be delivered")
            stop.set()
            await consumer
            return waited, await queue.waiting()

    waited, left = asyncio.run(scenario())
    assert waited == 2
    assert left == 0
    assert delivered[0] == "u3"  # the probe
    assert sorted(delivered[1:]) == ["u1", "u2"]  # then the backlog, at once
