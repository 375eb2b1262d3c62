"""EventChecker: which events are Segment events, what it says about the others, and that it
agrees with the documented contract, schemas/event.schema.json."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from framework.definitions.events import EVENT_TYPES, EventChecker
from framework.errors import EventError, sort_problems

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "events"
SCHEMA = json.loads((ROOT / "schemas" / "event.schema.json").read_text(encoding="utf-8"))
CASES = yaml.safe_load((ROOT / "tests" / "data" / "event_cases.yaml").read_text(encoding="utf-8"))

CHECKER = EventChecker()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

GOOD_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json") if not p.stem.startswith("broken-"))
BROKEN_FIXTURES = sorted(p.stem for p in FIXTURES.glob("broken-*.json"))

# The jsonschema library runs `pattern` with Python's re.search, whose `$` also matches before
# a final newline; JSON Schema means ECMA-262 regexes, where it does not (nor does the checker).
PYTHON_REGEX_QUIRK = {"timestamp-with-trailing-newline"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def case_event(case: dict[str, Any]) -> Any:
    if "event" in case:
        return case["event"]
    event = fixture(case["base"])
    event.update(case.get("set", {}))
    for key in case.get("drop", []):
        del event[key]
    return event


def found(event: Any) -> list[list[str]]:
    return [[problem.pointer, problem.code] for problem in CHECKER.problems(event)]


def schema_says_valid(event: Any) -> bool:
    return VALIDATOR.is_valid(event)


# --- the tables -----------------------------------------------------------------------------


def test_there_is_a_realistic_fixture_of_every_event_type() -> None:
    assert sorted(fixture(name)["type"] for name in GOOD_FIXTURES) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("name", GOOD_FIXTURES)
def test_realistic_fixture_event_is_accepted(name: str) -> None:
    CHECKER.check(fixture(name))
    assert CHECKER.problems(fixture(name)) == []


def test_every_broken_fixture_has_its_expected_problems_listed() -> None:
    assert sorted(CASES["fixtures"]) == BROKEN_FIXTURES


@pytest.mark.parametrize("name", BROKEN_FIXTURES)
def test_broken_fixture_is_refused_with_its_problems(name: str) -> None:
    expected = CASES["fixtures"][name]
    assert found(fixture(name)) == expected
    with pytest.raises(EventError) as caught:
        CHECKER.check(fixture(name))
    assert caught.value.pointer == expected[0][0]
    assert caught.value.code == "EVENT_INVALID"


@pytest.mark.parametrize("case", CASES["cases"], ids=[case["id"] for case in CASES["cases"]])
def test_event_case(case: dict[str, Any]) -> None:
    event = case_event(case)
    assert found(event) == case["problems"]
    if case["problems"]:
        with pytest.raises(EventError) as caught:
            CHECKER.check(event)
        assert caught.value.pointer == case["problems"][0][0]
    else:
        CHECKER.check(event)


def test_case_ids_are_unique() -> None:
    ids = [case["id"] for case in CASES["cases"]]
    assert len(ids) == len(set(ids))


# --- the schema is the contract ---------------------------------------------------------------


def test_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_property_and_definition_has_a_description_for_editors() -> None:
    documented = {f"/properties/{name}": sub for name, sub in SCHEMA["properties"].items()}
    for name, definition in SCHEMA["$defs"].items():
        documented[f"/$defs/{name}"] = definition
        for field, sub in definition.get("properties", {}).items():
            documented[f"/$defs/{name}/properties/{field}"] = sub
    assert [where for where, sub in documented.items() if "description" not in sub] == []


def test_schema_type_enum_is_the_checkers_list_of_types() -> None:
    assert tuple(SCHEMA["properties"]["type"]["enum"]) == EVENT_TYPES


@pytest.mark.parametrize("name", GOOD_FIXTURES + BROKEN_FIXTURES)
def test_schema_and_checker_agree_on_fixture(name: str) -> None:
    event = fixture(name)
    assert schema_says_valid(event) == (CHECKER.problems(event) == [])


@pytest.mark.parametrize(
    "case",
    [case for case in CASES["cases"] if case["id"] not in PYTHON_REGEX_QUIRK],
    ids=[case["id"] for case in CASES["cases"] if case["id"] not in PYTHON_REGEX_QUIRK],
)
def test_schema_and_checker_agree_on_case(case: dict[str, Any]) -> None:
    event = case_event(case)
    assert schema_says_valid(event) == (case["problems"] == [])


# --- messages -------------------------------------------------------------------------------


def test_unknown_type_message_names_the_types_and_quotes_the_value() -> None:
    with pytest.raises(EventError) as caught:
        CHECKER.check(fixture("broken-unknown-type"))
    assert caught.value.message == (
        "The event's 'type' must be one of track, identify, page, screen, group, alias, "
        'but it is "trak".'
    )


def test_long_values_are_truncated_in_messages() -> None:
    event = {"type": "x" * 10_000, "userId": "u"}
    [problem] = CHECKER.problems(event)
    assert len(problem.message) < 200
    assert '"' + "x" * 40 + '…"' in problem.message


def test_ids_are_never_repeated_in_messages() -> None:
    messages = [p.message for p in CHECKER.problems(fixture("broken-user-id-is-a-number"))]
    assert messages == [
        "The event's 'userId' must be a string or null, but it is a number (send ids as strings)."
    ]


@pytest.mark.parametrize("name", BROKEN_FIXTURES)
def test_message_is_a_sentence_without_the_event(name: str) -> None:
    event = fixture(name)
    for problem in CHECKER.problems(event):
        assert problem.message[0].isupper()
        assert problem.message.endswith(".")
        assert "user_8675309" not in problem.message
        assert "jenny@example.com" not in problem.message


def test_a_non_json_value_is_named_by_its_python_type() -> None:
    [problem] = CHECKER.problems({"type": "track", "event": "E", "userId": "u", "traits": {1, 2}})
    assert problem.pointer == "/traits"
    assert "set" in problem.message


# --- properties over any input --------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_check_raises_only_event_error_on_any_json(event: Any) -> None:
    problems = CHECKER.problems(event)
    assert problems == sort_problems(problems)
    if problems:
        with pytest.raises(EventError) as caught:
            CHECKER.check(event)
        assert (caught.value.pointer, caught.value.message) == (
            problems[0].pointer,
            problems[0].message,
        )
    else:
        CHECKER.check(event)


def _timestamps() -> st.SearchStrategy[Any]:
    real = st.datetimes().map(lambda moment: moment.isoformat())
    zoned = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    impossible = st.sampled_from(["2023-02-29T00:00:00Z", "2024-06-31T10:00:00Z"])
    return real | zoned | impossible | json_scalars


FIELD_VALUES = {
    "type": st.sampled_from([*EVENT_TYPES, "Track", "trak", ""]) | json_scalars,
    "userId": st.sampled_from(["u1", ""]) | json_scalars,
    "anonymousId": st.sampled_from(["a1", ""]) | json_scalars,
    "event": st.sampled_from(["Order Completed", ""]) | json_scalars,
    "groupId": st.sampled_from(["g1", ""]) | json_scalars,
    "previousId": st.sampled_from(["p1", ""]) | json_scalars,
    "name": json_scalars,
    "category": json_scalars,
    "messageId": json_scalars,
    "timestamp": _timestamps(),
    "sentAt": _timestamps(),
    "properties": json_values,
    "traits": json_values,
    "context": json_values,
    "integrations": json_values
    | st.dictionaries(st.sampled_from(["All", "Mixpanel", "a/b"]), json_values, max_size=3),
}


@st.composite
def near_events(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), min_size=1))
    return {field: draw(FIELD_VALUES[field]) for field in sorted(fields)}


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = fixture(draw(st.sampled_from(GOOD_FIXTURES)))
    for field in draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=2)):
        if draw(st.booleans()):
            event.pop(field, None)
        else:
            event[field] = draw(FIELD_VALUES[field])
    return event


@settings(max_examples=500)
@given(near_events() | mutated_fixtures())
def test_schema_and_checker_agree_on_near_events(event: dict[str, Any]) -> None:
    # Trailing newlines are the jsonschema library's regex quirk (see PYTHON_REGEX_QUIRK).
    assume(not any(isinstance(value, str) and value.endswith("\n") for value in event.values()))
    assert schema_says_valid(event) == (CHECKER.problems(event) == []), CHECKER.problems(event)


@pytest.mark.parametrize("name", GOOD_FIXTURES)
def test_checking_leaves_the_event_unchanged(name: str) -> None:
    event = fixture(name)
    before = copy.deepcopy(event)
    CHECKER.check(event)
    assert event == before


@given(st.integers(1, 9999), st.integers(1, 12), st.integers(1, 31))
def test_a_timestamp_is_accepted_exactly_when_its_date_exists(
    year: int, month: int, day: int
) -> None:
    try:
        date(year, month, day)
    except ValueError:
        exists = False
    else:
        exists = True
    event = {**fixture("track"), "timestamp": f"{year:04}-{month:02}-{day:02}T08:00:00Z"}
    assert (CHECKER.problems(event) == []) == exists
    assert schema_says_valid(event) == exists
