"""The trigger index gives exactly what evaluating each trigger gives, trigger by trigger.

Triggers come from Segment's recorded conformance cases (as text and as Segment's structure),
our own FQL cases, the benchmark workload's 10 strings and the 50 of the instance benchmark,
and random trees; events from the recorded cases, from the values the triggers test, and at
random. For every event: ``index.matching(event) == [i for i, t in enumerate(triggers) if
t.matches(event)]``.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from conformance_records import load_records
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fql_properties import ANY_TREE, events, json_values

from benchmarks.engine import instance_subscriptions
from benchmarks.workload import SUBSCRIPTIONS
from framework.errors import ActionkitError
from framework.fql import Trigger, parse_trigger, trigger_from_segment_ast
from framework.fql.ast import And, Comparison, Membership, Node, Not, Or, TextMatch
from framework.fql.index import TriggerIndex, cached_index

RECORDS = load_records("fql")

# Our own forms on the paths an index dispatches on (Segment has no `in`).
EXTRA = [
    'type in ("track", "page")',
    'type not in ("track", "identify")',
    'type not in ("track", "x") and event in ("Order Completed", "A")',
    'type in ("track", 1, null)',
    'match(type, "track") or match(event, "A")',
    '!match(type, "page")',
    'event in ("A", "B") or event = "C"',
    'event not in ("A", "B") and type != "page"',
    'context.device.type in ("ios", "android") and event != "A"',
    'not (type = "track") and not (event in ("A", "Order Completed"))',
]


def _pool() -> list[Trigger]:
    found: dict[Trigger, None] = {}
    texts = [str(record["expr"]) for record in RECORDS if "expr" in record]
    texts += [str(sub["fql"]) for sub in SUBSCRIPTIONS]
    texts += [fql for _, fql in instance_subscriptions()] + EXTRA
    for text in texts:
        with contextlib.suppress(ActionkitError):
            found.setdefault(parse_trigger(text))
    for record in RECORDS:
        ast = (record.get("segment") or {}).get("ast")
        if isinstance(ast, dict):
            with contextlib.suppress(ActionkitError):
                found.setdefault(trigger_from_segment_ast(ast))
    return list(found)


POOL = _pool()


def _leaves(node: Node) -> list[Node]:
    if isinstance(node, And | Or):
        return [leaf for operand in node.operands for leaf in _leaves(operand)]
    if isinstance(node, Not):
        return _leaves(node.operand)
    return [node]


def _tested_values() -> list[tuple[tuple[str | int, ...], Any]]:
    """Every (path, literal) the pool's leaves test, so generated events reach the buckets."""
    found: list[tuple[tuple[str | int, ...], Any]] = []
    for trigger in POOL:
        for leaf in _leaves(trigger.tree):
            if isinstance(leaf, Comparison):
                found.append((leaf.field.path, leaf.value.value))
            elif isinstance(leaf, Membership):
                found += [(leaf.field.path, value.value) for value in leaf.values]
            elif isinstance(leaf, TextMatch):
                found.append((leaf.field.path, "".join(leaf.parts)))
                found.append((leaf.field.path, "x".join(leaf.parts)))
    return found


TESTED = _tested_values()
RECORDED_EVENTS = [record["event"] for record in RECORDS if "event" in record]


def _put(event: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Write ``value`` at ``path``, making the objects and arrays on the way."""
    where: Any = event
    for step, following in itertools.pairwise((*path, None)):
        if isinstance(where, list) and isinstance(step, int):
            where.extend([None] * (step + 1 - len(where)))
        elif not (isinstance(where, dict) and isinstance(step, str)):
            return
        if following is None:
            where[step] = value
            return
        if not isinstance(where[step] if isinstance(where, list) else where.get(step), dict | list):
            where[step] = [] if isinstance(following, int) else {}
        where = where[step]


@st.composite
def valued_events(draw: st.DrawFn) -> dict[str, Any]:
    """An event holding some of the values the triggers test, and some odd values."""
    event: dict[str, Any] = {}
    for path, value in draw(st.lists(st.sampled_from(TESTED), max_size=8)):
        odd = draw(st.one_of(st.just(value), st.just(value), json_values))
        _put(event, path, odd)
    return event


def one_by_one(triggers: list[Trigger], event: object) -> list[int]:
    """What the index must give: each trigger evaluated on its own."""
    return [i for i, trigger in enumerate(triggers) if trigger.matches(event)]


any_events = st.one_of(valued_events(), events, st.sampled_from(RECORDED_EVENTS))


@settings(max_examples=300)
@given(st.lists(st.sampled_from(POOL), max_size=50), st.lists(any_events, min_size=1, max_size=8))
def test_index_equals_one_by_one_on_recorded_and_workload_triggers(
    triggers: list[Trigger], generated: list[Any]
) -> None:
    index = TriggerIndex(triggers)
    for event in generated:
        assert index.matching(event) == one_by_one(triggers, event)


@settings(max_examples=150)
@given(
    st.lists(st.one_of(ANY_TREE, st.sampled_from([t.tree for t in POOL])), max_size=20),
    st.lists(st.one_of(events, valued_events()), min_size=1, max_size=6),
)
def test_index_equals_one_by_one_on_random_trees(trees: list[Node], generated: list[Any]) -> None:
    triggers = [Trigger(tree, "") for tree in trees]
    index = TriggerIndex(triggers)
    for event in generated:
        assert index.matching(event) == one_by_one(triggers, event)


@pytest.mark.parametrize("start", range(0, len(POOL), 50))
def test_every_recorded_event_against_the_whole_pool(start: int) -> None:
    triggers = POOL[start : start + 50]
    index = TriggerIndex(triggers)
    for event in RECORDED_EVENTS:
        assert index.matching(event) == one_by_one(triggers, event)


def test_the_instance_benchmark_subscriptions_are_fifty_distinct_triggers() -> None:
    fql = [text for _, text in instance_subscriptions()]
    assert len(fql) == 50
    assert len({parse_trigger(text) for text in fql}) == 50


def test_anything_but_an_object_matches_nothing() -> None:
    triggers = [parse_trigger('type != "track"'), parse_trigger("event = null")]
    index = TriggerIndex(triggers)
    for event in (None, [], "type", 0, [{"type": "page"}]):
        assert index.matching(event) == []
    assert index.matching({}) == one_by_one(triggers, {}) == [0, 1]


def test_an_empty_index_matches_nothing() -> None:
    index = TriggerIndex([])
    assert len(index) == 0
    assert index.matching({"type": "track"}) == []


def test_each_call_gives_a_new_list() -> None:
    index = TriggerIndex([parse_trigger('type = "track"'), parse_trigger('type = "track"')])
    first = index.matching({"type": "track"})
    first.append(99)
    assert index.matching({"type": "track"}) == [0, 1]


def test_dispatch_decides_type_tests_before_any_event() -> None:
    index = TriggerIndex([parse_trigger(str(sub["fql"])) for sub in SUBSCRIPTIONS])
    # The type is read once and looked up; no trigger compares it with a literal again.
    assert index.source.count("is str:\n        return t0.get(k") == 1
    assert index.matching({"type": "track", "event": "Order Completed"}) == [0, 1, 2, 4]


def test_odd_values_at_the_dispatched_path() -> None:
    triggers = [
        parse_trigger('type = "track"'),
        parse_trigger('type != "track" and type != "page"'),
        parse_trigger('type = "page" or contains(type, "ack")'),
        parse_trigger("type = null"),
        parse_trigger('match(type, "tr*")'),
        *(parse_trigger(text) for text in EXTRA),
    ]
    index = TriggerIndex(triggers)
    for value in ("track", "page", "trick", "", None, 1, True, ["track"], {"a": 1}, "null"):
        event = {"type": value}
        assert index.matching(event) == one_by_one(triggers, event), value
    assert index.matching({}) == one_by_one(triggers, {})


def test_cached_index_is_built_once_per_owner() -> None:
    owner = (parse_trigger('type = "track"'), parse_trigger('event = "A"'))
    built: list[int] = []

    def triggers() -> list[Trigger]:
        built.append(1)
        return list(owner)

    first = cached_index(owner, triggers)
    assert cached_index(owner, triggers) is first
    assert len(built) == 1
    assert first.matching({"type": "track", "event": "A"}) == [0, 1]
    # An equal owner that is another object gets its own index.
    assert cached_index(list(owner), triggers) is not first
    assert len(built) == 2
