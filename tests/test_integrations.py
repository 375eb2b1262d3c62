"""integrations_decision: Segment's rules for an event's integrations object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from framework.definitions.integrations import integrations_decision

ROOT = Path(__file__).resolve().parents[1]
TABLE = yaml.safe_load(
    (ROOT / "tests" / "data" / "integrations_cases.yaml").read_text(encoding="utf-8")
)
CASES = TABLE["cases"]
DEFAULT_NAMES = tuple(TABLE["defaults"]["names"])
TRACK = json.loads(
    (ROOT / "tests" / "fixtures" / "events" / "track.json").read_text(encoding="utf-8")
)


def event_with(integrations: Any = None, *, present: bool = True) -> dict[str, Any]:
    event = {key: value for key, value in TRACK.items() if key != "integrations"}
    if present:
        event["integrations"] = integrations
    return event


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_integrations_case(case: dict[str, Any]) -> None:
    event = event_with(case.get("integrations"), present="integrations" in case)
    names = tuple(case.get("names", DEFAULT_NAMES))
    assert integrations_decision(event, names) == case["reason"]


def test_case_ids_are_unique() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))


def test_fixture_track_event_reaches_a_destination_it_does_not_name() -> None:
    assert integrations_decision(TRACK, DEFAULT_NAMES) is None


def test_fixture_track_event_does_not_reach_a_destination_it_turns_off() -> None:
    assert integrations_decision(TRACK, ("Mixpanel",)) == 'integrations["Mixpanel"] is false'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
names = st.lists(st.sampled_from(["Contentstack Web", "All", "Mixpanel", "x"]), max_size=3)
integrations_objects = st.dictionaries(
    st.sampled_from(["All", "Contentstack Web", "Mixpanel", "x"]), json_values, max_size=4
)


@given(integrations_objects | json_values, names)
def test_decision_is_none_or_a_reason_for_any_integrations_value(
    integrations: Any, destination_names: list[str]
) -> None:
    reason = integrations_decision(event_with(integrations), destination_names)
    assert reason is None or reason.startswith("integrations")


@given(integrations_objects, st.sampled_from([True, {}, {"region": "eu"}]))
def test_own_key_enabling_wins_over_anything_else(
    integrations: dict[str, Any], enabling: Any
) -> None:
    integrations = {**integrations, "Contentstack Web": enabling}
    assert integrations_decision(event_with(integrations), DEFAULT_NAMES) is None


@given(integrations_objects)
def test_own_key_false_always_stops_the_event(integrations: dict[str, Any]) -> None:
    integrations = {**integrations, "Contentstack Web": False}
    assert integrations_decision(event_with(integrations), DEFAULT_NAMES) == (
        'integrations["Contentstack Web"] is false'
    )


@given(integrations_objects)
def test_without_a_key_of_its_own_only_all_false_stops_the_event(
    integrations: dict[str, Any],
) -> None:
    integrations.pop("Contentstack Web", None)
    reason = integrations_decision(event_with(integrations), DEFAULT_NAMES)
    assert (reason is not None) == (integrations.get("All") is False)
