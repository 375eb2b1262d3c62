"""Defer mode (a queue consumer's): failures come back to wait, later requests are held.

``Router.aroute(event, defer=True, skip=...)`` and ``Router.bury``, with
``httpx.MockTransport`` standing in for the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework import Delivery, Instance, RetryPolicy, Router, load_instance
from framework.delivery import DeadLetterStore

QUICK = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, deadline=10.0)


def make_instance(name: str = "cs", url: str = "https://edge.example") -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": name,
            "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": url},
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {"name": "attributes", "preset": "custom-attributes-sync"},
                {"name": "merge", "preset": "merge-users"},
            ],
        }
    )


def track(user: str = "u1", event: str = "E", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, **extra}


Answer = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler: answers with ``answer`` and logs (method, path, user)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.log: list[tuple[str, str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        user = request.headers.get("x-cs-personalize-user-uid")
        self.log.append((request.method, request.url.path, user))
        return self.answer(request)


def sent(deliveries: list[Delivery]) -> list[Delivery]:
    return [d for d in deliveries if d.outcome not in ("not_subscribed", "invalid")]


def run(scenario: Any) -> Any:
    return asyncio.run(scenario)


def test_a_lasting_retryable_failure_comes_back_to_wait_not_dead_lettered(
    tmp_path: Path,
) -> None:
    recorder = Recorder(lambda request: httpx.Response(503, json={}))

    async def scenario() -> list[Delivery]:
        async with Router(
            [make_instance()],
            dead_letters=tmp_path / "dl.sqlite",
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
        ) as router:
            deliveries = await router.aroute(track(), defer=True)
            assert router.dead_letters is not None
            assert router.dead_letters.count() == 0
            return deliveries

    [delivery] = sent(run(scenario()))
    assert (delivery.outcome, delivery.error_code, delivery.status) == (
        "retryable_failure",
        "RETRYABLE_ERROR",
        503,
    )
    assert delivery.attempts == 3  # the short in-process try of the defer policy
    assert delivery.retry_after is None
    assert delivery.failed
    assert delivery.dead_letter_id is None


def test_a_retry_after_longer_than_the_short_try_comes_back_with_it() -> None:
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "30"}))

    async def scenario() -> list[Delivery]:
        async with Router(
            [make_instance()],
            dead_letters=None,
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
        ) as router:
            return await router.aroute(track(), defer=True)

    [delivery] = sent(run(scenario()))
    assert (delivery.outcome, delivery.error_code, delivery.attempts) == (
        "retryable_failure",
        "RATE_LIMITED",
        1,
    )
    assert delivery.retry_after == 30.0
    assert delivery.to_dict()["retry_after"] == 30.0


def test_a_paused_endpoint_fails_at_once_with_endpoint_paused_in_defer_mode() -> None:
    # u1's 503 asks for 60 s: longer than hold_limit, so u2's request to the same endpoint
    # is not sent at all and comes back with the seconds left; no attempt is used.
    recorder = Recorder(lambda request: httpx.Response(503, headers={"Retry-After": "60"}))

    async def scenario() -> tuple[list[Delivery], list[Delivery], list[Any]]:
        async with Router(
            [make_instance()],
            dead_letters=None,
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
            hold_limit=5.0,
        ) as router:
            first = await router.aroute(track("u1"), defer=True)
            second = await router.aroute(track("u2"), defer=True)
            return first, second, router.endpoints()

    first, second, endpoints = run(scenario())
    [refused] = sent(first)
    [paused] = sent(second)
    assert (refused.outcome, refused.attempts, refused.retry_after) == (
        "retryable_failure",
        1,
        60.0,
    )
    assert (paused.outcome, paused.error_code, paused.attempts) == (
        "retryable_failure",
        "ENDPOINT_PAUSED",
        0,
    )
    assert paused.retry_after is not None
    assert 0 < paused.retry_after <= 60.0
    assert [user for _, _, user in recorder.log] == ["u1"]
    [endpoint] = endpoints
    assert endpoint.endpoint == "https://edge.example:443"
    assert endpoint.resumes_in is not None
    assert endpoint.failures == 1


def test_requests_behind_a_deferred_one_are_held_until_its_lane_empties(
    tmp_path: Path,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if request.method == "PATCH" and failing else 200, json={})

    failing = True
    recorder = Recorder(answer)

    async def scenario() -> tuple[list[list[Delivery]], list[Delivery], dict[str, Any]]:
        nonlocal failing
        async with Router(
            [make_instance()],
            dead_letters=tmp_path / "dl.sqlite",
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
            batch_window=0,
        ) as router:
            # Submitted together: they wait in u1's lane behind the attributes PATCH.
            first = await asyncio.gather(
                router.aroute({"type": "identify", "userId": "u1", "traits": {"a": 1}}, defer=True),
                router.aroute(track("u1", "Later"), defer=True),
                router.aroute({"type": "alias", "userId": "u1", "previousId": "p1"}, defer=True),
                router.aroute(track("u2", "Other"), defer=True),
            )
            failing = False
            # The lane emptied: the block is over, the user's next try is sent.
            again = await router.aroute(track("u1", "Later"), defer=True)
            return first, again, router.stats()

    (identify, later, alias, other), again, stats = run(scenario())
    [patch] = sent(identify)
    assert (patch.outcome, patch.attempts) == ("retryable_failure", 3)
    [held] = sent(later)
    [held_merge] = sent(alias)
    for delivery in (held, held_merge):
        assert (delivery.outcome, delivery.attempts, delivery.status) == ("held", 0, None)
        assert delivery.reason
        assert not delivery.failed
    assert [d.outcome for d in sent(other)] == ["delivered"]  # another user is not held
    assert [d.outcome for d in sent(again)] == ["delivered"]
    u1 = [(method, path) for method, path, user in recorder.log if user == "u1"]
    assert u1 == [("PATCH", "/user-attributes")] * 3 + [("POST", "/events")]
    assert not any(path.endswith("/merge") for _, path, _ in recorder.log)
    assert stats["totals"]["held"] == 2
    assert stats["totals"]["retryable_failure"] == 1


def test_a_permanent_failure_is_dead_lettered_at_once_and_holds_nothing(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400 if request.method == "PATCH" else 200, json={})

    recorder = Recorder(answer)

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [make_instance()],
            dead_letters=tmp_path / "dl.sqlite",
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
        ) as router:
            return list(
                await asyncio.gather(
                    router.aroute(
                        {"type": "identify", "userId": "u1", "traits": {"a": 1}}, defer=True
                    ),
                    router.aroute(track("u1", "Later"), defer=True),
                )
            )

    identify, later = run(scenario())
    [refused] = sent(identify)
    assert (refused.outcome, refused.error_code, refused.attempts) == (
        "dead_lettered",
        "INTEGRATION_ERROR",
        1,
    )
    assert refused.dead_letter_id is not None
    assert [d.outcome for d in sent(later)] == ["delivered"]


def test_skip_leaves_out_the_subscriptions_that_ended_before() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, json={}))
    event = track("u1", context={"traits": {"plan": "pro"}})

    async def scenario() -> tuple[list[Delivery], list[Delivery]]:
        async with Router(
            [make_instance("a"), make_instance("b")],
            dead_letters=None,
            transport=httpx.MockTransport(recorder),
        ) as router:
            everything = await router.aroute(event, defer=True)
            rest = await router.aroute(
                event, defer=True, skip={("a", "events"), ("a", "attributes"), ("b", "events")}
            )
            return everything, rest

    everything, rest = run(scenario())
    assert {(d.instance, d.mapping) for d in everything} == {
        (i, m) for i in "ab" for m in ("events", "attributes", "merge")
    }
    assert [(d.instance, d.mapping, d.outcome) for d in rest] == [
        ("a", "merge", "not_subscribed"),
        ("b", "attributes", "delivered"),
        ("b", "merge", "not_subscribed"),
    ]
    assert len(recorder.log) == 4 + 1


def test_bury_stores_the_dead_letter_of_a_deferred_failure(tmp_path: Path) -> None:
    recorder = Recorder(lambda request: httpx.Response(503, text="down"))
    event = track("u1", messageId="m-1")

    async def scenario() -> tuple[Delivery, Delivery, list[Any], dict[str, Any]]:
        async with Router(
            [make_instance()],
            dead_letters=tmp_path / "dl.sqlite",
            transport=httpx.MockTransport(recorder),
            defer_policy=QUICK,
        ) as router:
            [waiting] = sent(await router.aroute(event, defer=True))
            buried = router.bury(event, waiting)
            assert router.dead_letters is not None
            return waiting, buried, router.dead_letters.list(), router.stats()

    waiting, buried, letters, stats = run(scenario())
    assert waiting.outcome == "retryable_failure"
    assert buried.outcome == "dead_lettered"
    [letter] = letters
    assert buried.dead_letter_id == letter.id
    assert (letter.instance, letter.mapping, letter.action) == ("cs", "events", "eventsSync")
    assert (letter.error_code, letter.status, letter.attempts) == ("RETRYABLE_ERROR", 503, 3)
    assert letter.event == event
    assert letter.request == waiting.request
    assert stats["totals"]["dead_lettered"] == 1


@pytest.mark.parametrize("outcome", ["delivered", "permanent_failure", "held"])
def test_bury_leaves_other_outcomes_alone(tmp_path: Path, outcome: str) -> None:
    delivery = Delivery(instance="cs", mapping="events", action="eventsSync", outcome=outcome)  # type: ignore[arg-type]
    with Router([make_instance()], dead_letters=tmp_path / "dl.sqlite") as router:
        assert router.bury(track(), delivery) is delivery
        assert router.dead_letters is not None
        assert router.dead_letters.count() == 0


def test_bury_without_a_store_returns_the_failure_unchanged() -> None:
    delivery = Delivery(
        instance="cs", mapping="events", action="eventsSync", outcome="retryable_failure"
    )
    with Router([make_instance()], dead_letters=None) as router:
        assert router.bury(track(), delivery) is delivery


def test_outside_defer_mode_nothing_is_held(tmp_path: Path) -> None:
    # The same failure without defer: retried to the horizon (here 2 attempts), then
    # dead-lettered; the user's later requests are sent after it, in order.
    recorder = Recorder(
        lambda request: httpx.Response(503 if request.method == "PATCH" else 200, json={})
    )

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [make_instance()],
            dead_letters=tmp_path / "dl.sqlite",
            transport=httpx.MockTransport(recorder),
            retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002),
        ) as router:
            return list(
                await asyncio.gather(
                    router.aroute({"type": "identify", "userId": "u1", "traits": {"a": 1}}),
                    router.aroute(track("u1", "Later")),
                )
            )

    identify, later = run(scenario())
    assert [(d.outcome, d.attempts) for d in sent(identify)] == [("dead_lettered", 2)]
    assert [d.outcome for d in sent(later)] == ["delivered"]
    assert [method for method, _, _ in recorder.log] == ["PATCH", "PATCH", "POST"]
    with DeadLetterStore(tmp_path / "dl.sqlite") as letters:
        assert letters.count() == 1
