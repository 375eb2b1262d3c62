"""Payload validation against an action's fields: the case table, the schema, and properties.

The cases live in ``tests/data/payload_cases.yaml``; Segment's side of the story is checked by
``tests/test_payload_peer.py``.
"""

from __future__ import annotations

import copy
import doctest
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from framework.definitions.fields_schema import fields_to_json_schema
from framework.definitions.formats import format_predicates
from framework.definitions.models import FieldDefinition
from framework.definitions.payload import PAYLOAD_PROBLEM_CODES, WRONG_TYPE, PayloadValidator
from framework.errors import DefinitionError, PayloadValidationError, Problem
from framework.mapping.jsvalues import js_number_string

ROOT = Path(__file__).resolve().parents[1]
TABLE = yaml.safe_load((ROOT / "tests" / "data" / "payload_cases.yaml").read_text("utf-8"))


def build(raw_fields: dict[str, Any]) -> dict[str, FieldDefinition]:
    return {key: FieldDefinition.model_validate(value) for key, value in raw_fields.items()}


def as_json(value: Any) -> Any:
    """``value`` with its JSON types made explicit, so that ``True != 1`` but ``1 == 1.0``."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return ("number", float(value))


def outcome(raw_fields: dict[str, Any], payload: Any) -> dict[str, Any]:
    """What we do with a payload, in the shape of a divergence's ``expected`` value."""
    try:
        validator = PayloadValidator(build(raw_fields))
    except DefinitionError as exc:
        return {"definition_problems": [problem.pointer for problem in exc.problems]}
    try:
        result = validator.validate(payload)
    except PayloadValidationError as exc:
        return {"valid": False, "errors": sorted(problem.message for problem in exc.errors)}
    return {"valid": True, "payload": result, "errors": []}


# -- the tables -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", TABLE["cases"], ids=lambda case: case["id"])
def test_payload_case(case: dict[str, Any]) -> None:
    validator = PayloadValidator(build(case["fields"]))
    before = copy.deepcopy(case["payload"])
    if "result" in case:
        assert as_json(validator.validate(case["payload"])) == as_json(case["result"])
    else:
        with pytest.raises(PayloadValidationError) as caught:
            validator.validate(case["payload"])
        problems = caught.value.errors
        expected = case["problems"]
        assert sorted((p.pointer, p.code) for p in problems) == sorted(
            (p["pointer"], p["code"]) for p in expected
        )
        for wanted in expected:
            if "message" in wanted:
                assert (wanted["pointer"], wanted["message"]) in {
                    (p.pointer, p.message) for p in problems
                }
    assert case["payload"] == before


@pytest.mark.parametrize("case", TABLE["definitions"], ids=lambda case: case["id"])
def test_fields_that_could_never_hold_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError) as caught:
        fields_to_json_schema(build(case["fields"]))
    assert [problem.pointer for problem in caught.value.problems] == case["problems"]
    assert {problem.code for problem in caught.value.problems} == {"FIELD_INVALID"}


@pytest.mark.parametrize("case", TABLE["schemas"], ids=lambda case: case["id"])
def test_schema_keeps_segments_structure(case: dict[str, Any]) -> None:
    schema = fields_to_json_schema(build(case["fields"]))
    assert schema == case["schema"]
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("case", TABLE["divergences"], ids=lambda case: case["id"])
def test_divergence_from_segment_is_what_we_do(case: dict[str, Any]) -> None:
    assert as_json(outcome(case["fields"], case["payload"])) == as_json(case["expected"])


@pytest.mark.parametrize(("number", "text"), TABLE["numbers"], ids=lambda v: repr(v))
def test_number_is_printed_as_javascript_prints_it(number: float, text: str) -> None:
    assert js_number_string(number) == text


FORMAT_CASES = [
    (name, text, verdict == "valid")
    for name, table in TABLE["formats"].items()
    for verdict, texts in table.items()
    for text in texts
]


@pytest.mark.parametrize(("name", "text", "valid"), FORMAT_CASES, ids=repr)
def test_format_check(name: str, text: str, valid: bool) -> None:
    assert format_predicates()[name](text) is valid


# -- the validator itself -------------------------------------------------------------------


def test_payload_that_is_not_an_object_is_a_wrong_type() -> None:
    validator = PayloadValidator(build({"a": {"label": "A", "type": "string"}}))
    with pytest.raises(PayloadValidationError) as caught:
        validator.validate(["a"])  # type: ignore[arg-type]
    [problem] = caught.value.errors
    assert (problem.pointer, problem.code) == ("", WRONG_TYPE)
    assert problem.message == "The root value must be an object but it was an array."


def test_error_message_joins_every_problem_in_pointer_order() -> None:
    validator = PayloadValidator(
        build(
            {
                "b": {"label": "B", "type": "number"},
                "a": {"label": "A", "type": "string", "required": True},
            }
        )
    )
    with pytest.raises(PayloadValidationError) as caught:
        validator.validate({"b": "x"})
    assert str(caught.value) == (
        "The root value is missing the required field 'a'. B must be a number but it was a string."
    )
    assert caught.value.code == "PAYLOAD_VALIDATION_FAILED"


def test_schema_is_exposed_and_checked_by_jsonschema_too() -> None:
    validator = PayloadValidator(build({"a": {"label": "A", "type": "string", "format": "email"}}))
    assert validator.schema["properties"]["a"]["format"] == "email"
    assert validator.json_validator.is_valid({"a": "a@b.co"})
    assert not validator.json_validator.is_valid({"a": "nope"})


def test_no_fields_take_an_empty_payload_and_drop_everything_else() -> None:
    assert PayloadValidator({}).validate({"a": 1}) == {}


def test_payload_validation_docs_examples_run() -> None:
    results = doctest.testfile(
        str(ROOT / "docs" / "payload-validation.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert results.attempted > 0
    assert results.failed == 0


# -- properties over any fields and any payload ---------------------------------------------

LABELS = st.sampled_from(["", "Name", "user id", "Total"])
# Payload strings carry a marker that labels and choices never contain, to catch a message
# that quotes a value.
MARK = "qz"
SPECIAL_STRINGS = ["", "  ", "5", "1.5", "-3", "true", "false", "0x1A", "1e3", "Infinity"]
SPECIAL_STRINGS += ["2024-02-29", "2024-02-29T10:20:30Z", "1700000000", "a@b.co"]
SPECIAL_STRINGS += ["https://example.com/x", "http://localhost/", "example.com"]


def marked(text: str) -> str:
    return f"{MARK}{text}" if text.strip() else text


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(SPECIAL_STRINGS).map(marked),
    st.text(max_size=8).map(marked),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "sku", "qty"]), inner, max_size=3)
    ),
    max_leaves=8,
)

SCALAR_TYPES = ["string", "text", "password", "datetime", "number", "integer", "boolean"]


@st.composite
def field_definitions(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kind = draw(st.sampled_from([*SCALAR_TYPES, "object"] if depth == 0 else SCALAR_TYPES))
    field: dict[str, Any] = {"label": draw(LABELS), "type": kind}
    for flag in ("required", "allowNull", "multiple"):
        if draw(st.booleans()):
            field[flag] = True
    if kind in ("number", "integer") and draw(st.booleans()):
        low = draw(st.integers(-5, 5))
        field["minimum"], field["maximum"] = low, low + draw(st.integers(0, 10))
    if kind in ("string", "text", "password") and draw(st.booleans()):
        field["minimum"], field["maximum"] = 1, draw(st.integers(1, 6))
    if kind == "string" and draw(st.booleans()):
        field["format"] = draw(st.sampled_from(["uri", "email", "date-time", "https-url"]))
    if kind in ("string", "integer") and draw(st.booleans()):
        values = ["1", "5", "true", "a@b.co"] if kind == "string" else [1, 5, 10]
        field["choices"] = [{"value": value} for value in values]
    if kind == "object" and draw(st.booleans()):
        field["additionalProperties"] = draw(st.booleans())
        field["properties"] = draw(
            st.dictionaries(
                st.sampled_from(["a", "b", "sku", "qty"]), field_definitions(depth + 1), max_size=3
            )
        )
    return field


fields_strategy = st.dictionaries(
    st.sampled_from(["userId", "email", "tags", "items", "at", "n"]),
    field_definitions(),
    min_size=1,
    max_size=4,
)


@st.composite
def fields_and_payloads(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    raw_fields = draw(fields_strategy)
    keys = st.sampled_from([*raw_fields, "unknown"])
    return raw_fields, draw(st.dictionaries(keys, json_values, max_size=6))


PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(fields_and_payloads())
def test_any_payload_is_either_cleaned_or_refused_with_problems(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    raw_fields, payload = case
    validator = PayloadValidator(build(raw_fields))
    before = copy.deepcopy(payload)
    problems: list[Problem] = []
    try:
        result = validator.validate(payload)
    except PayloadValidationError as exc:
        problems = exc.errors
    else:
        # Whatever validate() accepts, the schema accepts too, checked by jsonschema.
        assert validator.json_validator.is_valid(result)
        assert as_json(validator.validate(result)) == as_json(result)
    for problem in problems:
        assert problem.code in PAYLOAD_PROBLEM_CODES
        assert problem.pointer.startswith("/")
        assert MARK not in problem.message
        assert problem.message.endswith(".")
        assert problem.message[:1].isupper()
    assert as_json(payload) == as_json(before)


@PROPERTY_SETTINGS
@given(fields_strategy)
def test_built_schema_is_a_valid_2020_12_schema(raw_fields: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(fields_to_json_schema(build(raw_fields)))


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53))
def test_printed_number_reads_back_as_the_same_number(number: float) -> None:
    text = js_number_string(number)
    assert float(text) == float(number)
    assert not text.endswith(".0")
