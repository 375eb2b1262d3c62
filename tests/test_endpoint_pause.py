"""Endpoint-wide pauses (framework.delivery.pause), driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

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
