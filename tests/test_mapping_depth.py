"""A mapping given as a dict is refused past MAX_DEPTH levels, whatever nests it: no RecursionError.

The depth is counted on the JSON pointer, so a directive's options count as levels like any
object's keys. Each chain below nests one construct in itself; at the limit it compiles and
resolves, far past it the problem is ``MAPPING_TOO_DEEP`` at the first pointer past the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from framework import MappingError, compile_mapping
from framework.mapping.directive_checks import MAX_JSON_NESTING
from framework.mapping.problems import MAX_DEPTH, TOO_DEEP

ROOT_KEY = "__segment_internal_directive"

# name: (wrap one level, innermost value, pointer tokens per level)
CHAINS: dict[str, tuple[Callable[[Any], Any], Any, int]] = {
    "objects": (lambda inner: {"k": inner}, {"@path": "$.a"}, 1),
    "arrays": (lambda inner: [inner], {"@path": "$.a"}, 1),
    "@path": (lambda inner: {"@path": inner}, "$.a", 1),
    "@template": (lambda inner: {"@template": inner}, "{{a}}", 1),
    "@case": (lambda inner: {"@case": {"operator": "lower", "value": inner}}, "$.a", 2),
    "@replace": (lambda inner: {"@replace": {"pattern": "A", "value": inner}}, "$.a", 2),
    "@arrayPath": (lambda inner: {"@arrayPath": [inner]}, "$.a", 2),
    "@if": (lambda inner: {"@if": {"exists": {"@path": "$.a"}, "then": inner}}, "x", 2),
    "@merge": (
        lambda inner: {"@merge": {"direction": "left", "objects": [inner]}},
        {"a": 1},
        3,
    ),
    "@literal": (lambda inner: {"@literal": inner}, "x", 1),
}
# @json has a tighter limit of its own (MAX_JSON_NESTING), tested below.


def _chain(name: str, levels: int) -> dict[str, Any]:
    wrap, inner, _ = CHAINS[name]
    for _ in range(levels):
        inner = wrap(inner)
    return {"out": inner}


@pytest.mark.parametrize("name", list(CHAINS))
def test_a_chain_thousands_deep_is_too_deep_at_the_pointer_past_the_limit(name: str) -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping(_chain(name, 3000))
    problems = caught.value.errors
    assert {problem.code for problem in problems} == {TOO_DEEP}
    per_level = CHAINS[name][2]
    assert all(MAX_DEPTH < p.pointer.count("/") <= MAX_DEPTH + per_level for p in problems)


@pytest.mark.parametrize("name", list(CHAINS))
def test_a_chain_within_the_limit_compiles_and_resolves(name: str) -> None:
    per_level = CHAINS[name][2]
    levels = (MAX_DEPTH - 2) // per_level
    mapping = compile_mapping(_chain(name, levels))
    assert isinstance(mapping.resolve({"a": "A"}), dict)


def test_nested_root_directives_are_too_deep_too() -> None:
    mapping: dict[str, Any] = {"a": {"@path": "$.a"}}
    for _ in range(3000):
        mapping = {ROOT_KEY: {"@transform": {"apply": mapping, "mapping": {}}}}
    with pytest.raises(MappingError) as caught:
        compile_mapping(mapping)
    problems = caught.value.errors
    assert {problem.code for problem in problems} == {TOO_DEEP}
    assert problems[0].pointer.startswith(f"/{ROOT_KEY}/@transform/apply/{ROOT_KEY}/")


def test_a_mapping_that_contains_itself_is_too_deep() -> None:
    mapping: dict[str, Any] = {"a": {"@path": "$.a"}}
    mapping["self"] = mapping
    with pytest.raises(MappingError) as caught:
        compile_mapping(mapping)
    problems = caught.value.errors
    assert {problem.code for problem in problems} == {TOO_DEEP}
    assert all(p.pointer.count("/") == MAX_DEPTH + 1 for p in problems)


@pytest.mark.parametrize(
    "query", ["(" * 5000 + "a" + ")" * 5000, "[" * 3000 + "a" + "]" * 3000, "!" * 5000 + "a"]
)
def test_a_jmespath_query_nested_past_its_parser_is_bad_syntax(query: str) -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping({"out": {"@jmespath": query}})
    assert [(p.pointer, p.code) for p in caught.value.errors] == [
        ("/out/@jmespath", "MAPPING_BAD_SYNTAX")
    ]


def _json_nested(levels: int) -> dict[str, Any]:
    value: Any = {"@path": "$.userId"}
    for _ in range(levels):
        value = {"@json": {"value": value, "mode": "encode"}}
    return {"out": value}


def test_json_nested_to_its_limit_compiles_and_each_level_encodes_the_one_inside() -> None:
    mapping = compile_mapping(_json_nested(MAX_JSON_NESTING))
    encoded = mapping.resolve({"userId": "u"})["out"]
    for _ in range(MAX_JSON_NESTING):
        encoded = json.loads(encoded)
    assert encoded == "u"


def test_json_nested_past_its_limit_is_too_deep_where_the_limit_is_crossed() -> None:
    # Each encode doubles the escapes inside it: unbounded, a small event grows without bound.
    with pytest.raises(MappingError) as caught:
        compile_mapping(_json_nested(MAX_JSON_NESTING + 3))
    assert [(p.pointer, p.code) for p in caught.value.errors] == [
        ("/out" + "/@json/value" * MAX_JSON_NESTING + "/@json", TOO_DEEP)
    ]
