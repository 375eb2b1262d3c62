"""EndpointGate: circuit breaker, adaptive rate and pauses, driven by a fake clock.

Every test but the last runs the gate on a fake clock whose sleeps end only when the test
advances it, so nothing waits for real time and nothing depends on how fast the machine is.
The last one uses real asyncio and a real RateLimiter to show the waiters let go in order.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from framework.delivery.gate import EndpointGate, EndpointState, Signal, Ticket
from framework.delivery.ratelimit import RateLimiter
from framework.errors import EndpointPausedError

API = "https://api.example.com:443"
OTHER = "https://other.example.com:443"


class FakeTime:
    """A clock that moves only when told; a sleep ends when the clock passes its end."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, self._count, future))
        self._count += 1
        await future

    def next_wake(self) -> float | None:
        """When the earliest pending sleep ends (None: nobody sleeps)."""
        pending = [when for when, _, future in self._sleepers if not future.done()]
        return min(pending) if pending else None

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.now = max(self.now, when)
            future.set_result(None)
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    """Let every task run until it waits on something (no real time passes)."""
    for _ in range(60):
        await asyncio.sleep(0)


def run(scenario: Callable[[FakeTime], Awaitable[Any]]) -> Any:
    fake = FakeTime()
    return asyncio.run(scenario(fake))


def make_gate(fake: FakeTime, **options: Any) -> EndpointGate:
    options.setdefault("jitter", 0.0)
    options.setdefault("failure_span", 0.0)
    return EndpointGate(clock=fake.clock, sleep=fake.sleep, **options)


async def send(
    gate: EndpointGate,
    signal: Signal,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    endpoint: str = API,
) -> None:
    """One request that goes at once and gets its answer."""
    async with gate.turn(endpoint, RateLimiter()) as ticket:
        ticket.report(signal, status=status, retry_after=retry_after)


class Request:
    """A request as a task: it records when it is let go and holds its ticket until told."""

    def __init__(
        self,
        gate: EndpointGate,
        limiter: RateLimiter,
        *,
        max_wait: float | None = None,
        log: list[Request] | None = None,
        name: str = "",
    ) -> None:
        self.gate = gate
        self.limiter = limiter
        self.max_wait = max_wait
        self.log = log
        self.name = name
        self.ticket: Ticket | None = None
        self.granted = asyncio.Event()
        self.error: EndpointPausedError | None = None
        self._answer: asyncio.Future[tuple[Signal, int | None, float | None] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async with self.gate.turn(API, self.limiter, max_wait=self.max_wait) as ticket:
                self.ticket = ticket
                if self.log is not None:
                    self.log.append(self)
                self.granted.set()
                answer = await self._answer
                if answer is not None:
                    signal, status, retry_after = answer
                    ticket.report(signal, status=status, retry_after=retry_after)
        except EndpointPausedError as error:
            self.error = error

    def answer(
        self, signal: Signal, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self._answer.set_result((signal, status, retry_after))

    def leave(self) -> None:
        """End the turn without a report (as a send that raised something else)."""
        self._answer.set_result(None)


async def open_circuit(gate: EndpointGate, failures: int = 5, status: int = 503) -> None:
    for _ in range(failures):
        await send(gate, Signal.FAILURE, status=status)


def state_of(gate: EndpointGate, endpoint: str = API) -> EndpointState | None:
    return next((state for state in gate.states() if state.endpoint == endpoint), None)


def test_the_circuit_opens_after_the_threshold_of_failures_in_a_row() -> None:
    async def scenario(fake: FakeTime) -> list[Any]:
        gate = make_gate(fake)
        await open_circuit(gate, failures=4)
        four = state_of(gate)
        await send(gate, Signal.OK)
        await open_circuit(gate, failures=4)  # a success ended the run: 4 again, still closed
        again = state_of(gate)
        await send(gate, Signal.FAILURE, status=502)
        return [four, again, state_of(gate)]

    four, again, opened = run(scenario)
    assert (four.state, four.failures, four.resumes_in) == ("closed", 4, None)
    assert (again.state, again.failures) == ("closed", 4)
    assert (opened.state, opened.failures, opened.resumes_in) == ("open", 5, 1.0)
    assert opened.reason is not None
    assert "502" in opened.reason


def test_a_burst_of_failures_opens_the_circuit_only_once_it_lasts_the_span() -> None:
    async def scenario(fake: FakeTime) -> list[tuple[str, int]]:
        gate = make_gate(fake, failure_span=1.0)
        seen = []
        await open_circuit(gate, failures=8)  # together: a burst, retried rather than probed
        seen.append((state_of(gate).state, state_of(gate).failures))  # type: ignore[union-attr]
        await fake.advance(0.5)
        await send(gate, Signal.FAILURE, status=503)
        seen.append((state_of(gate).state, state_of(gate).failures))  # type: ignore[union-attr]
        await fake.advance(0.5)  # still failing a second after the first: down
        await send(gate, Signal.FAILURE, status=503)
        seen.append((state_of(gate).state, state_of(gate).failures))  # type: ignore[union-attr]
        return seen

    assert run(scenario) == [("closed", 8), ("closed", 9), ("open", 10)]


def test_rate_limited_answers_are_not_failures() -> None:
    async def scenario(fake: FakeTime) -> EndpointState | None:
        gate = make_gate(fake, failure_threshold=2)
        await send(gate, Signal.FAILURE, status=503)
        await send(gate, Signal.RATE_LIMITED, status=429)
        await send(gate, Signal.FAILURE, status=503)
        return state_of(gate)

    state = run(scenario)
    assert state is not None
    assert (state.state, state.failures) == ("closed", 1)


def test_an_open_circuit_lets_one_probe_go_at_its_time_and_holds_the_others() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        limiter = RateLimiter()
        await open_circuit(gate)
        requests = [Request(gate, limiter) for _ in range(10)]
        await settle()
        assert not any(request.granted.is_set() for request in requests)
        await fake.advance(0.999)
        assert not any(request.granted.is_set() for request in requests)
        await fake.advance(0.001)
        granted = [request for request in requests if request.granted.is_set()]
        assert granted == [requests[0]]
        assert requests[0].ticket is not None
        assert requests[0].ticket.probe
        assert state_of(gate).state == "half_open"  # type: ignore[union-attr]
        await fake.advance(30)  # a slow probe: still one request out
        assert [request for request in requests if request.granted.is_set()] == granted
        requests[0].answer(Signal.OK)
        await settle()
        assert all(request.granted.is_set() for request in requests)
        assert not any(request.ticket.probe for request in requests[1:])  # type: ignore[union-attr]
        for request in requests[1:]:
            request.answer(Signal.OK)
        await asyncio.gather(*(request.task for request in requests))
        assert state_of(gate) is None  # closed, no failure: nothing to tell

    run(scenario)


def test_a_closing_circuit_tells_its_listeners_once_and_a_detached_one_no_more() -> None:
    async def scenario(fake: FakeTime) -> tuple[list[str], list[str]]:
        gate = make_gate(fake)
        first: list[str] = []
        second: list[str] = []
        gate.on_close(first.append)
        detach = gate.on_close(second.append)
        await send(gate, Signal.OK)  # a success of a closed circuit closes nothing
        await open_circuit(gate)
        await fake.advance(1.0)
        await send(gate, Signal.OK)  # the probe: the circuit closes
        detach()
        await open_circuit(gate)
        await fake.advance(1.0)
        await send(gate, Signal.OK)
        return first, second

    first, second = run(scenario)
    assert first == [API, API]
    assert second == [API]


def test_a_failing_close_listener_does_not_break_delivery() -> None:
    async def scenario(fake: FakeTime) -> EndpointState | None:
        gate = make_gate(fake)

        def broken(endpoint: str) -> None:
            raise RuntimeError("listener bug")

        gate.on_close(broken)
        await open_circuit(gate)
        await fake.advance(1.0)
        await send(gate, Signal.OK)
        await send(gate, Signal.OK)
        return state_of(gate)

    assert run(scenario) is None  # closed, and requests still go


def test_each_failed_probe_doubles_the_interval_up_to_the_cap() -> None:
    async def scenario(fake: FakeTime) -> list[float | None]:
        gate = make_gate(fake, open_interval=1.0, max_open_interval=10.0)
        await open_circuit(gate)
        intervals = [state_of(gate).resumes_in]  # type: ignore[union-attr]
        for _ in range(6):
            probe = Request(gate, RateLimiter())
            await fake.advance(state_of(gate).resumes_in)  # type: ignore[arg-type,union-attr]
            assert probe.granted.is_set()
            probe.answer(Signal.FAILURE, status=503)
            await probe.task
            intervals.append(state_of(gate).resumes_in)  # type: ignore[union-attr]
        return intervals

    assert run(scenario) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_successful_probe_closes_the_circuit_and_resets_the_interval() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        await open_circuit(gate)
        for _ in range(2):  # two failed probes: the interval is 4 s
            probe = Request(gate, RateLimiter())
            await fake.advance(state_of(gate).resumes_in)  # type: ignore[arg-type,union-attr]
            probe.answer(Signal.FAILURE)
            await probe.task
        assert state_of(gate).resumes_in == 4.0  # type: ignore[union-attr]
        probe = Request(gate, RateLimiter())
        await fake.advance(4.0)
        probe.answer(Signal.OK, status=200)
        await probe.task
        assert state_of(gate) is None
        await open_circuit(gate)
        assert state_of(gate).resumes_in == 1.0  # type: ignore[union-attr]

    run(scenario)


def test_the_jitter_shortens_the_interval_by_at_most_its_fraction() -> None:
    async def scenario(fake: FakeTime) -> float | None:
        gate = make_gate(fake, jitter=0.2, rng=random.Random(7))
        await open_circuit(gate)
        return state_of(gate).resumes_in  # type: ignore[union-attr]

    first = run(scenario)
    assert first is not None
    assert 0.8 <= first < 1.0
    assert run(scenario) == first  # the same seed, the same probe time


def test_max_wait_raises_at_once_when_the_probe_is_further_away() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake, open_interval=8.0)
        await open_circuit(gate)
        await fake.advance(3.0)
        with pytest.raises(EndpointPausedError) as raised:
            async with gate.turn(API, RateLimiter(), max_wait=2.0):
                pytest.fail("the turn must not be granted")
        assert raised.value.code == "ENDPOINT_PAUSED"
        assert raised.value.retry_after == 5.0
        waiting = Request(gate, RateLimiter(), max_wait=5.0)  # the probe is within 5 s
        await settle()
        assert not waiting.granted.is_set()
        assert waiting.error is None
        await fake.advance(5.0)
        assert waiting.granted.is_set()
        waiting.answer(Signal.OK)
        await waiting.task

    run(scenario)


def test_a_waiting_turn_raises_when_the_endpoint_is_held_longer_than_it_may_wait() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        limiter = RateLimiter()
        await open_circuit(gate)
        await fake.advance(1.0)
        probe = Request(gate, limiter)
        waiting = Request(gate, limiter, max_wait=3.0)
        await settle()
        assert probe.granted.is_set()
        assert not waiting.granted.is_set()  # waits for the probe's answer: one request
        probe.answer(Signal.FAILURE, status=503)  # reopened for 2 s: still within 3 s
        await settle()
        assert waiting.error is None
        late = Request(gate, limiter)
        await fake.advance(2.0)  # the second probe goes to the one waiting first
        assert waiting.granted.is_set()
        assert not late.granted.is_set()
        waiting.answer(Signal.FAILURE, status=503, retry_after=30)  # a 30 s pause and 4 s open
        await settle()
        assert late.error is None  # no max_wait: it waits
        bounded = Request(gate, limiter, max_wait=20.0)
        await settle()
        assert bounded.error is not None
        assert bounded.error.retry_after == 30.0
        late.task.cancel()
        await asyncio.gather(probe.task, waiting.task, bounded.task)

    run(scenario)


def test_a_pause_and_an_open_circuit_wait_for_the_later_of_the_two() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake, open_interval=4.0)
        await open_circuit(gate, failures=4)
        await send(gate, Signal.FAILURE, status=503, retry_after=10)  # opens 4 s, pauses 10 s
        state = state_of(gate)
        assert state is not None
        assert (state.state, state.resumes_in) == ("open", 10.0)
        assert state.reason is not None
        assert state.reason.startswith("a 503 answer asked to wait 10 s (Retry-After)")
        request = Request(gate, RateLimiter())
        await fake.advance(9.5)
        assert not request.granted.is_set()
        await fake.advance(0.5)
        assert request.granted.is_set()
        assert request.ticket is not None
        assert request.ticket.probe
        request.answer(Signal.FAILURE, status=503, retry_after=1)  # reopens 8 s, pauses 1 s
        await request.task
        later = state_of(gate)
        assert later is not None
        assert (later.state, later.resumes_in) == ("open", 8.0)
        assert later.reason == "6 failures in a row (last: 503); next probe after 8 s"

    run(scenario)


def test_a_retry_after_pauses_a_closed_endpoint_without_cutting_its_rate() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        await send(gate, Signal.RATE_LIMITED, status=429, retry_after=30)
        state = state_of(gate)
        assert state == EndpointState(
            API, "closed", 30.0, "a 429 answer asked to wait 30 s (Retry-After)", 0, None
        )
        request = Request(gate, RateLimiter())
        await fake.advance(29.0)
        assert not request.granted.is_set()
        await fake.advance(1.0)
        assert request.granted.is_set()
        request.answer(Signal.OK)
        await request.task
        assert state_of(gate) is None

    run(scenario)


def test_a_probe_left_without_a_report_hands_the_probe_to_the_next_waiter() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        limiter = RateLimiter()
        await open_circuit(gate)
        first, second, third = (Request(gate, limiter) for _ in range(3))
        await fake.advance(1.0)
        assert first.granted.is_set()
        first.leave()
        await settle()
        assert second.granted.is_set()
        assert second.ticket is not None
        assert second.ticket.probe
        assert not third.granted.is_set()
        second.task.cancel()  # cancelled while sending
        await settle()
        assert third.granted.is_set()
        assert third.ticket is not None
        assert third.ticket.probe
        third.answer(Signal.OK)
        await asyncio.gather(first.task, third.task)
        assert state_of(gate) is None

    run(scenario)


def test_a_rate_limited_answer_without_retry_after_cuts_the_rate_from_what_was_observed() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake)
        limiter = RateLimiter()
        for _ in range(20):  # 20 requests over the last second
            await send(gate, Signal.OK)
            await fake.advance(0.05)
        requests = [Request(gate, limiter) for _ in range(4)]
        await settle()
        assert all(request.granted.is_set() for request in requests)
        requests[0].answer(Signal.RATE_LIMITED, status=429)
        await requests[0].task
        state = state_of(gate)
        assert state is not None
        assert state.rate == pytest.approx(12.0)  # half of the 24 let go within the second
        assert state.state == "closed"
        assert state.resumes_in is None
        assert state.reason == "rate cut to 12 requests/s after a 429"
        for request in requests[1:]:  # in flight at the cut: they do not cut it again
            request.answer(Signal.RATE_LIMITED, status=429)
        await asyncio.gather(*(request.task for request in requests))
        assert state_of(gate).rate == pytest.approx(12.0)  # type: ignore[union-attr]
        await fake.advance(1.0)
        await send(gate, Signal.RATE_LIMITED, status=429)  # sent after the cut: cuts again
        assert state_of(gate).rate == pytest.approx(6.0)  # type: ignore[union-attr]

    run(scenario)


def test_turns_wait_for_the_rate_and_go_in_the_order_they_came() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake, min_rate=2.0)
        await send(gate, Signal.RATE_LIMITED, status=429)  # 1 observed: the floor, 2/s
        assert state_of(gate).rate == 2.0  # type: ignore[union-attr]
        log: list[Request] = []
        requests = [Request(gate, RateLimiter(), log=log) for _ in range(5)]
        await settle()
        assert log == requests[:1]  # at most one each 0.5 s
        for granted in range(2, 6):
            await fake.advance(0.5)
            assert log == requests[:granted]
        for request in requests:
            request.leave()
        await asyncio.gather(*(request.task for request in requests))

    run(scenario)


def test_the_rate_recovers_additively_and_the_limit_is_lifted_above_the_cut() -> None:
    async def scenario(fake: FakeTime) -> list[float | None]:
        gate = make_gate(fake)
        for _ in range(8):
            await send(gate, Signal.OK)
            await fake.advance(0.125)
        await send(gate, Signal.RATE_LIMITED, status=429)  # 9 observed: cut to 4.5
        rates = [state_of(gate).rate]  # type: ignore[union-attr]
        for _ in range(5):  # successes over 5 s: +1/s each second
            for _ in range(4):
                await fake.advance(0.25)
                await send(gate, Signal.OK)
            state = state_of(gate)
            rates.append(state.rate if state is not None else None)
        return rates

    assert run(scenario) == pytest.approx([4.5, 5.5, 6.5, 7.5, 8.5, None])


def test_the_rate_is_never_cut_below_the_minimum() -> None:
    async def scenario(fake: FakeTime) -> list[float | None]:
        gate = make_gate(fake, min_rate=3.0)
        rates = []
        for _ in range(4):
            await send(gate, Signal.RATE_LIMITED, status=429)
            rates.append(state_of(gate).rate)  # type: ignore[union-attr]
            await fake.advance(1.0)
        return rates

    assert run(scenario) == [3.0, 3.0, 3.0, 3.0]


def test_states_tell_each_endpoint_and_forget_the_quiet_ones() -> None:
    async def scenario(fake: FakeTime) -> None:
        gate = make_gate(fake, forget_after=60.0)
        await open_circuit(gate, failures=2, status=500)
        await send(gate, Signal.FAILURE, endpoint=OTHER)  # no answer: a timeout
        await send(gate, Signal.OK, endpoint="https://fine.example.com:443")
        states = gate.states()
        assert [state.endpoint for state in states] == [API, OTHER]
        assert states[1].to_dict() == {
            "endpoint": OTHER,
            "state": "closed",
            "resumes_in": None,
            "reason": None,
            "failures": 1,
            "rate": None,
        }
        await open_circuit(gate, failures=3)
        opened = state_of(gate)
        assert opened is not None
        assert opened.reason == "5 failures in a row (last: 503); next probe after 1 s"
        await fake.advance(61.0)
        # OTHER's failure is old: forgotten; API stays until a probe closes it
        assert [state.endpoint for state in gate.states()] == [API]
        assert state_of(gate).state == "open"  # type: ignore[union-attr]
        assert state_of(gate).resumes_in == 0.0  # type: ignore[union-attr]
        probe = Request(gate, RateLimiter())
        await settle()
        half_open = state_of(gate)
        assert half_open is not None
        assert half_open.state == "half_open"
        assert half_open.reason == "5 failures in a row (last: 503); probing"
        probe.answer(Signal.OK)
        await probe.task
        assert gate.states() == []
        await fake.advance(3.0)
        await send(gate, Signal.OK, endpoint=OTHER)  # the next answer sweeps the table
        assert list(gate._endpoints) == [OTHER]  # bounded memory: quiet endpoints forgotten

    run(scenario)


def test_timeouts_are_told_as_no_answer() -> None:
    async def scenario(fake: FakeTime) -> str | None:
        gate = make_gate(fake, failure_threshold=1)
        await send(gate, Signal.FAILURE)
        return state_of(gate).reason  # type: ignore[union-attr]

    assert run(scenario) == "1 failure in a row (last: no answer); next probe after 1 s"


def test_waiters_leave_in_order_through_a_real_rate_limiter() -> None:
    async def scenario() -> None:
        gate = EndpointGate(failure_threshold=1, failure_span=0, open_interval=0.05, jitter=0.0)
        limiter = RateLimiter(per_second=200)
        await send(gate, Signal.FAILURE, status=503)
        log: list[Request] = []
        requests = []
        for index in range(8):
            requests.append(Request(gate, limiter, log=log, name=str(index)))
            await asyncio.sleep(0)  # each one stands in the line before the next comes
        await requests[0].granted.wait()
        assert log == requests[:1]
        requests[0].answer(Signal.OK)
        for request in requests[1:]:
            await request.granted.wait()
            request.answer(Signal.OK)
        await asyncio.gather(*(request.task for request in requests))
        assert [request.name for request in log] == [str(index) for index in range(8)]
        assert gate.states() == []

    asyncio.run(scenario())
