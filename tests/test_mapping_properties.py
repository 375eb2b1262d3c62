"""Properties of the mapping kit that must hold on any input (hypothesis).

- ``compile_mapping`` raises nothing but ``MappingError``, whatever it is given.
- A mapping that compiles resolves on any event object without raising, to plain JSON
  (no JS ``undefined`` left, no NaN), and leaves the event and the mapping as they were.
- The output never shares a container with the event.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from framework.errors import MappingError, Problem
from framework.mapping import compile_mapping

DIRECTIVES = [
    "@path", "@template", "@literal", "@if", "@case", "@replace", "@arrayPath", "@json",
    "@flatten", "@merge", "@transform", "@excludeWhenNull", "@liquid", "@jmespath", "@split",
]  # fmt: skip
OPTION_KEYS = [
    "exists", "blank", "then", "else", "operator", "value", "pattern", "replacement", "pattern2",
    "replacement2", "ignorecase", "global", "mode", "separator", "omitArrays", "direction",
    "objects", "apply", "mapping", "_metadata", "__segment_internal_directive",
]  # fmt: skip
EVENT_KEYS = [
    "userId", "type", "properties", "traits", "context", "total", "tags", "products", "sku",
    "0", "1", "length", "", "dotted.key", "first name", "constructor", "__proto__", "n",
]  # fmt: skip
PATHS = [
    "$.userId", "$.properties.total", "$.properties.tags", "$.properties.products", "$.traits",
    "$.missing.x", "$.properties['dotted.key']", "$.", "$.properties.products[0].sku",
    "$.n.length", "properties.tags.1", "$.properties.constructor", "$.traits.__proto__",
]  # fmt: skip
TEMPLATES = [
    "{{userId}}", "Hi {{traits.first name}}!", "{{{properties}}} {{properties.tags}}", "{{}}",
    "{{ properties.products.0.sku }}-{{n}}", "plain", "{{properties.total}}",
]  # fmt: skip
LIQUIDS = [
    "{{ userId | upcase }}", "{{ properties.total | plus: 1 | divided_by: 0 }}",
    "{% if traits.n > 3 %}big{% else %}small{% endif %}", "{{ properties.tags | join: '-' }}",
    "{{ properties | size }}{{ userId | slice: 'x' }}", "{{ n | round: 2 }}{{ n | modulo: 0 }}",
    "{% assign a = userId | append: userId %}{{ a | replace: 'a', 'bb' }}", "",
]  # fmt: skip
QUERIES = ["properties.products[*].sku", "length(userId)", "traits", "sort(properties.tags)"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "{{b}}", "a,b", "😀", "[object Object]", "1e400", '{"k": [1]}'])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(EVENT_KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)
events = st.dictionaries(st.sampled_from(EVENT_KEYS), json_values, max_size=8)

# Anything at all, JSON or not, shaped like mappings often enough to reach the checks.
odd_scalars = scalars | st.sampled_from([math.nan, math.inf, (1, 2), {1, 2}, b"x", object()])
anything = st.recursive(
    odd_scalars | st.sampled_from(PATHS + TEMPLATES + LIQUIDS),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(DIRECTIVES + OPTION_KEYS) | st.text(max_size=4) | st.integers(0, 3),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def directive_trees(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Directives with plausible options: mostly valid mappings, every directive used."""
    path = st.sampled_from(PATHS)
    by_path = st.builds(lambda p: {"@path": p}, path)
    small = st.sampled_from(["a", "-", ".", "o", "e", "1", "x"])
    return st.one_of(
        by_path,
        st.builds(lambda t: {"@template": t}, st.sampled_from(TEMPLATES)),
        st.builds(lambda c: {"@literal": c}, children),
        st.builds(
            lambda key, cond, then, other: {"@if": {key: cond, "then": then, "else": other}},
            st.sampled_from(["exists", "blank"]),
            by_path,
            children,
            children,
        ),
        st.builds(
            lambda op, v: {"@case": {"operator": op, "value": v}},
            st.sampled_from(["lower", "upper"]),
            by_path,
        ),
        st.builds(
            lambda p, r, v, i, g: {
                "@replace": {
                    "pattern": p,
                    "replacement": r,
                    "value": v,
                    "ignorecase": i,
                    "global": g,
                }
            },
            small,
            st.sampled_from(["", "$&", "$$", "$`", "$'", "_"]),
            by_path,
            st.booleans(),
            st.booleans(),
        ),
        st.builds(
            lambda p, shape: {"@arrayPath": [p, shape]},
            path | by_path,
            st.dictionaries(st.sampled_from(["k", "v"]), children, max_size=2),
        ),
        st.builds(
            lambda mode, v: {"@json": {"mode": mode, "value": v}},
            st.sampled_from(["encode", "decode"]),
            by_path,
        ),
        st.builds(
            lambda s, o, v: {"@flatten": {"separator": s, "value": v, "omitArrays": o}},
            st.sampled_from([".", "_"]),
            st.booleans(),
            children,
        ),
        st.builds(
            lambda d, objects: {"@merge": {"direction": d, "objects": objects}},
            st.sampled_from(["left", "right"]),
            st.lists(
                by_path | st.dictionaries(st.sampled_from(["k", "v"]), children, max_size=2),
                max_size=3,
            ),
        ),
        st.builds(
            lambda apply, mapping: {"@transform": {"apply": apply, "mapping": mapping}},
            st.dictionaries(st.sampled_from(["userId", "n"]), children, max_size=2),
            st.dictionaries(st.sampled_from(["k", "v"]), children, max_size=2),
        ),
        st.builds(lambda c: {"@excludeWhenNull": c}, children),
        st.builds(lambda t: {"@liquid": t}, st.sampled_from(LIQUIDS)),
        st.builds(lambda q: {"@jmespath": q}, st.sampled_from(QUERIES)),
        st.builds(lambda v: {"@split": {"value": v, "separator": ","}}, children),
    )


mapping_values = st.recursive(
    scalars,
    lambda inner: (
        directive_trees(inner)
        | st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=12,
)
mappings = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]), mapping_values, min_size=1, max_size=4
)

# Fixed mappings that use every directive, compiled once.
FIXED = compile_mapping(
    {
        "p": {"@path": "$.properties"},
        "t": {"@template": "{{userId}} {{{traits}}} {{properties.tags}}"},
        "l": {"@literal": {"k": [{"@path": "$.n"}, 1]}},
        "i": {
            "@if": {"blank": {"@path": "$.userId"}, "then": {"@path": "$.traits"}, "else": "none"}
        },
        "c": {"@case": {"operator": "upper", "value": {"@path": "$.userId"}}},
        "r": {
            "@replace": {
                "pattern": "a",
                "replacement": "$&$'",
                "ignorecase": True,
                "value": {"@path": "$.userId"},
            }
        },
        "ap": {
            "@arrayPath": [
                "$.properties.products",
                {"s": {"@path": "$.sku"}, "all": {"@path": "$."}},
            ]
        },
        "je": {"@json": {"mode": "encode", "value": {"@path": "$."}}},
        "jd": {"@json": {"mode": "decode", "value": {"@path": "$.userId"}}},
        "f": {"@flatten": {"separator": ".", "value": {"@path": "$.properties"}}},
        "m": {
            "@merge": {
                "direction": "left",
                "objects": [{"@path": "$.traits"}, {"@path": "$.properties"}],
            }
        },
        "tr": {
            "@transform": {
                "apply": {"x": {"@path": "$.traits"}},
                "mapping": {"y": {"@path": "$.x"}},
            }
        },
        "e": {"@excludeWhenNull": {"@path": "$.properties"}},
        "lq": {"@liquid": "{{ userId | append: n }}{{ properties.total | times: 2 }}{{ traits }}"},
        "q": {"@jmespath": "properties.products[*].sku"},
        "sp": {"@split": {"value": {"@path": "$.userId"}, "separator": ","}},
    }
)


def plain_json(value: Any) -> bool:
    """Only JSON types, with string keys and finite numbers, all the way down."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    return False


def containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (itself included)."""
    found: list[Any] = []
    if isinstance(value, dict | list):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            found.extend(containers(item))
    return found


def compile_or_problems(value: Any) -> list[Problem]:
    """The problems ``compile_mapping`` reports; ``[]`` when it compiles."""
    try:
        compile_mapping(value)
    except MappingError as error:
        return error.problems
    return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_compile_mapping_raises_only_mapping_error(value: Any) -> None:
    problems = compile_or_problems(value)
    assert all(problem.code.startswith("MAPPING_") for problem in problems)
    if not isinstance(value, dict):
        assert problems


@settings(max_examples=300, deadline=None)
@given(events)
def test_resolve_is_total_pure_and_fresh_for_every_directive(event: dict[str, Any]) -> None:
    before = copy.deepcopy(event)
    source_before = copy.deepcopy(FIXED.source)
    output = FIXED.resolve(event)
    assert plain_json(output)
    json.dumps(output, allow_nan=False)
    assert event == before
    assert FIXED.source == source_before
    ids = {id(container) for container in containers(event)}
    assert not any(id(container) in ids for container in containers(output))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mappings, st.lists(events, min_size=1, max_size=3))
def test_generated_mappings_that_compile_resolve_on_any_event(
    mapping: dict[str, Any], sample: list[dict[str, Any]]
) -> None:
    try:
        compiled = compile_mapping(mapping)
    except MappingError:
        assume(False)
        return
    mapping_before = copy.deepcopy(mapping)
    for event in sample:
        before = copy.deepcopy(event)
        output = compiled.resolve(event)
        assert plain_json(output)
        assert event == before
        ids = {id(container) for container in containers(event)}
        assert not any(id(container) in ids for container in containers(output))
    assert mapping == mapping_before
