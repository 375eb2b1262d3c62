"""Differential test: Segment's condition structures with any JSON value, read here and run
by Segment's own ``validate()`` (issue 14 part 8).

Segment's ``validate()`` (packages/destination-subscriptions/src/validate.ts) compares with
``String(value)`` and ``Number(value)``, so it evaluates structures its parser would never
write: ``{"operator": ">", "value": "5"}`` (what ``parseFql('name > 5')`` gives),
``{"operator": "=", "value": 123}``, ``{"operator": "number_equals", "value": "123"}`` (the
values of src/__tests__/validate.test.ts), booleans, null, arrays, objects, an absent value,
values that are no number. Every such leaf, read by ``trigger_from_segment_ast``, must give
each event the answer Segment's ``validate()`` gives.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

from framework.fql import trigger_from_segment_ast
from tests.test_fql_peer import fql_peer  # noqa: F401  (the session fixture)

SEED = 20261204
OPERATORS = [
    "=",
    "!=",
    "number_equals",
    "number_not_equals",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "not_contains",
    "starts_with",
    "not_starts_with",
    "ends_with",
    "not_ends_with",
    "exists",
    "not_exists",
    "is_true",
    "is_false",
]
# Condition values: every JSON kind, numerals in JavaScript's forms, and no value at all.
VALUES: list[Any] = [
    "5",
    "123",
    " 7 ",
    "1.5",
    "-2",
    "0x10",
    "1e3",
    "",
    "abc",
    "Infinity",
    "-Infinity",
    "true",
    "null",
    5,
    123,
    1.5,
    -2,
    0,
    1e21,
    True,
    False,
    None,
    [5],
    [1, "a", None],
    [],
    {"k": 1},
]
ABSENT = object()
# Event values: each coercion's result appears among them.
EVENT_VALUES: list[Any] = [
    5,
    123,
    7,
    1.5,
    -2,
    16,
    1000,
    0,
    "5",
    "123",
    "abc",
    "true",
    "false",
    "null",
    "undefined",
    "1,a,",
    "[object Object]",
    "1e+21",
    "",
    True,
    False,
    None,
    [5],
    {},
]
TYPES = [
    ("event", None),
    ("userId", None),
    ("event-property", "n"),
    ("event-trait", "n"),
    ("event-context", "n"),
]
_ROOTS = {"event-property": "properties", "event-trait": "traits", "event-context": "context"}


def _leaves() -> list[dict[str, Any]]:
    leaves: list[dict[str, Any]] = []
    for operator in OPERATORS:
        for value in [*VALUES, ABSENT]:
            kind, name = random.Random(f"{SEED}{operator}{value!r}").choice(TYPES)
            leaf: dict[str, Any] = {"type": kind, "operator": operator}
            if name is not None:
                leaf["name"] = name
            if value is not ABSENT:
                leaf["value"] = value
            leaves.append(leaf)
    return leaves


def _event(value: Any) -> dict[str, Any]:
    return {
        "event": value,
        "userId": value,
        **{root: {"n": value} for root in _ROOTS.values()},
    }


def test_every_value_segment_validates_reads_with_its_meaning(fql_peer: Path) -> None:  # noqa: F811
    structures = [{"type": "group", "operator": "and", "children": [leaf]} for leaf in _leaves()]
    events = [_event(value) for value in EVENT_VALUES] + [{}]
    records = [(structure, event) for structure in structures for event in events]
    done = subprocess.run(
        ["node", "-e", _VALIDATE_SCRIPT],
        cwd=fql_peer,
        input="\n".join(json.dumps({"ast": ast, "event": event}) for ast, event in records),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = [json.loads(line)["match"] for line in done.stdout.splitlines()]
    assert len(results) == len(records)
    assert any(results)
    assert not all(results)
    triggers = {json.dumps(s): trigger_from_segment_ast(s) for s in structures}
    mismatches = [
        f"{json.dumps(ast)} on {json.dumps(event)}: Segment {theirs}"
        for (ast, event), theirs in zip(records, results, strict=True)
        if triggers[json.dumps(ast)].matches(event) is not theirs
    ]
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(mismatches[:5])


def test_the_structures_of_segments_own_tests_read() -> None:
    """The values issue 14 names, each read with validate()'s meaning."""
    leaves = [
        {"type": "name", "operator": ">", "value": "5"},
        {"type": "event-property", "name": "n", "operator": ">", "value": "123"},
        {"type": "event-property", "name": "n", "operator": "=", "value": 123},
        {"type": "event-property", "name": "n", "operator": "number_equals", "value": "123"},
    ]
    read = [
        trigger_from_segment_ast({"type": "group", "operator": "and", "children": [leaf]}).to_fql()
        for leaf in leaves
    ]
    assert read == ["name > 5", "properties.n > 123", 'properties.n = "123"', "properties.n = 123"]


# Reads JSON lines {"ast", "event"} and prints {"match"}: Segment's validate().
_VALIDATE_SCRIPT = """
const { validateFql, processJsonLines } = require('./lib')
processJsonLines((record) => ({ match: validateFql(record.ast, record.event) }))
"""
