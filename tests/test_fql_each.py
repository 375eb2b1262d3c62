"""Triggers over every item of an array: ``properties.products[*].sku = "sku-007"``.

A leaf over a ``[*]`` path holds when some item passes its test, and its opposite form holds
when no item does: ``=``, ``in``, ``contains``, ``match``, the orderings and ``!= null`` are
"some item"; ``!=``, ``not in``, ``!contains``, ``!match`` and ``= null`` are exactly their
negations. Property tests compare the compiled trigger and the TriggerIndex with a plain
reference evaluation written here, item by item.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_fql_properties import PROPERTY_SETTINGS, comparisons, memberships, text_matches, trees

from framework.errors import DefinitionError
from framework.fql import Trigger, parse_trigger
from framework.fql.ast import EACH, And, Comparison, Field, Membership, Node, Not, Or, Step
from framework.fql.index import TriggerIndex

KEYS = ["products", "sku", "price", "tags"]


def _reached(value: Any, path: tuple[Step, ...]) -> list[Any]:
    """Reference: the values a path reaches, recursively; a failed key or index is None."""
    if not path:
        return [value]
    step, rest = path[0], path[1:]
    if step is EACH:
        items = value if type(value) is list else []
        return [found for item in items for found in _reached(item, rest)]
    if isinstance(step, str):
        return _reached(value.get(step) if type(value) is dict else None, rest)
    assert isinstance(step, int)
    inside = type(value) is list and step < len(value)
    return _reached(value[step] if inside else None, rest)


def _one(node: Node, item: Any) -> bool:
    """The leaf's test on one value, through a path with no [*] (tested elsewhere)."""
    assert isinstance(node, Comparison | Membership) or hasattr(node, "parts")
    single = _with_field(node, Field(("v",)))
    return Trigger(single, "").matches({"v": item})


def _with_field(node: Node, field: Field) -> Node:
    from dataclasses import replace

    return replace(node, field=field)  # type: ignore[type-var]


def _negative(node: Node) -> bool:
    if isinstance(node, Comparison):
        return node.op == ("=" if node.value.kind == "null" else "!=")
    return bool(getattr(node, "negated", False))


def _positive(node: Node) -> Node:
    from dataclasses import replace

    if isinstance(node, Comparison):
        return replace(node, op="!=" if node.op == "=" else "=")
    return replace(node, negated=False)  # type: ignore[type-var]


def reference(node: Node, event: Any) -> bool:
    """Plain evaluation of the documented meaning, leaf by leaf."""
    if type(event) is not dict:
        return False
    if isinstance(node, And):
        return all(reference(child, event) for child in node.operands)
    if isinstance(node, Or):
        return any(reference(child, event) for child in node.operands)
    if isinstance(node, Not):
        return not reference(node.operand, event)
    field = node.field
    if EACH not in field.path:
        return Trigger(node, "").matches(event)
    items = _reached(event, field.path)
    if _negative(node):
        test = _positive(node)
        return not any(_one(test, item) for item in items)
    return any(_one(node, item) for item in items)


def _each_fields() -> st.SearchStrategy[Field]:
    step = st.one_of(st.sampled_from(KEYS), st.integers(0, 1), st.just(EACH))
    return st.builds(
        lambda root, rest: Field((root, *rest)),
        st.sampled_from(["properties", "event"]),
        st.lists(step, min_size=1, max_size=4),
    )


EACH_FIELD = _each_fields()
EACH_TREE = trees(
    st.one_of(comparisons(EACH_FIELD), text_matches(EACH_FIELD), memberships(EACH_FIELD))
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, 5, 2.5, -1, "", "a", "ab", "sku-007"])
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
    ),
    max_leaves=12,
)
ARRAY_EVENTS = st.fixed_dictionaries(
    {}, optional={"properties": _values, "event": _values, "type": st.sampled_from(["track"])}
)


@PROPERTY_SETTINGS
@given(EACH_TREE, st.lists(ARRAY_EVENTS, min_size=1, max_size=5))
def test_compiled_each_equals_the_reference(tree: Node, events: list[Any]) -> None:
    trigger = Trigger(tree, "")
    for event in events:
        assert trigger.matches(event) is reference(tree, event), event


@PROPERTY_SETTINGS
@given(st.lists(EACH_TREE, max_size=12), st.lists(ARRAY_EVENTS, min_size=1, max_size=5))
def test_indexed_equals_one_by_one_with_each(trees_: list[Node], events: list[Any]) -> None:
    triggers = [Trigger(tree, "") for tree in trees_]
    triggers += [parse_trigger('type = "track" and properties.products[*].sku = "sku-007"')]
    index = TriggerIndex(triggers)
    for event in events:
        expected = [i for i, trigger in enumerate(triggers) if trigger.matches(event)]
        assert index.matching(event) == expected


@PROPERTY_SETTINGS
@given(EACH_TREE)
def test_each_text_parses_back_and_is_linted_and_refused_by_segment(tree: Node) -> None:
    trigger = Trigger(tree, "")
    text = trigger.to_fql()
    assume("[*]" in text)
    assert parse_trigger(text).tree == tree
    assert any("[*]" in warning for warning in parse_trigger(text).lint())
    with pytest.raises(DefinitionError, match=r"no form for 'any item of an array' \(\[\*\]\)"):
        trigger.to_segment_ast()


ORDER = {
    "properties": {
        "products": [
            {"sku": "sku-001", "price": 5, "tags": ["a", "b"]},
            {"sku": "sku-007", "price": 12.5, "tags": []},
            {"price": "9"},
        ]
    }
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('properties.products[*].sku = "sku-007"', True),
        ('properties.products[*].sku = "sku-009"', False),
        # != is "no item equals", the exact negation of =
        ('properties.products[*].sku != "sku-009"', True),
        ('properties.products[*].sku != "sku-007"', False),
        # != null (exists) is "some item has one"; = null is "no item has one"
        ("properties.products[*].sku != null", True),
        ("properties.products[*].sku = null", False),
        ("properties.products[*].color != null", False),
        ("properties.products[*].color = null", True),
        # numbers compare with numbers only: "9" is a string
        ("properties.products[*].price > 10", True),
        ("properties.products[*].price > 12.5", False),
        ("properties.products[*].price = 9", False),
        ('contains(properties.products[*].sku, "007")', True),
        ('!contains(properties.products[*].sku, "007")', False),
        ('properties.products[*].sku in ("x", "sku-001")', True),
        ('properties.products[*].sku not in ("x", "sku-001")', False),
        # nested [*]: some tag of some product
        ('properties.products[*].tags[*] = "b"', True),
        ('properties.products[*].tags[*] = "c"', False),
        # an index and [*] together
        ('properties.products[0].tags[*] = "a"', True),
        # each leaf ranges over the items by itself: no item has both, yet this holds
        ('properties.products[*].sku = "sku-001" and properties.products[*].price > 10', True),
        # missing array, or not an array: no items
        ('properties.missing[*].sku = "x"', False),
        ('properties.missing[*].sku != "x"', True),
        ("properties.missing[*] != null", False),
        ('properties.products[0].sku[*] = "s"', False),
        ('not (properties.products[*].sku = "sku-007")', False),
    ],
)
def test_each_examples(expression: str, expected: bool) -> None:
    trigger = parse_trigger(expression)
    assert trigger.matches(ORDER) is expected
    assert reference(trigger.tree, ORDER) is expected
    assert TriggerIndex([trigger]).matching(ORDER) == ([0] if expected else [])
