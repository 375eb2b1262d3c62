"""Durations in files and on command lines, and the instance's retry horizon (retryFor)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import load_instance
from framework.definitions.durations import format_duration, parse_duration
from framework.errors import DefinitionError

BASE: dict[str, Any] = {
    "destination": "contentstack",
    "name": "p",
    "settings": {
        "personalizeProjectId": "proj",
        "personalizeEdgeApiBaseUrl": "https://personalize-edge.contentstack.com",
    },
    "mappings": [{"name": "Events", "preset": "events-sync"}],
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4h", 14400.0),
        ("10m", 600.0),
        ("90s", 90.0),
        ("250ms", 0.25),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        (" 45 ", 45.0),
        ("2.5", 2.5),
        (600, 600.0),
        (0.5, 0.5),
    ],
)
def test_durations_read(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "-1", "h", "4x", "1h 30m", "nan", "1e3", True, math.inf, -5, 0]
)
def test_what_is_not_a_duration_is_refused_with_what_would_be_right(text: Any) -> None:
    with pytest.raises(ValueError, match="not a duration") as caught:
        parse_duration(text)
    assert "4h" in str(caught.value)  # the message shows a valid example


@given(st.floats(min_value=0.001, max_value=30 * 86400))
def test_a_formatted_duration_reads_back_close_to_itself(seconds: float) -> None:
    back = parse_duration(format_duration(seconds))
    # Two units at most are shown (1d3h, 4h20m): what is left out is less than one of the
    # second unit, at most 1/24 of the first; under a minute, three significant digits.
    assert abs(back - seconds) <= max(0.0005, seconds / 24, 1.0 if seconds >= 60 else 0.05)


def test_the_instance_takes_retry_for_as_seconds_or_a_duration() -> None:
    assert load_instance({**BASE, "delivery": {"retryFor": "4h"}}).delivery.retry_for == 14400.0
    assert load_instance({**BASE, "delivery": {"retryFor": 90}}).delivery.retry_for == 90.0
    assert load_instance(BASE).delivery.retry_for is None


@pytest.mark.parametrize("value", ["soon", 0, -1, "8d", True])
def test_a_bad_retry_for_is_reported_at_its_pointer(value: Any) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance({**BASE, "delivery": {"retryFor": value}})
    pointers = [problem.pointer for problem in caught.value.problems]
    assert "/delivery/retryFor" in pointers


def test_the_value_error_prefix_of_the_model_is_not_shown() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance({**BASE, "delivery": {"retryFor": "8d"}})
    [problem] = [p for p in caught.value.problems if p.pointer == "/delivery/retryFor"]
    assert "7d" in problem.message
    assert not problem.message.startswith("Value error")
