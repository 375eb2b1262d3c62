"""Our own trigger cases (tests/data/fql_cases.yaml) and the Trigger API around them.

The table holds the language beyond Segment (precedence, nesting, not, in, indexes, quoted
keys, escapes, exponents), syntax errors with their column and expected text, lint warnings
and readings of Segment's condition structure. Adding a case needs no code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from conformance_records import same_json

import framework.fql
from framework.errors import DefinitionError, TriggerSyntaxError
from framework.fql import Trigger, parse_trigger, trigger_from_segment_ast

ROOT = Path(__file__).resolve().parents[1]
DATA = yaml.safe_load((ROOT / "tests" / "data" / "fql_cases.yaml").read_text("utf-8"))
CASES: list[dict[str, Any]] = DATA["cases"]
SEGMENT_CASES: list[dict[str, Any]] = DATA["segment_cases"]
STRUCTURES: list[dict[str, Any]] = DATA["segment_structures"]
PARSED_CASES = [case for case in CASES if "error" not in case]
ERROR_CASES = [case for case in CASES if "error" in case]
TEXT_CASES = [case for case in CASES + SEGMENT_CASES if "fql" in case or "lint" in case]

# The ten triggers of the benchmark workload (../shared/peer/gen_workload.js).
WORKLOAD_TRIGGERS = [
    'type = "track"',
    'type = "track" and event = "Order Completed"',
    'type = "identify" or type = "track"',
    "properties.revenue > 100",
    'contains(event, "Order")',
    'context.device.type = "ios" and !contains(event, "Test")',
    'type = "page" and match(properties.path, "/docs*")',
    'type = "identify" and traits.email != null',
    '(type = "track" and properties.currency = "EUR") or type = "alias"',
    'type = "group" and traits.employees >= 100',
]


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["id"] for case in cases]


def check_text(trigger: Trigger, case: dict[str, Any]) -> None:
    if "fql" in case:
        assert trigger.to_fql() == case["fql"]
    assert parse_trigger(trigger.to_fql()) == trigger
    if "lint" in case:
        warnings = trigger.lint()
        assert len(warnings) == len(case["lint"]), warnings
        for warning, expected in zip(warnings, case["lint"], strict=True):
            assert expected in warning


@pytest.mark.parametrize("case", PARSED_CASES, ids=ids(PARSED_CASES))
def test_case_matches_events_and_converts(case: dict[str, Any]) -> None:
    trigger = parse_trigger(case["expr"])
    for event, expected in case.get("events", []):
        assert trigger.matches(event) is expected, event
    if "ast" in case:
        if case["ast"] is None:
            with pytest.raises(DefinitionError, match="cannot express"):
                trigger.to_segment_ast()
        else:
            assert same_json(trigger.to_segment_ast(), case["ast"])
    check_text(trigger, case)


@pytest.mark.parametrize("case", ERROR_CASES, ids=ids(ERROR_CASES))
def test_syntax_error_has_column_and_expected_text(case: dict[str, Any]) -> None:
    with pytest.raises(TriggerSyntaxError) as caught:
        parse_trigger(case["expr"])
    error, expected = caught.value, case["error"]
    assert error.code == "TRIGGER_SYNTAX"
    assert error.expression == case["expr"]
    assert error.column == expected["column"], str(error)
    assert expected["expected"] in error.expected
    assert expected["reason"] in error.reason
    assert [problem.pointer for problem in error.problems] == [f"column {error.column}"]


@pytest.mark.parametrize("case", TEXT_CASES, ids=ids(TEXT_CASES))
def test_canonical_text_and_lint(case: dict[str, Any]) -> None:
    check_text(parse_trigger(case["expr"]), case)


@pytest.mark.parametrize("case", STRUCTURES, ids=ids(STRUCTURES))
def test_reading_segment_structure(case: dict[str, Any]) -> None:
    if "problems" in case:
        with pytest.raises(DefinitionError) as caught:
            trigger_from_segment_ast(case["ast"])
        assert [problem.pointer for problem in caught.value.problems] == case["problems"]
        assert caught.value.code == "DEFINITION_INVALID"
    else:
        trigger = trigger_from_segment_ast(case["ast"])
        assert trigger.to_fql() == case["fql"]
        assert trigger.expression == case["fql"]


def test_reading_refuses_groups_nested_past_the_limit() -> None:
    ast: dict[str, Any] = {"type": "event", "operator": "exists"}
    for _ in range(10_000):
        ast = {"type": "group", "operator": "and", "children": [ast]}
    with pytest.raises(DefinitionError, match="invalid"):
        trigger_from_segment_ast(ast)


@pytest.mark.parametrize(
    "text",
    ["(" * 10_000 + 'type = "a"' + ")" * 10_000, "not (" * 10_000 + 'type = "a"' + ")" * 10_000],
    ids=["parentheses", "not"],
)
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(TriggerSyntaxError, match="nested deeper than 32") as caught:
        parse_trigger(text)
    assert caught.value.column < 200


def test_nesting_up_to_the_limit_parses_and_matches() -> None:
    trigger = parse_trigger("(" * 32 + 'type = "a"' + ")" * 32)
    assert trigger.matches({"type": "a"})
    assert parse_trigger("not (" * 31 + 'type = "a"' + ")" * 31).matches({"type": "b"})
    assert parse_trigger("not (" * 32 + 'type = "a"' + ")" * 32).matches({"type": "a"})


def test_many_conditions_compile() -> None:
    text = " or ".join(f"properties.n = {n}" for n in range(5_000))
    trigger = parse_trigger(text)
    assert trigger.matches({"properties": {"n": 4_999}})
    assert not trigger.matches({"properties": {"n": 5_000}})


@pytest.mark.parametrize(
    "event",
    [None, [], ["type"], "track", 5, 1.5, True, object(), {"type"}, ({"type": "track"},)],
    ids=repr,
)
def test_non_object_event_does_not_match(event: object) -> None:
    assert parse_trigger('type = "track" or type != "track"').matches(event) is False


def test_odd_values_never_raise() -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("compared")

        __hash__ = object.__hash__

    trigger = parse_trigger(
        'properties.x = "a" or properties.x != 1 or properties.x in ("a", 2, null)'
        ' or contains(properties.x, "a") or properties.x > 1 or properties.x.y[0] = true'
    )
    for value in [Hostile(), float("nan"), 10**5000, {"y": [Hostile()]}, [1], "\udcff"]:
        trigger.matches({"properties": {"x": value}})


def test_missing_field_is_not_equal_to_string() -> None:
    assert parse_trigger('event != "x"').matches({})
    assert not parse_trigger("properties.n != 5").matches({})


def test_true_is_not_one() -> None:
    assert not parse_trigger("properties.n = 1").matches({"properties": {"n": True}})
    assert not parse_trigger("properties.n = true").matches({"properties": {"n": 1}})
    assert parse_trigger("properties.n = 1") != parse_trigger("properties.n = true")


def test_trigger_equality_hash_and_repr_follow_the_tree() -> None:
    first = parse_trigger('type = "a"  and\tevent = "b"')
    second = parse_trigger("type = 'a' and (event = \"b\")")
    assert first == second
    assert hash(first) == hash(second)
    assert first.expression == 'type = "a"  and\tevent = "b"'
    assert repr(first) == 'Trigger(\'type = "a"  and\\tevent = "b"\')'
    assert first != parse_trigger('type = "a" and (event = "b" and userId = "c")')
    assert first != 'type = "a" and event = "b"'


def test_trigger_pickles_as_its_text() -> None:
    trigger = parse_trigger('match(event, "Order*") and properties.n in (1, 2)')
    copy = pickle.loads(pickle.dumps(trigger))
    assert copy == trigger
    assert copy.expression == trigger.expression
    assert copy.matches({"event": "Orders", "properties": {"n": 2}})


def test_syntax_error_shows_a_caret_under_the_column() -> None:
    with pytest.raises(TriggerSyntaxError) as caught:
        parse_trigger('type = "a" OR event = "b"')
    assert str(caught.value).splitlines()[1:] == ['type = "a" OR event = "b"', " " * 11 + "^"]


@pytest.mark.parametrize("text", WORKLOAD_TRIGGERS)
def test_workload_triggers_are_lint_free_and_convertible(text: str) -> None:
    trigger = parse_trigger(text)
    assert trigger.lint() == []
    assert trigger_from_segment_ast(trigger.to_segment_ast()) == trigger


def test_public_api_is_exactly_the_documented_names() -> None:
    assert sorted(framework.fql.__all__) == ["Trigger", "parse_trigger", "trigger_from_segment_ast"]
    for name in framework.fql.__all__:
        assert getattr(framework.fql, name).__doc__
