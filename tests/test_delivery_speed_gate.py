"""The send path's shortcuts give what the long way gives.

``EndpointGate.enter_now`` grants a turn at once only where ``turn`` would grant it without
waiting; the aiohttp sender remembers a URL only once it is usable, so an unusable or refused
URL is refused on every request.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from framework.definitions.network import NetworkPolicy
from framework.definitions.request import PlannedRequest
from framework.delivery.aiohttp_sender import AiohttpSender
from framework.delivery.gate import EndpointGate, Signal
from framework.delivery.ratelimit import RateLimiter
from framework.errors import AddressNotAllowedError, IntegrationError

API = "https://api.example.com:443"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_free_endpoint_is_entered_at_once_and_left_as_it_was() -> None:
    gate = EndpointGate(clock=Clock())
    ticket = gate.enter_now(API, RateLimiter())
    assert ticket is not None
    assert not ticket.probe
    ticket.report(Signal.OK, status=200)
    gate.leave(ticket)
    assert gate.states() == []


@pytest.mark.parametrize(
    "limiter", [RateLimiter(per_second=5), RateLimiter(concurrency=2)], ids=["rate", "concurrency"]
)
def test_an_instance_with_limits_takes_the_long_way(limiter: RateLimiter) -> None:
    assert EndpointGate(clock=Clock()).enter_now(API, limiter) is None


def test_a_paused_endpoint_takes_the_long_way_until_the_pause_ends() -> None:
    clock = Clock()
    gate = EndpointGate(clock=clock)
    ticket = gate.enter_now(API, RateLimiter())
    assert ticket is not None
    ticket.report(Signal.FAILURE, retry_after=30, status=503)
    gate.leave(ticket)
    assert gate.enter_now(API, RateLimiter()) is None
    clock.now += 31
    assert gate.enter_now(API, RateLimiter()) is not None


def test_an_open_circuit_takes_the_long_way() -> None:
    clock = Clock()
    gate = EndpointGate(clock=clock, failure_threshold=2, failure_span=0.0)
    for _ in range(2):
        ticket = gate.enter_now(API, RateLimiter())
        assert ticket is not None
        ticket.report(Signal.FAILURE, status=500)
        gate.leave(ticket)
        clock.now += 1
    assert [state.state for state in gate.states()] == ["open"]
    assert gate.enter_now(API, RateLimiter()) is None
    clock.now += 60  # past the probe time: the probe goes the long way, as the one probe
    assert gate.enter_now(API, RateLimiter()) is None


def test_a_cut_rate_takes_the_long_way() -> None:
    clock = Clock()
    gate = EndpointGate(clock=clock)
    ticket = gate.enter_now(API, RateLimiter())
    assert ticket is not None
    ticket.report(Signal.RATE_LIMITED, status=429)
    gate.leave(ticket)
    assert gate.enter_now(API, RateLimiter()) is not None  # the first at the cut rate goes
    assert gate.enter_now(API, RateLimiter()) is None  # the next waits for the rate


def test_nobody_overtakes_a_turn_waiting_in_line() -> None:
    async def scenario() -> bool:
        clock = Clock()

        async def sleep(seconds: float) -> None:
            await asyncio.Event().wait()  # never ends: the turn stays in line

        gate = EndpointGate(clock=clock, sleep=sleep)
        ticket = gate.enter_now(API, RateLimiter())
        assert ticket is not None
        ticket.report(Signal.FAILURE, retry_after=5, status=503)
        gate.leave(ticket)

        async def wait_in_line() -> None:
            async with gate.turn(API, RateLimiter()):
                pass

        waiting = asyncio.ensure_future(wait_in_line())
        await asyncio.sleep(0)  # it takes its place in the line, for the pause
        clock.now += 6  # the pause is over; the turn in line has not gone yet
        overtaken = gate.enter_now(API, RateLimiter()) is not None
        waiting.cancel()
        return overtaken

    assert asyncio.run(scenario()) is False


def request(url: str) -> PlannedRequest:
    return PlannedRequest(method="POST", url=url, headers={}, json={"a": 1})


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://files.example.com/x", IntegrationError),
        ("http://169.254.169.254/latest", AddressNotAllowedError),
        ("http://127.0.0.1:9/x", AddressNotAllowedError),
    ],
)
def test_an_unusable_or_refused_url_is_refused_on_every_request(
    url: str, error: type[Exception]
) -> None:
    async def scenario() -> None:
        sender = AiohttpSender(policy=NetworkPolicy())
        try:
            for _ in range(3):
                with pytest.raises(error):
                    await sender.send(request(url), httpx.Timeout(1.0))
        finally:
            await sender.aclose()

    asyncio.run(scenario())
