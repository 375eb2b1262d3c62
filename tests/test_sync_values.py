"""Attribute type checks and conversions of warehouse values, and the row diff."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.sync.diff import classify, digest
from framework.sync.values import check_value, jsonable

ACCEPTED = [
    ("string", "pro", "pro"),
    ("string", 42, "42"),
    ("number", 2.5, 2.5),
    ("number", "12.5", 12.5),
    ("number", "7", 7),
    ("integer", "7", 7),
    ("integer", 7.0, 7),
    ("boolean", 1, True),
    ("boolean", 0, False),
    ("boolean", "TRUE", True),
    ("boolean", "no", False),
    ("list", ["a", 1], ["a", 1]),
    ("list", "a, b,,c", ["a", "b", "c"]),
    ("list", '["vip", "beta"]', ["vip", "beta"]),
    ("list", "", []),
    ("any", {"nested": [1]}, {"nested": [1]}),
    ("number", None, None),
]

REFUSED = [
    ("string", True, "a string"),
    ("number", "twelve", "a number"),
    ("number", True, "a number"),
    ("number", "NaN", "a number"),
    ("integer", 2.5, "an integer"),
    ("boolean", 2, "a boolean"),
    ("boolean", "maybe", "a boolean"),
    ("list", [{"a": 1}], "a list"),
    ("list", "[1, 2", "a list"),
    ("list", 3, "a list"),
]


@pytest.mark.parametrize(("expected", "value", "converted"), ACCEPTED)
def test_values_that_can_be_read_as_the_type_are_converted(
    expected: Any, value: Any, converted: Any
) -> None:
    assert check_value("attr", expected, value) == (converted, None)


@pytest.mark.parametrize(("expected", "value", "wanted"), REFUSED)
def test_values_of_another_type_give_a_sentence_without_the_value(
    expected: Any, value: Any, wanted: str
) -> None:
    converted, problem = check_value("attr", expected, value)
    assert converted is None
    assert problem is not None
    assert problem.startswith(f"The attribute 'attr' must be {wanted}")
    assert str(value) not in problem


def test_null_is_refused_only_when_the_attribute_is_not_nullable() -> None:
    assert check_value("a", "string", None, nullable=True) == (None, None)
    assert check_value("a", "string", None, nullable=False)[1] == (
        "The attribute 'a' must not be empty (null)."
    )


def test_warehouse_types_become_json() -> None:
    value = {
        "n": decimal.Decimal("3.50"),
        "i": decimal.Decimal("4"),
        "d": datetime.date(2024, 2, 1),
        "t": datetime.datetime(2024, 2, 1, 10, 30, tzinfo=datetime.UTC),
        "u": uuid.UUID(int=1),
        "b": b"hi",
        "tuple": (1, float("inf")),
    }
    assert jsonable(value) == {
        "n": 3.5,
        "i": 4,
        "d": "2024-02-01",
        "t": "2024-02-01T10:30:00+00:00",
        "u": "00000000-0000-0000-0000-000000000001",
        "b": "hi",
        "tuple": [1, None],
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(json_values, st.sampled_from(["any", "string", "number", "integer", "boolean", "list"]))
def test_check_value_is_total_and_its_results_are_json(value: Any, expected: Any) -> None:
    converted, problem = check_value("x", expected, jsonable(value))
    assert problem is None or converted is None
    json.dumps(converted, allow_nan=False)


def test_rows_classify_by_the_hash_of_what_they_send() -> None:
    sent = json.dumps(["u1", {"plan": "pro"}])
    assert classify(digest(sent), None) == "added"
    assert classify(digest(sent), digest(sent)) == "unchanged"
    assert classify(digest(sent), digest(sent.replace("pro", "free"))) == "changed"
