"""Endpoint-wide pauses (framework.delivery.pause) on a fake clock, and what the dispatcher
reports to its endpoint gate."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from framework import Delivery, Instance, RetryPolicy, Router, load_instance
from framework.delivery.gate import EndpointGate, EndpointState
from framework.delivery.pause import EndpointPauses, endpoint_of


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it (or a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://api.example.com/v2/events?x=1", "https://api.example.com:443"),
        ("https://API.example.com:443/other", "https://api.example.com:443"),
        ("http://api.example.com/events", "http://api.example.com:80"),
        ("http://127.0.0.1:8080/a/b", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/a", "http://[::1]:9000"),
    ],
)
def test_an_endpoint_is_the_scheme_host_and_port(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint


def test_paths_of_one_host_share_an_endpoint_and_ports_do_not() -> None:
    assert endpoint_of("https://h.example/events") == endpoint_of("https://h.example/users/1")
    assert endpoint_of("http://h.example:1/x") != endpoint_of("http://h.example:2/x")
    assert endpoint_of("http://h.example/x") != endpoint_of("https://h.example/x")


def test_an_open_endpoint_does_not_wait() -> None:
    clock = FakeClock()
    pauses = EndpointPauses(clock, clock.sleep)
    asyncio.run(pauses.wait_until_open("http://a:80"))
    assert clock.sleeps == []
    assert pauses.is_open("http://a:80")


def test_a_paused_endpoint_waits_until_the_pause_ends() -> None:
    clock = FakeClock()
    pauses = EndpointPauses(clock, clock.sleep)
    pauses.pause("http://a:80", clock.now + 1.5)
    assert not pauses.is_open("http://a:80")
    assert pauses.paused_until("http://a:80") == 101.5
    assert pauses.is_open("http://b:80")  # another endpoint is not paused
    asyncio.run(pauses.wait_until_open("http://a:80"))
    assert clock.now >= 101.5
    assert sum(clock.sleeps) == pytest.approx(1.5)
    assert pauses.is_open("http://a:80")
    assert pauses.paused_until("http://a:80") is None


def test_a_shorter_pause_never_ends_a_longer_one() -> None:
    clock = FakeClock()
    pauses = EndpointPauses(clock, clock.sleep)
    pauses.pause("http://a:80", clock.now + 5)
    pauses.pause("http://a:80", clock.now + 1)
    assert pauses.paused_until("http://a:80") == 105.0
    asyncio.run(pauses.wait_until_open("http://a:80"))
    assert clock.now >= 105.0


def test_a_pause_made_longer_while_waiting_is_waited_out() -> None:
    clock = FakeClock()
    extended = False

    async def sleep(seconds: float) -> None:
        nonlocal extended
        await clock.sleep(seconds)
        if not extended:  # a second Retry-After arrives while the first is waited out
            extended = True
            pauses.pause("http://a:80", clock.now + 2)

    pauses = EndpointPauses(clock, sleep)
    pauses.pause("http://a:80", clock.now + 1)
    asyncio.run(pauses.wait_until_open("http://a:80"))
    assert clock.now >= 103.0
    assert len(clock.sleeps) == 2


def test_every_waiter_goes_when_the_pause_ends() -> None:
    clock = FakeClock()
    pauses = EndpointPauses(clock, clock.sleep)
    pauses.pause("http://a:80", clock.now + 2)

    async def main() -> list[float]:
        opened: list[float] = []

        async def waiter() -> None:
            await pauses.wait_until_open("http://a:80")
            opened.append(clock.now)

        await asyncio.gather(*(waiter() for _ in range(3)))
        return opened

    opened = asyncio.run(main())
    assert len(opened) == 3
    assert all(moment >= 102.0 for moment in opened)


def test_an_ended_pause_is_forgotten() -> None:
    clock = FakeClock()
    pauses = EndpointPauses(clock, clock.sleep)
    pauses.pause("http://a:80", clock.now + 1)
    clock.now += 1
    assert pauses.is_open("http://a:80")
    assert pauses._until == {}


# -- what the dispatcher reports to its gate (framework.delivery.gate), seen in endpoints() --

QUICK = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.002, deadline=10.0)


def _instance() -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": "cs",
            "settings": {
                "personalizeProjectId": "proj",
                "personalizeEdgeApiBaseUrl": "https://edge.example",
            },
            "mappings": [{"name": "events", "preset": "events-sync"}],
        }
    )


def _endpoints_after(
    handler: Any, policy: RetryPolicy = QUICK, gate: EndpointGate | None = None
) -> tuple[list[Delivery], list[EndpointState]]:
    async def scenario() -> tuple[list[Delivery], list[EndpointState]]:
        async with Router(
            [_instance()],
            dead_letters=None,
            transport=httpx.MockTransport(handler),
            defer_policy=policy,
            gate=gate,
        ) as router:
            deliveries = await router.aroute(
                {"type": "track", "userId": "u1", "event": "E"}, defer=True
            )
            return deliveries, router.endpoints()

    return asyncio.run(scenario())


def test_connection_failures_are_reported_and_open_the_circuit() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    # No span: the five quick tries of the defer policy are enough to open the circuit.
    [delivery], endpoints = _endpoints_after(refuse, gate=EndpointGate(failure_span=0.0))
    assert (delivery.outcome, delivery.error_code) == ("retryable_failure", "CONNECTION_FAILED")
    [state] = endpoints
    assert (state.endpoint, state.state, state.failures) == ("https://edge.example:443", "open", 5)
    assert state.resumes_in is not None


def test_a_429_without_retry_after_is_reported_as_rate_limited() -> None:
    one_try = RetryPolicy(max_attempts=1)
    [delivery], endpoints = _endpoints_after(lambda request: httpx.Response(429), one_try)
    assert (delivery.outcome, delivery.error_code) == ("retryable_failure", "RATE_LIMITED")
    [state] = endpoints
    assert (state.state, state.failures) == ("closed", 0)  # a 429 is not a failure
    assert state.rate is not None  # but it cut the endpoint's rate


def test_a_permanent_answer_tells_the_gate_the_endpoint_is_up() -> None:
    answers = iter([httpx.Response(503), httpx.Response(400)])
    [delivery], endpoints = _endpoints_after(lambda request: next(answers))
    assert (delivery.outcome, delivery.error_code) == ("permanent_failure", "INTEGRATION_ERROR")
    assert endpoints == []  # the failure in a row ended: nothing held, slowed or failing
