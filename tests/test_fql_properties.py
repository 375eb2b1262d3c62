"""Properties of triggers that must hold on any input (hypothesis).

- the canonical text parses back to the same tree;
- matches() is total on any JSON event (and beyond);
- parse_trigger() raises nothing but TriggerSyntaxError, whatever the text;
- Segment's structure, written and read back, means the same on any event.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.errors import DefinitionError, TriggerSyntaxError
from framework.fql import parse_trigger, trigger_from_segment_ast
from framework.fql.ast import (
    EACH,
    And,
    Comparison,
    Field,
    Membership,
    Node,
    Not,
    Or,
    Step,
    TextMatch,
    Value,
    normalize_parts,
)
from framework.fql.trigger import Trigger

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# A small alphabet of keys, shared by fields and events, so that generated triggers actually
# find values in generated events.
KEYS = ["a", "b", "first-name", "$set", "x y", "a.b", "0", "and", ""]
ROOTS = ["type", "event", "name", "userId", "properties", "traits", "context", "anonymousId"]
SEGMENT_ROOTS = ["type", "event", "name", "userId"]
SEGMENT_PATH_ROOTS = ["properties", "traits", "context"]
SEGMENT_KEYS = ["a", "b", "first-name", "x y"]

strings = st.sampled_from(["", "a", "b", "ab", "A", "x y", 'q"uote', "back\\slash", "*", "é"])
finite_numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.one_of(
    strings.map(Value.of),
    finite_numbers.map(Value.of),
    st.booleans().map(Value.of),
    st.just(Value.of(None)),
)


def fields(roots: list[str], keys: list[str], indexes: bool) -> st.SearchStrategy[Field]:
    step: st.SearchStrategy[Step] = (
        st.one_of(st.sampled_from(keys), st.integers(0, 3), st.just(EACH))
        if indexes
        else st.sampled_from(keys)
    )
    return st.builds(
        lambda root, rest: Field((root, *rest)),
        st.sampled_from(roots),
        st.lists(step, max_size=3),
    )


def comparisons(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Node]:
    ordering = st.builds(
        Comparison, field, st.sampled_from(["<", "<=", ">", ">="]), finite_numbers.map(Value.of)
    )
    equality = st.builds(Comparison, field, st.sampled_from(["=", "!="]), values)
    return st.one_of(ordering, equality)


def text_matches(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Node]:
    parts = st.lists(strings, min_size=1, max_size=4).map(normalize_parts)
    return st.builds(TextMatch, field, parts, st.booleans())


def memberships(field: st.SearchStrategy[Field]) -> st.SearchStrategy[Node]:
    return st.builds(
        Membership, field, st.lists(values, min_size=1, max_size=4).map(tuple), st.booleans()
    )


def trees(leaves: st.SearchStrategy[Node], negation: bool = True) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        groups = st.lists(children, min_size=2, max_size=3).map(tuple)
        options = [groups.map(And), groups.map(Or)]
        if negation:
            options.append(children.map(Not))
        return st.one_of(*options)

    return st.recursive(leaves, extend, max_leaves=8)


ANY_FIELD = fields(ROOTS, KEYS, indexes=True)
ANY_TREE = trees(st.one_of(comparisons(ANY_FIELD), text_matches(ANY_FIELD), memberships(ANY_FIELD)))

# Trees Segment's structure can express: its fields and no indexes, and of each construct only
# the forms it has words for (no != true, no glob, no negated group, no exact !match).
SEGMENT_FIELD = st.one_of(
    st.sampled_from(SEGMENT_ROOTS).map(lambda root: Field((root,))),
    st.builds(
        lambda root, keys: Field((root, *keys)),
        st.sampled_from(SEGMENT_PATH_ROOTS),
        st.lists(st.sampled_from(SEGMENT_KEYS), min_size=1, max_size=3),
    ),
)
non_boolean_values = values.filter(lambda value: value.kind != "boolean")
segment_leaves = st.one_of(
    st.builds(
        Comparison,
        SEGMENT_FIELD,
        st.sampled_from(["<", "<=", ">", ">="]),
        finite_numbers.map(Value.of),
    ),
    st.builds(Comparison, SEGMENT_FIELD, st.just("="), values),
    st.builds(Comparison, SEGMENT_FIELD, st.just("!="), non_boolean_values),
    st.builds(
        TextMatch,
        SEGMENT_FIELD,
        st.one_of(
            strings.map(lambda text: (text, "")),
            strings.map(lambda text: ("", text)),
            strings.map(lambda text: normalize_parts(("", text, ""))),
        ),
        st.booleans(),
    ),
    st.builds(TextMatch, SEGMENT_FIELD, strings.map(lambda text: (text,))),
    st.builds(Membership, SEGMENT_FIELD, st.lists(values, min_size=1, max_size=3).map(tuple)),
    st.builds(
        Membership,
        SEGMENT_FIELD,
        st.lists(values.filter(lambda v: v.kind in ("string", "null")), min_size=1).map(tuple),
        st.just(True),
    ),
)
SEGMENT_TREE = trees(segment_leaves, negation=False)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS + ROOTS), children, max_size=4),
    ),
    max_leaves=12,
)
events = st.dictionaries(st.sampled_from(ROOTS), json_values, max_size=6)

# Text made of the language's own pieces: far likelier to get deep into the parser than
# arbitrary characters.
FRAGMENTS = [
    "type", "properties", ".", "a", "[", "]", "0", "-1", "1e3", "1.5", ".5", "5.", '"x"', "'y'",
    '"\\u00e9"', '"\\q"', "=", "!=", "<", ">=", "==", "!", "(", ")", ",", "and", "or", "not",
    "in", "AND", "true", "null", "contains", "match", "*", "[*]", "\\", " ", "\t", "\r\n", "$", "é",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)


@PROPERTY_SETTINGS
@given(ANY_TREE)
def test_canonical_text_parses_back_to_the_same_tree(tree: Node) -> None:
    trigger = Trigger(tree, "")
    text = trigger.to_fql()
    assert parse_trigger(text).tree == tree
    assert parse_trigger(text).to_fql() == text


@PROPERTY_SETTINGS
@given(ANY_TREE, st.lists(events, max_size=5))
def test_matches_is_total_on_json_events(tree: Node, generated: list[dict[str, Any]]) -> None:
    trigger = Trigger(tree, "")
    for event in generated:
        assert trigger.matches(event) in (True, False)


@PROPERTY_SETTINGS
@given(ANY_TREE)
def test_matches_is_total_on_deep_and_odd_events(tree: Node) -> None:
    deep: Any = "leaf"
    for _ in range(1000):
        deep = {"a": [deep], "b": deep}
    trigger = Trigger(tree, "")
    odd = [{"properties": deep, "context": deep}, {"type": 10**400}, {"event": float("nan")}]
    for event in [*odd, None, [], "type", 0]:
        assert trigger.matches(event) in (True, False)


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=60), token_soup))
def test_parse_raises_only_syntax_errors(text: str) -> None:
    try:
        trigger = parse_trigger(text)
    except TriggerSyntaxError as error:
        column = error.column
    else:
        column = 0
    if column:
        assert column <= len(text) + 1
        return
    # Whatever parses also prints, lints and matches without raising.
    assert parse_trigger(trigger.to_fql()) == trigger
    trigger.lint()
    trigger.matches({"type": "x"})


@PROPERTY_SETTINGS
@given(SEGMENT_TREE, st.lists(events, min_size=1, max_size=8))
def test_segment_structure_round_trip_means_the_same(
    tree: Node, generated: list[dict[str, Any]]
) -> None:
    trigger = Trigger(tree, "")
    read_back = trigger_from_segment_ast(trigger.to_segment_ast())
    for event in generated:
        assert read_back.matches(event) is trigger.matches(event), event


@PROPERTY_SETTINGS
@given(ANY_TREE)
def test_segment_structure_is_written_or_refused_with_a_reason(tree: Node) -> None:
    message = ""
    try:
        Trigger(tree, "").to_segment_ast()
    except DefinitionError as error:
        message = error.message
    assert not message or message.startswith("Segment's condition structure cannot express")


segment_like = st.recursive(
    st.one_of(
        json_scalars,
        st.fixed_dictionaries(
            {
                "type": st.one_of(
                    st.sampled_from(["event", "event-property", "userId", "group", "x"]),
                    json_values,
                ),
                "operator": st.one_of(
                    st.sampled_from(["=", "!=", ">", "exists", "contains", "and", "."]),
                    json_values,
                ),
            },
            optional={"name": json_scalars, "value": json_values},
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.fixed_dictionaries(
            {"type": st.just("group"), "operator": st.sampled_from(["and", "or", "x"])},
            optional={"children": st.lists(children, max_size=3), "extra": children},
        ),
        st.dictionaries(st.sampled_from(["type", "operator", "children"]), children),
    ),
    max_leaves=10,
)


@PROPERTY_SETTINGS
@given(segment_like)
def test_reading_any_structure_raises_only_definition_errors(structure: Any) -> None:
    try:
        trigger = trigger_from_segment_ast(structure)
    except DefinitionError as error:
        problems = error.problems
    else:
        problems = []
        assert parse_trigger(trigger.expression) == trigger
    assert all(problem.pointer == "" or problem.pointer.startswith("/") for problem in problems)


@PROPERTY_SETTINGS
@given(ANY_TREE)
def test_lint_never_raises_on_canonical_text(tree: Node) -> None:
    warnings = parse_trigger(Trigger(tree, "").to_fql()).lint()
    assert all(warning.startswith("column ") for warning in warnings)
