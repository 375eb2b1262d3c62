"""Retry decisions: which statuses are retried, backoff with jitter, Retry-After, deadlines."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.delivery.http import Answer, error_for
from framework.delivery.retry import RetryPolicy, is_retryable_status, parse_retry_after
from framework.errors import RetryableError


@pytest.mark.parametrize("status", [408, 423, 429, 500, 502, 503, 504, 599])
def test_these_statuses_are_retried(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 422, 501, 505])
def test_these_statuses_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2026 07:28:10 GMT", 10.0),
        ("nan", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    rng = random.Random(1)
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    for attempt, cap in enumerate(caps, start=1):
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= wait <= cap for wait in waits)
        assert max(waits) > cap * 0.8  # full jitter spreads over the whole range


def test_no_retry_after_the_last_attempt_or_past_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.5, deadline=10.0)
    rng = random.Random(0)
    assert policy.next_wait(1, 0.0, None, rng) is not None
    assert policy.next_wait(3, 0.0, None, rng) is None
    assert policy.next_wait(1, 9.99, 5.0, rng) is None


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.01, max_retry_after=30.0)
    rng = random.Random(0)
    assert policy.next_wait(1, 0.0, 2.0, rng) == 2.0
    assert policy.next_wait(1, 0.0, 31.0, rng) is None


@given(
    attempt=st.integers(1, 50),
    elapsed=st.floats(0, 100),
    retry_after=st.none() | st.floats(0, 100),
)
def test_a_wait_never_crosses_the_deadline(
    attempt: int, elapsed: float, retry_after: float | None
) -> None:
    policy = RetryPolicy(max_attempts=60, deadline=60.0)
    wait = policy.next_wait(attempt, elapsed, retry_after, random.Random(attempt))
    if wait is not None:
        assert wait >= 0
        assert elapsed + wait < policy.deadline


def test_backoff_stays_finite_for_any_number_of_attempts() -> None:
    policy = RetryPolicy(max_attempts=100_000, base_delay=0.5, max_delay=7.0)
    rng = random.Random(1)
    waits = [policy.backoff(attempt, rng) for attempt in (1, 61, 1_100, 99_999)]
    assert all(0.0 <= wait <= 7.0 for wait in waits)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "RATE_LIMITED"),
        (503, "RETRYABLE_ERROR"),
        (500, "RETRYABLE_ERROR"),
        (408, "RETRYABLE_ERROR"),
    ],
)
def test_every_retryable_answer_carries_its_retry_after(status: int, code: str) -> None:
    error = error_for(Answer(status=status, body="", retry_after=1.0, elapsed=0.0))
    assert isinstance(error, RetryableError)
    assert (error.code, error.status, error.retry_after) == (code, status, 1.0)
    without = error_for(Answer(status=status, body="", retry_after=None, elapsed=0.0))
    assert isinstance(without, RetryableError)
    assert without.retry_after is None


def test_a_permanent_answer_is_not_retried_whatever_its_retry_after() -> None:
    error = error_for(Answer(status=400, body="", retry_after=1.0, elapsed=0.0))
    assert error is not None
    assert (error.code, error.retryable) == ("INTEGRATION_ERROR", False)


def test_the_default_policy_is_a_horizon_with_no_attempt_limit() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.deadline, policy.max_delay) == (None, 600.0, 30.0)
    rng = random.Random(3)
    assert policy.next_wait(10_000, 0.0, None, rng) is not None  # attempts never end it
    assert policy.next_wait(3, 599.9, None, rng) is None  # the horizon does


def test_waits_are_between_half_the_cap_and_the_cap() -> None:
    # So that a delivery waiting out a long outage tries at most about twice per max_delay.
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    rng = random.Random(5)
    for attempt, cap in [(1, 1.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(cap / 2 <= wait <= cap for wait in waits)


@pytest.mark.parametrize("attempts", [0, -1])
def test_an_attempt_limit_must_be_at_least_one(attempts: int) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=attempts)
