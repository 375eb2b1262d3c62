"""One ordered lane per user per instance: a user's requests leave in the order of the events.

Across every mapping and action of an instance (the Events and Page views presets, the
attributes PATCH, the alias merge), with a transport that answers after random delays.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from typing import Any

import httpx
import pytest

from framework import Instance, RetryPolicy, Router, load_instance
from framework.emulators.contentstack import ContentstackEmulator

FAST_RETRY = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=0.02, deadline=60.0)
USER_HEADER = "x-cs-personalize-user-uid"


def make_instance(url: str = "https://edge.example") -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": "cs",
            "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": url},
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {"name": "pages", "preset": "page-events", "enabled": True},
                {
                    "name": "attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                },
                {"name": "merge", "preset": "merge-users"},
            ],
            "delivery": {"allowLoopback": True},
        }
    )


def script(users: int, per_user: int, seed: int) -> list[dict[str, Any]]:
    """Events of several users, interleaved: tracks, pages, identifies and aliases."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    counts = dict.fromkeys(range(users), 0)
    while any(count < per_user for count in counts.values()):
        user = rng.choice([u for u, count in counts.items() if count < per_user])
        step = counts[user]
        counts[user] += 1
        uid = f"u{user}"
        kind = rng.choice(["track", "track", "page", "identify", "alias"])
        if kind == "track":
            events.append({"type": "track", "userId": uid, "event": f"T{step}"})
        elif kind == "page":
            events.append({"type": "page", "userId": uid, "name": f"P{step}"})
        elif kind == "identify":
            events.append({"type": "identify", "userId": uid, "traits": {f"a{step}": step}})
        else:
            events.append({"type": "alias", "userId": uid, "previousId": f"anon{user}-{step}"})
    return events


def expected_tokens(event: dict[str, Any]) -> list[tuple[str, str]]:
    kind = event["type"]
    if kind == "track":
        return [("event", event["event"])]
    if kind == "page":
        return [("event", event["name"])]
    if kind == "identify":
        return [("attr", key) for key in event["traits"]]
    return [("merge", event["previousId"])]


def request_tokens(method: str, path: str, body: Any) -> tuple[str, list[tuple[str, str]]]:
    """The user a request is for and what it carries, item by item, in order."""
    if path.endswith("/user-attributes/actions/merge"):
        return body["targetUserUid"], [("merge", body["sourceUserUid"])]
    raise AssertionError(f"unexpected {method} {path}")


class DelayingTransport(httpx.AsyncBaseTransport):
    """Answers 200 after a random (seeded) delay; logs each request as it arrives.

    ``fail`` decides, per arrival, a status other than 200 (a retryable one, to retry).
    """

    def __init__(self, seed: int, fail: Any = None) -> None:
        self.rng = random.Random(seed)
        self.fail = fail
        self.log: list[tuple[str, list[tuple[str, str]], int]] = []
        self.in_flight: dict[str, int] = {}
        self.overlaps = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        if path.endswith("/events"):
            user = request.headers[USER_HEADER]
            tokens = [("event", item["eventKey"]) for item in body]
        elif path.endswith("/user-attributes") and request.method == "PATCH":
            user = request.headers[USER_HEADER]
            tokens = [("attr", key) for key in body]
        else:
            user, tokens = request_tokens(request.method, path, body)
        status = 200
        if self.fail is not None:
            status = self.fail(user, tokens, len(self.log))
        self.log.append((user, tokens, status))
        self.in_flight[user] = self.in_flight.get(user, 0) + 1
        if self.in_flight[user] > 1:
            self.overlaps += 1
        try:
            await asyncio.sleep(self.rng.random() * 0.004)
        finally:
            self.in_flight[user] -= 1
        return httpx.Response(status, json={})

    def delivered(self, user: str) -> list[tuple[str, str]]:
        return [
            token
            for u, tokens, status in self.log
            if u == user
            for token in tokens
            if status == 200
        ]


@pytest.mark.parametrize("batching", [True, False])
def test_a_users_requests_leave_in_event_order_across_mappings_and_actions(
    batching: bool,
) -> None:
    events = script(users=6, per_user=30, seed=7)
    transport = DelayingTransport(seed=11)
    with Router(
        [make_instance()],
        dead_letters=None,
        transport=transport,
        batching=batching,
        batch_window=0,
        retry=FAST_RETRY,
    ) as router:
        results = list(router.route_many(events, concurrency=32))
    sent = [d for per_event in results for d in per_event if d.outcome != "not_subscribed"]
    assert {d.outcome for d in sent} == {"delivered"}
    assert transport.overlaps == 0  # one request at a time per user
    for user in range(6):
        uid = f"u{user}"
        mine = [e for e in events if e["userId"] == uid]
        assert transport.delivered(uid) == [t for e in mine for t in expected_tokens(e)]
    if not batching:
        assert {d.batch_size for d in sent} == {1}
    else:
        assert max(d.batch_size for d in sent) > 1  # batches still form under load


def test_a_retried_attributes_patch_holds_the_users_merge_behind_it() -> None:
    # The issue's case: u1's PATCH /user-attributes is retried; the alias merge of u1, and
    # the events after it, must not overtake it.
    def fail(user: str, tokens: list[tuple[str, str]], arrival: int) -> int:
        retried = [entry for entry in transport.log if entry[2] != 200]
        return 503 if tokens[0][0] == "attr" and len(retried) < 3 else 200

    transport = DelayingTransport(seed=3, fail=fail)
    events = [
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "alias", "userId": "u1", "previousId": "anon1"},
        {"type": "track", "userId": "u1", "event": "After"},
        {"type": "page", "userId": "u1", "name": "Home"},
        {"type": "track", "userId": "u2", "event": "Other"},
    ]
    with Router(
        [make_instance()], dead_letters=None, transport=transport, retry=FAST_RETRY
    ) as router:
        results = list(router.route_many(events, concurrency=8))
    outcomes = [(d.mapping, d.outcome, d.attempts) for r in results for d in r]
    assert ("attributes", "delivered", 4) in outcomes
    u1 = [(tokens[0][0], status) for user, tokens, status in transport.log if user == "u1"]
    assert u1 == [
        ("attr", 503),
        ("attr", 503),
        ("attr", 503),
        ("attr", 200),
        ("merge", 200),
        ("event", 200),
        ("event", 200),
    ]
    assert transport.delivered("u2") == [("event", "Other")]


def test_events_of_no_user_are_not_ordered_with_anything() -> None:
    transport = DelayingTransport(seed=5)
    merges = [{"type": "alias", "previousId": f"p{i}"} for i in range(3)]  # no userId: invalid
    with Router([make_instance()], dead_letters=None, transport=transport) as router:
        results = list(router.route_many(merges))
    assert all(d.outcome in ("invalid", "not_subscribed") for r in results for d in r)
    assert transport.log == []


def test_a_users_events_stay_in_order_through_an_outage_on_loopback() -> None:
    # A real emulator: an outage starts once the run is going and ends after requests were
    # refused; with the router's horizon (not defer mode) nothing is dead-lettered and each
    # user's events reach the API in input order.
    users = [f"u{n}" for n in range(5)]
    events: list[dict[str, Any]] = [
        {"type": "track", "userId": users[i % 5], "event": f"E{i}"}
        if i % 3
        else {"type": "page", "userId": users[i % 5], "name": f"E{i}"}
        for i in range(100)
    ]
    with ContentstackEmulator() as api:
        instance = make_instance(api.url)
        refused: list[int] = []

        def end_after_refusals() -> None:
            # Wait on the log, not on time: several requests were refused by now.
            log = api.wait_until(lambda log: sum(r.status == 503 for r in log) >= 5)
            refused.append(sum(r.status == 503 for r in log))
            api.end_outage()

        ender = threading.Thread(target=end_after_refusals)

        def routed() -> Any:
            for index, event in enumerate(events):
                if index == 20:
                    api.start_outage(503)
                    ender.start()
                yield event

        with Router(
            [instance], dead_letters=None, retry=FAST_RETRY, batch_window=0, seed=1
        ) as router:
            results = list(router.route_many(routed(), concurrency=16))
        ender.join()
        state = api.state()["projects"]["proj"]["users"]
    assert refused
    assert refused[0] >= 5
    sent = [d for r in results for d in r if d.outcome != "not_subscribed"]
    assert [d.outcome for d in sent] == ["delivered"] * 100
    for user in users:
        expected = [e.get("event") or e["name"] for e in events if e["userId"] == user]
        assert [item["eventKey"] for item in state[user]["events"]] == expected
