"""The mapping kit on our own cases: tests/data/mapping_cases.yaml (`cases`), and what a table
cannot hold: limits measured in thousands of characters, Python values JSON has no word for,
the Mapping object's own API, and the examples of docs/mapping.md.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conformance_records import same_json

from framework.errors import EventError, MappingError
from framework.mapping import Mapping, compile_mapping, liquid_filters
from framework.mapping.liquid import OUTPUT_LIMIT
from framework.mapping.liquid_filters import STRING_LIMIT

ROOT = Path(__file__).resolve().parents[1]
CASES = yaml.safe_load((ROOT / "tests" / "data" / "mapping_cases.yaml").read_text("utf-8"))["cases"]
DOCS = (ROOT / "docs" / "mapping.md").read_text("utf-8")


def problems_of(mapping: Any) -> list[list[str]]:
    with pytest.raises(MappingError) as caught:
        compile_mapping(mapping)
    return [[problem.pointer, problem.code] for problem in caught.value.problems]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    outcomes = {"output", "problems", "event_error"} & set(case)
    assert len(outcomes) == 1, "a case expects exactly one outcome"
    if "problems" in case:
        assert problems_of(case["mapping"]) == case["problems"]
        return
    mapping = compile_mapping(case["mapping"])
    if "event_error" in case:
        with pytest.raises(EventError) as caught:
            mapping.resolve(case["event"])
        assert caught.value.pointer == case["event_error"]
        assert caught.value.code == "EVENT_INVALID"
        return
    output = mapping.resolve(case["event"]) if "event" in case else mapping.resolve()
    assert same_json(output, case["output"]), output


def test_case_ids_are_unique() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [((1, 2), "tuple"), (b"x", "bytes"), ({1, 2}, "set"), (len, "builtin_function_or_method")],
)
def test_python_values_json_cannot_hold_are_problems(value: Any, kind: str) -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping({"a": {"b": value}})
    (problem,) = caught.value.problems
    assert (problem.pointer, problem.code) == ("/a/b", "MAPPING_NOT_JSON")
    assert kind in problem.message


def test_every_problem_is_collected_and_sorted_by_pointer() -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping({"z": {"@path": 1}, "a": {"@foo": 1}, "m": [{"@if": {}}]})
    error = caught.value
    assert [p.pointer for p in error.problems] == ["/a", "/m/0/@if", "/z/@path"]
    assert error.code == "MAPPING_INVALID"
    assert error.errors == error.problems
    assert "3 problems" in str(error)
    assert "/z/@path: should be a string or a mapping directive but it is a number." in str(error)


def test_problem_messages_follow_segment_validator_wording() -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping({"a": {"@path": 5}, "b": {"@foo": 1}, "c": {"@path": "x", "y": 1}})
    assert [str(problem) for problem in caught.value.problems] == [
        "/a/@path: should be a string or a mapping directive but it is a number.",
        "/b: has an invalid directive: @foo. The directives are: @arrayPath, @case, "
        "@excludeWhenNull, @flatten, @if, @jmespath, @json, @liquid, @literal, @merge, @path, "
        "@replace, @split, @template, @transform.",
        "/c: should only have one @-prefixed key but it has 2 keys.",
    ]


def test_nesting_past_100_levels_is_one_problem_not_a_crash() -> None:
    deep: Any = {"@path": "$.x"}
    for _ in range(5000):
        deep = {"a": [deep]}
    assert problems_of({"root": deep}) == [["/root" + "/a/0" * 50, "MAPPING_TOO_DEEP"]]
    fine: Any = "leaf"
    for _ in range(49):
        fine = {"a": [fine]}
    assert compile_mapping({"root": fine}).resolve() == {"root": fine}


def test_liquid_template_may_have_1000_characters_not_more() -> None:
    compile_mapping({"a": {"@liquid": "x" * 1000}})
    assert problems_of({"a": {"@liquid": "x" * 1001}}) == [["/a/@liquid", "MAPPING_BAD_OPTION"]]


def test_liquid_template_length_counts_utf16_units_as_segment_does() -> None:
    compile_mapping({"a": {"@liquid": "😀" * 500}})
    assert problems_of({"a": {"@liquid": "😀" * 500 + "x"}}) == [
        ["/a/@liquid", "MAPPING_BAD_OPTION"]
    ]


# -- the liquid sandbox's limits ----------------------------------------------------------------


def test_liquid_output_past_the_limit_drops_the_key() -> None:
    mapping = compile_mapping({"a": {"@liquid": "{{ s }}"}, "b": {"@liquid": "{{ t }}"}})
    output = mapping.resolve({"s": "x" * (STRING_LIMIT + 1), "t": "y" * 10})
    assert output == {"b": "y" * 10}


def test_liquid_whole_output_is_limited_too() -> None:
    part = STRING_LIMIT // 2 + 1
    mapping = compile_mapping({"a": {"@liquid": "{{ s }}{{ s }}{{ s }}"}})
    assert 3 * part > OUTPUT_LIMIT
    assert mapping.resolve({"s": "x" * part}) == {}


def test_liquid_worst_templates_stop_at_the_first_string_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Unbounded, these would build strings of 2^36 and 10^31 characters. The limit is checked
    # before a string is built: count the checks instead of timing the render (speed is
    # measured in benchmarks/, not asserted here).
    doubling = "{% liquid\nassign a = s\n" + "assign a = a | append: a\n" * 36 + "echo a\n%}"
    growth = "{{ s" + " | replace: 'x', 'xxxxxxxxxx'" * 28 + " }}"
    assert len(doubling) <= 1000
    assert len(growth) <= 1000
    checked: list[int] = []
    check_size = liquid_filters._check_size

    def counting(size: int) -> None:
        checked.append(size)
        check_size(size)

    monkeypatch.setattr(liquid_filters, "_check_size", counting)
    for template in (doubling, growth):
        checked.clear()
        mapping = compile_mapping({"a": {"@liquid": template}})
        assert mapping.resolve({"s": "x" * 1000}) == {}
        # Every string built was within the limit; the first one past it ended the render.
        assert checked[-1] > STRING_LIMIT
        assert all(size <= STRING_LIMIT for size in checked[:-1])
        assert len(checked) < 20


# -- the Mapping object -------------------------------------------------------------------------


def test_output_shares_no_container_with_the_event() -> None:
    event = {"properties": {"tags": ["a"], "o": {"k": 1}}, "traits": {"x": [1, {"y": 2}]}}
    before = copy.deepcopy(event)
    mapping = compile_mapping(
        {
            "p": {"@path": "$.properties"},
            "t": {"@if": {"exists": {"@path": "$.traits"}, "then": {"@path": "$.traits"}}},
            "j": {"@jmespath": "traits.x"},
            "a": {"@arrayPath": ["$.traits.x"]},
            "l": {"@literal": {"k": [1]}},
        }
    )
    output = mapping.resolve(event)
    output["p"]["tags"].append("b")
    output["p"]["o"]["k"] = 2
    output["t"]["x"][1]["y"] = 3
    output["j"].clear()
    output["a"].clear()
    output["l"]["k"].append(2)
    assert event == before
    assert mapping.resolve(event)["l"] == {"k": [1]}


def test_changing_the_mapping_after_compiling_changes_nothing() -> None:
    source = {"a": {"@literal": {"k": [1]}}, "b": {"c": [1, 2]}}
    mapping = compile_mapping(source)
    source["a"]["@literal"]["k"].append(2)
    source["b"]["c"].clear()
    assert mapping.resolve() == {"a": {"k": [1]}, "b": {"c": [1, 2]}}
    assert mapping.source is source


def test_directives_used_lists_every_directive_name() -> None:
    mapping = compile_mapping(
        {
            "a": {"@if": {"exists": {"@path": "$.x"}, "then": {"@template": "{{x}}"}}},
            "b": [{"@literal": {"c": {"@case": {"operator": "lower", "value": "X"}}}}],
        }
    )
    assert mapping.directives_used == {"@if", "@path", "@template", "@literal", "@case"}


def test_paths_lists_the_event_paths_read() -> None:
    mapping = compile_mapping(
        {
            "a": {"@path": "$.properties['first name']"},
            "b": {"@template": "{{userId}} {{traits.email}}"},
            "c": {"@arrayPath": ["$.properties.products", {"s": {"@path": "$.sku"}}]},
            "d": {"@liquid": "{{ context.locale | upcase }}"},
            "e": {
                "@transform": {
                    "apply": {"q": {"@path": "$.anonymousId"}},
                    "mapping": {"r": {"@path": "$.q"}},
                }
            },
            "f": {"@jmespath": "not.listed"},
        }
    )
    assert mapping.paths() == (
        ("anonymousId",),
        ("context", "locale"),
        ("properties", "first name"),
        ("properties", "products"),
        ("properties", "products", "[]", "sku"),
        ("traits", "email"),
        ("userId",),
    )


def test_resolve_accepts_any_mapping_type_as_event() -> None:
    from types import MappingProxyType

    mapping = compile_mapping({"a": {"@path": "$.x"}})
    assert mapping.resolve(MappingProxyType({"x": 1})) == {"a": 1}


@pytest.mark.parametrize(
    ("event", "kind"), [([1], "array"), ("s", "string"), (5, "number"), (True, "boolean")]
)
def test_an_event_that_is_not_an_object_is_an_event_error(event: Any, kind: str) -> None:
    with pytest.raises(EventError) as caught:
        compile_mapping({}).resolve(event)
    assert caught.value.message == f"data must be an object, got {kind}"
    assert caught.value.pointer == ""


def test_mapping_is_exported_with_a_docstring() -> None:
    assert Mapping.__doc__
    assert compile_mapping.__doc__


# -- the reference's examples -------------------------------------------------------------------

EXAMPLES = [
    json.loads(block)
    for block in re.findall(r"```json\n(.*?)```", DOCS, flags=re.DOTALL)
    if '"mapping"' in block
]


def test_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(i) for i in range(len(EXAMPLES))])
def test_docs_example_gives_what_it_says(example: dict[str, Any]) -> None:
    if "problems" in example:
        assert problems_of(example["mapping"]) == example["problems"]
        return
    output = compile_mapping(example["mapping"]).resolve(example.get("event"))
    assert same_json(output, example["output"]), output
