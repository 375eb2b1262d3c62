"""The router's retry horizon and its endpoint gate, on a fake clock.

The dispatcher's clock and sleep (and the gate's, which it shares) are replaced by a clock
that moves only when something sleeps on it, so a 10-minute horizon runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from framework import Delivery, Instance, RetryPolicy, Router, load_instance
from framework.delivery.dispatch import Dispatcher
from framework.delivery.router import DEFAULT_RETRY_FOR


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def make_instance(**delivery: Any) -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": "cs",
            "settings": {
                "personalizeProjectId": "proj",
                "personalizeEdgeApiBaseUrl": "https://edge.example",
            },
            "mappings": [{"name": "events", "preset": "events-sync"}],
            **({"delivery": delivery} if delivery else {}),
        }
    )


def track(user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "E"}


class Api:
    """A MockTransport handler on the fake clock: logs when each request came, and for whom."""

    def __init__(self, clock: FakeClock, answer: Any) -> None:
        self.clock = clock
        self.answer = answer
        self.log: list[tuple[float, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        user = request.headers["x-cs-personalize-user-uid"]
        self.log.append((self.clock.now, user))
        result: httpx.Response = self.answer(user)
        return result


async def on_fake_time(router: Router, clock: FakeClock, api: Api) -> None:
    """Give a started router a dispatcher on ``clock`` that sends to ``api``."""
    old = router._dispatcher
    assert old is not None
    await old.aclose()
    router._dispatcher = Dispatcher(
        retry=router._retry,
        timeout=10.0,
        dead_letters=router.dead_letters,
        stats=router._stats,
        batch_window=0,
        transport=httpx.MockTransport(api),
        seed=1,
        defer_policy=router._defer_policy,
        hold_limit=router._hold_limit,
        clock=clock,
        sleep=clock.sleep,
    )


def route_on_fake_time(
    api_answer: Any, events: list[dict[str, Any]], **router: Any
) -> tuple[list[Delivery], Api, FakeClock]:
    clock = FakeClock()
    api = Api(clock, api_answer)

    async def scenario() -> list[Delivery]:
        async with Router([router.pop("instance", make_instance())], **router) as r:
            await on_fake_time(r, clock, api)
            deliveries: list[Delivery] = []
            for event in events:
                deliveries.extend(await r.aroute(event))
            return deliveries

    return asyncio.run(scenario()), api, clock


def test_the_default_horizon_is_ten_minutes_with_no_attempt_limit() -> None:
    assert DEFAULT_RETRY_FOR == 600.0
    [delivery], api, _ = route_on_fake_time(
        lambda user: httpx.Response(503), [track()], dead_letters=None
    )
    assert (delivery.outcome, delivery.status) == ("retryable_failure", 503)
    assert delivery.error_code in ("RETRYABLE_ERROR", "ENDPOINT_PAUSED")
    times = [when for when, _ in api.log]
    assert delivery.attempts == len(times)
    assert len(times) > 5  # no attempt limit: the horizon ends the tries
    assert times[-1] - times[0] < DEFAULT_RETRY_FOR
    assert times[-1] - times[0] > DEFAULT_RETRY_FOR - 120  # tried until near the horizon
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # No storm, and no long silence: waits are capped (30 s of backoff, 60 s between the
    # probes of an open circuit), and once the backoff reaches its cap a minute holds at
    # most a few tries.
    assert max(gaps) <= 61.0
    settled = [when for when in times if when >= times[0] + 120]
    for start in settled:
        assert sum(start <= when < start + 60 for when in settled) <= 4


def test_retry_for_sets_the_horizon_and_an_instance_or_retry_override_it() -> None:
    [short], api, _ = route_on_fake_time(
        lambda user: httpx.Response(503), [track()], dead_letters=None, retry_for=60.0
    )
    times = [when for when, _ in api.log]
    assert short.attempts == len(times) > 1
    assert times[-1] - times[0] < 60.0

    [capped], _, _ = route_on_fake_time(
        lambda user: httpx.Response(503),
        [track()],
        dead_letters=None,
        retry_for=60.0,
        instance=make_instance(maxAttempts=3),
    )
    assert capped.attempts == 3

    [overridden], _, _ = route_on_fake_time(
        lambda user: httpx.Response(503),
        [track()],
        dead_letters=None,
        retry_for=60.0,
        retry=RetryPolicy(max_attempts=2, deadline=3600.0),
    )
    assert overridden.attempts == 2


def test_an_outage_shorter_than_the_horizon_is_waited_out() -> None:
    clock_box: dict[str, float] = {}

    def answer(user: str) -> httpx.Response:
        start = clock_box.setdefault("start", api_clock.now)
        return httpx.Response(503 if api_clock.now - start < 300 else 200)

    clock = FakeClock()
    api_clock = clock
    api = Api(clock, answer)

    async def scenario() -> list[Delivery]:
        async with Router([make_instance()], dead_letters=None) as r:
            await on_fake_time(r, clock, api)
            return await r.aroute(track())

    [delivery] = asyncio.run(scenario())
    assert (delivery.outcome, delivery.status) == ("delivered", 200)
    assert delivery.attempts == len(api.log) > 5


def test_a_request_never_tried_waits_at_the_gate_without_starting_its_horizon() -> None:
    # u1's answer pauses the endpoint for 900 s, longer than the 600 s horizon: u1 is given
    # up on after one try. u2, never tried, waits the pause out and is delivered: waiting
    # at the gate is not a failure, and uses no attempt.
    def answer(user: str) -> httpx.Response:
        if user == "u1":
            return httpx.Response(503, headers={"Retry-After": "900"})
        return httpx.Response(200)

    (refused, delivered), api, _ = route_on_fake_time(
        answer, [track("u1"), track("u2")], dead_letters=None
    )
    assert (refused.outcome, refused.attempts) == ("retryable_failure", 1)
    assert refused.retry_after == 900.0
    assert (delivered.outcome, delivered.attempts) == ("delivered", 1)
    [(refused_at, _), (sent_at, user)] = api.log
    assert user == "u2"
    assert sent_at >= refused_at + 900.0


def test_a_retry_does_not_wait_at_the_gate_past_its_horizon() -> None:
    # u1 keeps failing (no Retry-After); once it has tried, u2's answer pauses the endpoint
    # for 3000 s. u1's next retry would start past its horizon: it ends at once with
    # ENDPOINT_PAUSED and the seconds left, instead of waiting 3000 s in memory.
    def answer(user: str) -> httpx.Response:
        if user == "u1":
            return httpx.Response(503)
        return httpx.Response(503, headers={"Retry-After": "3000"})

    clock = FakeClock()
    api = Api(clock, answer)

    async def scenario() -> tuple[list[Delivery], list[Delivery]]:
        async with Router([make_instance()], dead_letters=None) as r:
            await on_fake_time(r, clock, api)
            first = asyncio.create_task(r.aroute(track("u1")))
            while not api.log:
                await asyncio.sleep(0)
            second = await r.aroute(track("u2"))
            return await first, second

    first, second = asyncio.run(scenario())
    [u1] = first
    [u2] = second
    assert (u2.outcome, u2.attempts, u2.retry_after) == ("retryable_failure", 1, 3000.0)
    assert (u1.outcome, u1.error_code) == ("retryable_failure", "ENDPOINT_PAUSED")
    assert u1.attempts == sum(user == "u1" for _, user in api.log)
    assert u1.retry_after is not None
    assert u1.retry_after > 600.0
    paused_at = next(when for when, user in api.log if user == "u2")
    assert clock.now < paused_at + 3000.0  # u1 did not wait the pause out


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_retry_for_must_be_positive(value: float) -> None:
    with pytest.raises(ValueError, match="retry_for"):
        Router([make_instance()], retry_for=value)
