"""A queue consumer's decisions after a try: ack, wait (defer) or fail, within the horizon."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.delivery.outcome import Delivery
from framework.queue.base import QueuedEvent
from framework.queue.horizon import DEFAULT_RETRY_FOR, QueueBackoff, decide, expired

NOW = 1_800_000_000.0
EVENT: dict[str, Any] = {"type": "track", "userId": "u1", "event": "E"}


def delivery(outcome: str, mapping: str = "Events", **extra: Any) -> Delivery:
    return Delivery(instance="p", mapping=mapping, action="a", outcome=outcome, **extra)  # type: ignore[arg-type]


def horizon(name: str) -> float:
    return {"p": DEFAULT_RETRY_FOR, "short": 60.0}.get(name, DEFAULT_RETRY_FOR)


def run(item: QueuedEvent, deliveries: list[Delivery], now: float = NOW) -> Any:
    return decide(
        item,
        deliveries,
        now=now,
        horizon_for=horizon,
        backoff=QueueBackoff(base=1.0, cap=300.0),
        rng=random.Random(7),
    )


def test_every_delivery_ended_is_an_ack() -> None:
    ended = [delivery("delivered"), delivery("filtered", "Pages"), delivery("dead_lettered", "X")]
    assert run(QueuedEvent(EVENT), ended).action == "ack"


def test_a_retryable_failure_waits_with_the_ended_deliveries_recorded() -> None:
    item = QueuedEvent(EVENT)
    decision = run(
        item,
        [
            delivery("delivered", "Events"),
            delivery("retryable_failure", "Pages", error_code="RETRYABLE_ERROR", status=503),
        ],
    )
    assert decision.action == "defer"
    assert decision.item.done == (("p", "Events"),)
    assert (decision.item.retries, decision.item.first_failed_at) == (1, NOW)
    assert NOW + 0.5 <= decision.at <= NOW + 1.0  # the first wait: 1 s, half of it jittered
    assert "p/Pages" in decision.item.last_error
    assert "503" in decision.item.last_error


def test_the_server_s_retry_after_is_waited_at_least() -> None:
    failed = delivery("retryable_failure", error_code="RATE_LIMITED", retry_after=42.0)
    assert run(QueuedEvent(EVENT), [failed]).at == NOW + 42.0


def test_waits_grow_to_their_cap() -> None:
    item = QueuedEvent(EVENT, retries=30, first_failed_at=NOW - 100)
    decision = run(item, [delivery("retryable_failure")])
    assert NOW + 150 <= decision.at <= NOW + 300
    assert decision.item.retries == 31
    assert decision.item.first_failed_at == NOW - 100


def test_the_last_try_is_at_the_horizon_and_after_it_the_delivery_expires() -> None:
    first = NOW - DEFAULT_RETRY_FOR + 10  # 10 s before the horizon
    item = QueuedEvent(EVENT, retries=20, first_failed_at=first)
    decision = run(item, [delivery("retryable_failure")])
    assert decision.at == first + DEFAULT_RETRY_FOR
    late = [delivery("retryable_failure")]
    assert expired(item, late, now=first + DEFAULT_RETRY_FOR, horizon_for=horizon) == late
    assert expired(item, late, now=first + DEFAULT_RETRY_FOR - 1, horizon_for=horizon) == []


def test_each_instance_has_its_own_horizon() -> None:
    item = QueuedEvent(EVENT, first_failed_at=NOW - 61)
    short = Delivery(instance="short", mapping="m", action="a", outcome="retryable_failure")
    long = delivery("retryable_failure")
    assert expired(item, [short, long], now=NOW, horizon_for=horizon) == [short]


def test_held_deliveries_go_back_at_once_without_counting_a_retry() -> None:
    item = QueuedEvent(EVENT, retries=2, first_failed_at=NOW - 5)
    decision = run(item, [delivery("held"), delivery("delivered", "Pages")])
    assert decision.action == "defer"
    assert decision.at == NOW
    assert decision.item.retries == 2
    assert decision.item.done == (("p", "Pages"),)


def test_a_failure_with_nowhere_to_go_is_a_failed_try() -> None:
    decision = run(QueuedEvent(EVENT), [delivery("permanent_failure", error_code="X")])
    assert decision.action == "fail"
    assert "p/Events" in decision.error
    past = QueuedEvent(EVENT, first_failed_at=NOW - DEFAULT_RETRY_FOR - 1)
    assert run(past, [delivery("retryable_failure")]).action == "fail"  # expired, not buried


def test_done_pairs_are_kept_and_never_repeated() -> None:
    item = QueuedEvent(EVENT, done=(("p", "Events"),))
    decision = run(item, [delivery("delivered", "Events"), delivery("retryable_failure", "X")])
    assert decision.item.done == (("p", "Events"),)


def test_an_instance_level_invalid_event_has_no_mapping_to_record() -> None:
    decision = run(QueuedEvent(EVENT), [delivery("invalid", ""), delivery("retryable_failure")])
    assert decision.item.done == ()


@pytest.mark.parametrize("base", [0.0, -1.0])
def test_a_backoff_needs_a_positive_base(base: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        QueueBackoff(base=base)


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=2**32))
def test_a_wait_is_within_half_and_all_of_its_capped_exponential(retries: int, seed: int) -> None:
    backoff = QueueBackoff(base=1.0, cap=300.0)
    wait = backoff.delay(retries, random.Random(seed))
    full = min(300.0, 2.0 ** min(retries - 1, 60))
    assert full / 2 <= wait <= full
