"""The event check's one-pass verdict is the verdict of the rules asked one by one.

``EventChecker.problems`` answers a valid dict through :meth:`EventChecker.passes` (one walk
over the event's fields) and asks :meth:`EventChecker.all_problems` only otherwise; these
tests hold the two to the same answer on random events near the rules' edges.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from framework.definitions.events import EVENT_TYPES, EventChecker

CHECKER = EventChecker()

FIELDS = (
    "type",
    "userId",
    "anonymousId",
    "event",
    "groupId",
    "previousId",
    "messageId",
    "name",
    "category",
    "context",
    "properties",
    "traits",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "integrations",
    "other",
)

DATES = st.sampled_from(
    [
        "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00.123+02:00",
        "2024-02-29 00:00",
        "2023-02-29T00:00:00Z",  # no such day
        "2024-05-01",
        "2024-05-01T12:30:00Z\n",
        "",
    ]
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "track", "All", *EVENT_TYPES]),
    DATES,
)

VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["All", "a", "b"]), inner, max_size=3),
    ),
    max_leaves=6,
)

INTEGRATIONS = st.dictionaries(
    st.sampled_from(["All", "a", "b"]),
    st.one_of(st.booleans(), st.just({}), VALUES),
    max_size=3,
)
"""What an event's ``integrations`` often is: an object of booleans and objects (or not)."""


@st.composite
def events(draw: st.DrawFn, *, mappings: bool = False) -> dict[str, Any]:
    """A dict with some of the rules' fields, each any value; valid ones often."""
    event: dict[str, Any] = {}
    if draw(st.booleans()):  # a valid base, so that the fields drawn next decide
        event.update({"type": draw(st.sampled_from(EVENT_TYPES)), "userId": "u"})
        event.update({"event": "e", "groupId": "g", "previousId": "p"})
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        value = draw(st.one_of(VALUES, INTEGRATIONS) if field == "integrations" else VALUES)
        if mappings and isinstance(value, dict) and draw(st.booleans()):
            value = MappingProxyType(value)  # a mapping, not a dict
        event[field] = value
    return event


@given(events())
def test_passes_is_true_exactly_when_the_rules_find_nothing(event: dict[str, Any]) -> None:
    assert CHECKER.passes(event) == (CHECKER.all_problems(event) == [])


@given(events(mappings=True))
def test_problems_are_the_rules_problems_whatever_the_mapping(event: dict[str, Any]) -> None:
    assert CHECKER.problems(event) == CHECKER.all_problems(event)
    assert CHECKER.problems(MappingProxyType(event)) == CHECKER.all_problems(event)


def test_a_typical_event_passes_and_each_broken_rule_is_named() -> None:
    event = {"type": "track", "userId": "u", "event": "Order Completed", "properties": {}}
    assert CHECKER.passes(event)
    assert CHECKER.problems(event) == []
    for field, value, code in [
        ("event", "", "EMPTY"),
        ("userId", 7, "WRONG_TYPE"),
        ("properties", [], "WRONG_TYPE"),
        ("timestamp", "yesterday", "BAD_DATE_TIME"),
        ("integrations", {"All": "yes"}, "WRONG_TYPE"),
    ]:
        broken = {**event, field: value}
        assert not CHECKER.passes(broken)
        assert [p.code for p in CHECKER.problems(broken)] == [code]


@given(st.sampled_from(EVENT_TYPES), st.one_of(INTEGRATIONS, VALUES))
def test_integrations_pass_exactly_when_the_rules_find_nothing(kind: str, value: Any) -> None:
    event = {"type": kind, "userId": "u", "event": "e", "groupId": "g", "previousId": "p"}
    event["integrations"] = value
    assert CHECKER.passes(event) == (CHECKER.all_problems(event) == [])
