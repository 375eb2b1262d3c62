"""Routing a stream without a task per event keeps what aroute_many promised.

Results come in input order, one list per event, with every subscription's Delivery; at most
``concurrency`` events are in flight; a malformed event gives its ``invalid`` Delivery at its
own place; and a router used after closing starts again, as aroute does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from framework import Instance, Router, load_instance


def make_instance() -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": "cs",
            "settings": {
                "personalizeProjectId": "proj",
                "personalizeEdgeApiBaseUrl": "https://edge.example",
            },
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {
                    "name": "attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                },
            ],
        }
    )


def events(count: int) -> list[Any]:
    return [
        {"type": "track", "userId": f"u{index}", "event": "E", "messageId": f"m{index}"}
        for index in range(count)
    ]


def test_results_come_in_input_order_and_concurrency_bounds_the_events_in_flight() -> None:
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={})

    stream: list[Any] = events(30)
    stream.insert(7, "not an event")

    async def main() -> list[list[Any]]:
        async with Router(
            [make_instance()],
            dead_letters=None,
            batching=False,
            concurrency=4,
            transport=httpx.MockTransport(handler),
        ) as router:
            return [deliveries async for deliveries in router.aroute_many(stream)]

    results = asyncio.run(main())
    assert len(results) == 31
    assert [d.outcome for d in results[7]] == ["invalid"]
    sent = [deliveries for index, deliveries in enumerate(results) if index != 7]
    assert [[d.mapping for d in deliveries] for deliveries in sent] == [
        ["events", "attributes"]
    ] * 30
    assert [deliveries[0].message_id for deliveries in sent] == [f"m{i}" for i in range(30)]
    assert all(deliveries[0].outcome == "delivered" for deliveries in sent)
    assert all(deliveries[1].outcome == "not_subscribed" for deliveries in sent)
    assert 1 < most <= 4


def test_the_sync_stream_gives_the_same_results() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with Router([make_instance()], dead_letters=None, transport=transport) as router:
        outcomes = [[d.outcome for d in found] for found in router.route_many(events(10))]
    assert outcomes == [["delivered", "not_subscribed"]] * 10


def test_a_closed_router_starts_again_for_a_stream_as_aroute_does() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))

    async def main() -> None:
        router = Router([make_instance()], dead_letters=None, transport=transport)
        async with router:
            found = [d async for d in router.aroute_many(events(2))]
            assert len(found) == 2
        # Used again after closing, it starts again (as aroute does).
        again = [d async for d in router.aroute_many(events(1))]
        assert [d.outcome for d in again[0]] == ["delivered", "not_subscribed"]
        await router._close()

    asyncio.run(main())


def test_an_event_that_fails_to_plan_raises_at_its_place() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    instance = make_instance()

    class Exploding(Router):
        def _submit(self, event: Any, **options: Any) -> Any:
            if event.get("messageId") == "m2":
                raise RuntimeError("boom")
            return super()._submit(event, **options)

    seen: list[str] = []

    async def main() -> None:
        async with Exploding([instance], dead_letters=None, transport=transport) as router:
            async for deliveries in router.aroute_many(events(5), concurrency=10):
                seen.append(deliveries[0].message_id or "")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(main())
    assert seen == ["m0", "m1"]
