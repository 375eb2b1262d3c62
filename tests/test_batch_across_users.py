"""A batch action whose key is the same for every user gathers many users' events in a request.

The lanes' promise holds inside and across those requests: a user's events are consecutive and
in their order inside one request, and a user's later event is never sent before an earlier
one (of any mapping) has ended. Retries and dead letters of a failed batch stay per event.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from framework import Router, load_instance
from framework.definitions import Instance
from framework.delivery.deadletter import DeadLetterStore
from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, deadline=30.0)

FIELDS = {
    "user": {"label": "User", "type": "string", "required": True, "default": {"@path": "$.userId"}},
    "name": {"label": "Name", "type": "string", "required": True, "default": {"@path": "$.event"}},
}


def definition(max_count: int) -> dict[str, Any]:
    """A destination with a batch action keyed by a setting (every user shares the key) and a
    one-event action, both to the same API."""
    body = [{"user": {"@path": "$.payload.user"}, "name": {"@path": "$.payload.name"}}]
    return {
        "name": "Hooks",
        "slug": "hooks",
        "settings": {"baseUrl": {"label": "Base URL", "type": "string", "required": True}},
        "actions": {
            "many": {
                "title": "Many",
                "defaultTrigger": 'type = "track"',
                "fields": FIELDS,
                "request": {"method": "POST", "url": "{{settings.baseUrl}}/many", "body": body},
                "batch": {
                    "key": "{{settings.baseUrl}}",
                    "maxCount": max_count,
                    "combine": "concat",
                },
            },
            "one": {
                "title": "One",
                "defaultTrigger": 'type = "identify"',
                "fields": FIELDS,
                "request": {"method": "POST", "url": "{{settings.baseUrl}}/one", "body": body},
            },
        },
    }


def make_instance(folder: Path, *, max_count: int = 100, name: str = "hooks") -> Instance:
    path = folder / "hooks" / "destination.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(definition(max_count), sort_keys=False), encoding="utf-8")
    return load_instance(
        {
            "destination": str(path),
            "name": name,
            "settings": {"baseUrl": "https://hooks.example"},
            "mappings": [
                {"name": "Many", "action": "many"},
                {"name": "One", "action": "one", "trigger": 'type = "identify"'},
            ],
        }
    )


def track(user: str, name: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name, "messageId": f"{user}/{name}"}


def identify(user: str, name: str) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "event": name, "messageId": f"{user}/{name}"}


class Api:
    """Records each request's items (user, name) and answers from ``answer``, after
    ``delay`` seconds; checks at each request that every earlier event of its users ended."""

    def __init__(self, order: dict[str, list[str]] | None = None, delay: float = 0.0) -> None:
        self.requests: list[tuple[str, list[tuple[str, str]]]] = []
        self.ended: set[tuple[str, str]] = set()
        self.order = order or {}
        self.delay = delay
        self.rng = random.Random(5)
        self.status: dict[tuple[str, str], int] = {}  # an event's item answered this status
        self.failures_left = 0  # the first requests answered 503
        self.violations: list[str] = []

    def check_order(self, items: list[tuple[str, str]]) -> None:
        seen: set[tuple[str, str]] = set()
        for user, name in items:
            names = self.order.get(user, [])
            for earlier in names[: names.index(name)] if name in names else []:
                if (user, earlier) not in self.ended and (user, earlier) not in seen:
                    self.violations.append(f"{user}/{name} sent before {user}/{earlier} ended")
            seen.add((user, name))

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        items = [(item["user"], item["name"]) for item in json.loads(request.content)]
        self.check_order(items)
        self.requests.append((request.url.path, items))
        if self.delay:
            await asyncio.sleep(self.rng.uniform(0, self.delay))
        if self.failures_left > 0:
            self.failures_left -= 1
            return httpx.Response(503, json={"error": "busy"})
        refused = [self.status[item] for item in items if item in self.status]
        if refused:
            return httpx.Response(refused[0], json={"error": "refused"})
        self.ended.update(items)
        return httpx.Response(200, json={"ok": True})


async def route_all(
    router: Router, events: list[dict[str, Any]], gap: float = 0.0
) -> list[list[Delivery]]:
    """Route ``events`` at once (each an ``aroute`` of its own), ``gap`` seconds apart."""
    tasks = []
    for event in events:
        tasks.append(asyncio.ensure_future(router.aroute(event)))
        if gap:
            await asyncio.sleep(gap)
    return list(await asyncio.gather(*tasks))


def sent(results: list[list[Delivery]]) -> list[Delivery]:
    """The deliveries of subscribed mappings, in event order (a track has no One delivery)."""
    return [d for per_event in results for d in per_event if d.outcome != "not_subscribed"]


def interleaved(users: int, per_user: int) -> list[dict[str, Any]]:
    return [track(f"u{u}", f"e{i}") for i in range(per_user) for u in range(users)]


def test_one_request_gathers_the_events_of_many_users(tmp_path: Path) -> None:
    api = Api()
    instance = make_instance(tmp_path)
    events = interleaved(users=5, per_user=2)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=None,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
        ) as router:
            return await route_all(router, events)

    results = asyncio.run(scenario())
    assert len(api.requests) == 1
    path, items = api.requests[0]
    assert path == "/many"
    assert sorted(items) == sorted((e["userId"], e["event"]) for e in events)
    for user in {e["userId"] for e in events}:
        # A user's events are consecutive and in their order inside the request.
        places = [index for index, item in enumerate(items) if item[0] == user]
        assert places == list(range(places[0], places[0] + 2))
        assert [items[index][1] for index in places] == ["e0", "e1"]
    assert [(d.outcome, d.batch_size) for d in sent(results)] == [("delivered", 10)] * 10


def test_requests_hold_at_most_max_count_and_every_event_once(tmp_path: Path) -> None:
    api = Api()
    instance = make_instance(tmp_path, max_count=4)
    events = interleaved(users=5, per_user=3)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance], dead_letters=None, transport=httpx.MockTransport(api), batch_window=0.05
        ) as router:
            return await route_all(router, events)

    results = asyncio.run(scenario())
    sizes = [len(items) for _, items in api.requests]
    assert max(sizes) == 4
    assert len(api.requests) == 4  # 15 events, 4 a request
    items = [item for _, request_items in api.requests for item in request_items]
    assert sorted(items) == sorted((e["userId"], e["event"]) for e in events)
    for user in {e["userId"] for e in events}:
        assert [name for who, name in items if who == user] == ["e0", "e1", "e2"]
    assert {d.outcome for d in sent(results)} == {"delivered"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_users_later_event_never_leaves_before_an_earlier_one_ended(
    tmp_path: Path, seed: int
) -> None:
    # Two mappings, one batching across users and one sending each event alone, answers after
    # random delays: each request is checked, as it arrives, against what has ended.
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    order: dict[str, list[str]] = {}
    for index in range(120):
        user = f"u{rng.randrange(8)}"
        name = f"e{index}"
        events.append(track(user, name) if rng.random() < 0.7 else identify(user, name))
        order.setdefault(user, []).append(name)
    api = Api(order, delay=0.01)
    instance = make_instance(tmp_path, max_count=rng.choice([3, 10, 100]))

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance], dead_letters=None, transport=httpx.MockTransport(api), batch_window=0
        ) as router:
            return await route_all(router, events, gap=0.001)

    results = asyncio.run(scenario())
    assert api.violations == []
    assert {d.outcome for d in sent(results)} == {"delivered"}
    assert max(len(items) for path, items in api.requests if path == "/many") > 1
    assert any(len({user for user, _ in items}) > 1 for _, items in api.requests)


def test_a_retried_batch_is_retried_whole_and_each_event_gets_its_delivery(
    tmp_path: Path,
) -> None:
    api = Api()
    api.failures_left = 1
    instance = make_instance(tmp_path)
    events = interleaved(users=3, per_user=2)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=None,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
            retry=FAST_RETRY,
        ) as router:
            return await route_all(router, events)

    results = asyncio.run(scenario())
    assert [len(items) for _, items in api.requests] == [6, 6]
    assert api.requests[0] == api.requests[1]
    deliveries = sent(results)
    assert [(d.outcome, d.attempts, d.batch_size) for d in deliveries] == [("delivered", 2, 6)] * 6
    assert [d.message_id for d in deliveries] == [e["messageId"] for e in events]


def test_a_refused_batch_is_sent_again_event_by_event_and_only_the_bad_one_fails(
    tmp_path: Path,
) -> None:
    api = Api()
    api.status[("u1", "e0")] = 400
    instance = make_instance(tmp_path)
    events = interleaved(users=3, per_user=2)
    store = DeadLetterStore(tmp_path / "dead.sqlite")

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=store,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
            retry=FAST_RETRY,
        ) as router:
            return await route_all(router, events)

    try:
        results = asyncio.run(scenario())
        letters = store.list()
    finally:
        store.close()
    assert len(api.requests[0][1]) == 6
    # Then each event alone, in the order of the batch: each user's still in order.
    alone = [items for _, items in api.requests[1:]]
    assert all(len(items) == 1 for items in alone)
    assert [items[0] for items in alone] == api.requests[0][1]
    outcomes = {d.message_id: (d.outcome, d.batch_size) for d in sent(results)}
    assert outcomes.pop("u1/e0") == ("dead_lettered", 1)
    assert set(outcomes.values()) == {("delivered", 1)}
    assert [letter.event["messageId"] for letter in letters] == ["u1/e0"]


def test_a_batch_that_keeps_failing_is_dead_lettered_event_by_event(tmp_path: Path) -> None:
    api = Api()
    api.failures_left = 1000
    instance = make_instance(tmp_path)
    events = interleaved(users=3, per_user=2)
    store = DeadLetterStore(tmp_path / "dead.sqlite")

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=store,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
            retry=FAST_RETRY,
        ) as router:
            return await route_all(router, events)

    try:
        results = asyncio.run(scenario())
        letters = store.list()
    finally:
        store.close()
    assert [len(items) for _, items in api.requests] == [6, 6, 6]  # three attempts, whole
    deliveries = sent(results)
    assert [(d.outcome, d.attempts, d.status) for d in deliveries] == [
        ("dead_lettered", 3, 503)
    ] * 6
    assert sorted(letter.event["messageId"] for letter in letters) == sorted(
        e["messageId"] for e in events
    )
    assert len({d.dead_letter_id for d in deliveries}) == 6


def test_in_defer_mode_a_failed_batch_holds_the_later_events_of_each_of_its_users(
    tmp_path: Path,
) -> None:
    api = Api()
    api.failures_left = 1000
    instance = make_instance(tmp_path)
    first = [track("u0", "e0"), track("u1", "e0")]
    later = [track("u0", "e1"), track("u1", "e1")]

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=None,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
            defer_policy=RetryPolicy(max_attempts=1, deadline=5.0),
        ) as router:
            tasks = [asyncio.ensure_future(router.aroute(e, defer=True)) for e in first]
            await asyncio.sleep(0.01)  # the batch waits its window: the later events come
            tasks += [asyncio.ensure_future(router.aroute(e, defer=True)) for e in later]
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(scenario())
    outcomes = [(d.message_id, d.outcome) for d in sent(results)]
    # The window gathered each user's two events in one request; its failure is theirs.
    assert outcomes == [
        ("u0/e0", "retryable_failure"),
        ("u1/e0", "retryable_failure"),
        ("u0/e1", "retryable_failure"),
        ("u1/e1", "retryable_failure"),
    ]
    assert [len(items) for _, items in api.requests] == [4]


def test_in_defer_mode_the_events_behind_a_failed_batch_are_held(tmp_path: Path) -> None:
    api = Api(delay=0.05)
    api.failures_left = 1
    instance = make_instance(tmp_path)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=None,
            transport=httpx.MockTransport(api),
            batch_window=0,
            defer_policy=RetryPolicy(max_attempts=1, deadline=5.0),
        ) as router:
            tasks = [asyncio.ensure_future(router.aroute(track("u0", "e0"), defer=True))]
            await asyncio.sleep(0.001)  # the first request is in flight
            tasks += [
                asyncio.ensure_future(router.aroute(e, defer=True))
                for e in (track("u0", "e1"), track("u1", "e0"))
            ]
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(scenario())
    outcomes = [(d.message_id, d.outcome) for d in sent(results)]
    assert outcomes == [
        ("u0/e0", "retryable_failure"),
        ("u0/e1", "held"),  # its user's earlier event waits for the queue's retry
        ("u1/e0", "delivered"),  # another user's, in the same batch, still goes
    ]
    assert [items for _, items in api.requests] == [[("u0", "e0")], [("u1", "e0")]]


def test_two_instances_never_share_a_request(tmp_path: Path) -> None:
    api = Api()
    first = make_instance(tmp_path, name="first")
    second = make_instance(tmp_path, name="second")

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [first, second],
            dead_letters=None,
            transport=httpx.MockTransport(api),
            batch_window=0.05,
        ) as router:
            return await route_all(router, [track("u0", "e0"), track("u1", "e0")])

    results = asyncio.run(scenario())
    assert [len(items) for _, items in api.requests] == [2, 2]
    assert {(d.instance, d.batch_size) for d in sent(results)} == {
        ("first", 2),
        ("second", 2),
    }


def test_a_batch_size_setting_caps_how_many_events_a_request_gathers(tmp_path: Path) -> None:
    # maxCount 100, lowered to 4 by the instance's batchSize (batch.maxCountFrom): the delivery
    # gathers 4 events a request, not 100 cut into requests afterwards.
    data = definition(100)
    data["settings"]["batchSize"] = {"label": "Batch size", "type": "integer", "default": 4}
    data["actions"]["many"]["batch"]["maxCountFrom"] = "{{settings.batchSize}}"
    path = tmp_path / "hooks" / "destination.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    instance = load_instance(
        {
            "destination": str(path),
            "name": "hooks",
            "settings": {"baseUrl": "https://hooks.example", "batchSize": 4},
            "mappings": [{"name": "Many", "action": "many"}],
        }
    )
    api = Api()
    events = interleaved(users=5, per_user=3)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance], dead_letters=None, transport=httpx.MockTransport(api), batch_window=0.05
        ) as router:
            return await route_all(router, events)

    results = asyncio.run(scenario())
    assert [len(items) for _, items in api.requests] == [4, 4, 4, 3]
    items = [item for _, request_items in api.requests for item in request_items]
    assert sorted(items) == sorted((e["userId"], e["event"]) for e in events)
    for user in {e["userId"] for e in events}:
        assert [name for who, name in items if who == user] == ["e0", "e1", "e2"]
    deliveries = sent(results)
    assert {d.outcome for d in deliveries} == {"delivered"}
    assert sorted(d.batch_size for d in deliveries) == [3] * 3 + [4] * 12
