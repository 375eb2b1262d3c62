"""The sync route_many runs aroute_many on the router's loop and keeps its promises.

Same results in the same order as aroute_many; at most ``concurrency`` events in flight; an
error routing an event is raised in place of its deliveries; an error reading the events is
raised where reading one at a time would have raised it; every event read is routed, even
when the caller stops early.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
    stream: list[Any] = []
    for index in range(count):
        kind = "identify" if index % 3 == 0 else "track"
        event: dict[str, Any] = {"type": kind, "userId": f"u{index % 7}", "messageId": f"m{index}"}
        if kind == "track":
            event["event"] = "E"
        else:
            event["traits"] = {"n": index}
        stream.append(event)
    stream.insert(5, "not an event")
    return stream


def shown(results: list[list[Any]]) -> list[list[tuple[Any, ...]]]:
    return [
        [(d.mapping, d.outcome, d.message_id, d.error_code, d.request) for d in deliveries]
        for deliveries in results
    ]


def drain(results: Iterator[list[Any]], into: list[list[Any]]) -> None:
    """Append each event's deliveries to ``into`` as they come (until an error)."""
    for deliveries in results:
        into.append(deliveries)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


def router(transport: httpx.AsyncBaseTransport, **options: Any) -> Router:
    return Router([make_instance()], dead_letters=None, transport=transport, **options)


def test_the_same_results_in_the_same_order_as_aroute_many() -> None:
    stream = events(50)

    async def routed_async() -> list[list[Any]]:
        async with router(httpx.MockTransport(ok), batching=False) as r:
            return [deliveries async for deliveries in r.aroute_many(stream, concurrency=4)]

    expected = asyncio.run(routed_async())
    with router(httpx.MockTransport(ok), batching=False) as r:
        got = list(r.route_many(stream, concurrency=4))
    assert shown(got) == shown(expected)
    assert len(got) == len(stream)


def test_every_event_is_delivered_in_order_with_concurrency_bounding_the_events_in_flight() -> None:
    in_flight = 0
    most = 0
    sent: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        sent.append(request.content.decode())
        await asyncio.sleep(0.002)
        in_flight -= 1
        return httpx.Response(200, json={})

    stream = [e for e in events(60) if isinstance(e, dict)]
    with router(httpx.MockTransport(handler), batching=False) as r:
        got = list(r.route_many(stream, concurrency=5))
    assert [d[0].message_id for d in got] == [e["messageId"] for e in stream]
    delivered = [d for deliveries in got for d in deliveries if d.outcome == "delivered"]
    assert len(delivered) == len(stream) == len(sent)
    assert most <= 5


def test_an_error_routing_an_event_is_raised_in_place_of_its_deliveries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = [e for e in events(20) if isinstance(e, dict)]
    instance = make_instance()
    original = Instance.plan

    def plan(self: Instance, event: Any) -> Any:
        if event.get("messageId") == "m9":
            raise LookupError("boom")
        return original(self, event)

    monkeypatch.setattr(Instance, "plan", plan)
    got: list[list[Any]] = []
    with (
        Router([instance], dead_letters=None, transport=httpx.MockTransport(ok)) as r,
        pytest.raises(LookupError, match="boom"),
    ):
        drain(r.route_many(stream, concurrency=3), got)
    assert [d[0].message_id for d in got] == [f"m{i}" for i in range(9)]


def failing(count: int, error: Exception) -> Iterator[Any]:
    yield from [e for e in events(count) if isinstance(e, dict)]
    raise error


@pytest.mark.parametrize("concurrency", [1, 3, 8, 40])
def test_an_error_reading_the_events_comes_where_one_at_a_time_would_raise_it(
    concurrency: int,
) -> None:
    got: list[list[Any]] = []
    with (
        router(httpx.MockTransport(ok)) as r,
        pytest.raises(ValueError, match="bad input"),
    ):
        drain(r.route_many(failing(20, ValueError("bad input")), concurrency=concurrency), got)
    # reading event 20 raises after the deliveries of all but the last concurrency - 1
    assert len(got) == max(0, 20 - concurrency + 1)


def test_every_event_read_is_routed_when_the_caller_stops_early() -> None:
    read: list[str] = []
    sent: list[bytes] = []
    stream = [e for e in events(40) if isinstance(e, dict)]

    def reading() -> Iterator[Any]:
        for event in stream:
            read.append(event["messageId"])
            yield event

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json={})

    with router(httpx.MockTransport(handler), batching=False) as r:
        for _ in r.route_many(reading(), concurrency=4):
            break
    # closing the router waited for what was in flight
    read_events = [e for e in stream if e["messageId"] in read]
    assert len(read) <= 1 + 2 * 4
    assert len(sent) == len(read_events)  # one request each


def test_outside_the_with_block_it_says_so() -> None:
    r = router(httpx.MockTransport(ok))
    with pytest.raises(RuntimeError, match="with Router"):
        next(iter(r.route_many(events(2))))
