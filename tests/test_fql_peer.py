"""Differential test: our triggers against Segment's own packages, run side by side.

About 300 expressions, generated with a fixed seed inside the subset of FQL where Segment
and we agree by design (one operator per group, one level of parentheses with no function
inside, double-quoted strings without escapes, Segment's fields, `match` with one `*` at an
end, literal kinds Segment reads as written), each tried on 20 events. All of it goes through
`node fql.js` in one subprocess call; our Segment AST and every match must equal Segment's.

A second test goes the other way: triggers beyond Segment's parser (nesting, `in`, `not`)
are written as Segment's condition structure, and Segment's own `validate()` must give every
event the same answer as `matches()`.

Events keep clear of the quirks of Segment's JavaScript path lookup (it reads through falsy
values and into strings): values on the way to a deeper key are objects, null, or truthy.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from framework.fql import parse_trigger

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240229
EXPRESSION_COUNT = 300

PLAIN_FIELDS = ["type", "event", "name", "userId"]
PATH_ROOTS = ["properties", "traits", "context"]
BRANCH_KEYS = ["a", "b"]  # on the way to deeper keys: objects, null or truthy values only
LEAF_KEYS = ["v", "w", "first-name", "x_y"]  # anything at all
STRINGS = ["track", "page", "Order Completed", "Order", "Test Event", "x", "", "abc", "5", "null"]
TEXTS = ["Order", "Test", "x", "ab", "Completed", " ", "/docs"]  # contains/match, never empty
NUMBERS: list[int | float] = [0, 1, 5, 100, -5, 19.99, -0.5, 2.5, 1000]


@pytest.fixture(scope="session")
def fql_peer() -> Path:
    """The directory of Segment's packages; set up by scripts/peer.sh when missing. Never skips."""
    configured = os.environ.get("ACTIONKIT_PEER_DIR")
    peer = Path(configured) if configured else ROOT / ".cache" / "peer"
    if not (peer / "fql.js").is_file() or not (peer / "node_modules").is_dir():
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "peer.sh")],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        peer = Path(done.stdout.strip().splitlines()[-1])
    return peer


class _Generator:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def choice(self, options: list[Any]) -> Any:
        return self.random.choice(options)

    def path_field(self) -> str:
        keys = [self.choice(BRANCH_KEYS) for _ in range(self.random.randint(0, 2))]
        keys.append(self.choice(BRANCH_KEYS + LEAF_KEYS))
        return ".".join([self.choice(PATH_ROOTS), *keys])

    def string(self) -> str:
        return json.dumps(self.choice(STRINGS))

    def condition(self) -> str:
        kind = self.random.random()
        if kind < 0.25:
            field = self.choice(PLAIN_FIELDS)
            if field in ("name", "userId") and self.random.random() < 0.3:
                return f"{field} {self.choice(['=', '!='])} null"
            if field == "userId" and self.random.random() < 0.2:
                return f"userId = {self.choice(['true', 'false'])}"
            return f"{field} {self.choice(['=', '!='])} {self.string()}"
        if kind < 0.7:
            field = self.path_field()
            form = self.random.random()
            if form < 0.3:
                return f"{field} {self.choice(['=', '!='])} {self.string()}"
            if form < 0.6:
                operator = self.choice(["=", "!=", "<", "<=", ">", ">="])
                return f"{field} {operator} {self.choice(NUMBERS)}"
            if form < 0.8:
                return f"{field} = {self.choice(['true', 'false'])}"
            return f"{field} {self.choice(['=', '!='])} null"
        field = self.choice(["event", "name", "userId", self.path_field()])
        bang = self.choice(["", "!"])
        text = self.choice(TEXTS)
        if self.random.random() < 0.4:
            return f'{bang}contains({field}, "{text}")'
        pattern = self.choice([f"{text}*", f"*{text}"])
        return f'{bang}match({field}, "{pattern}")'

    def comparison_only(self) -> str:
        while True:
            condition = self.condition()
            if "(" not in condition:
                return condition

    def expression(self) -> str:
        keyword = self.choice(["and", "or"])
        terms = [self.condition() for _ in range(self.random.randint(1, 3))]
        if self.random.random() < 0.35:
            inner = self.choice(["and", "or"])
            group = [self.comparison_only() for _ in range(self.random.randint(1, 3))]
            terms.insert(self.random.randint(0, len(terms)), "(" + f" {inner} ".join(group) + ")")
        return f" {keyword} ".join(terms)

    def nested_expression(self, depth: int = 0) -> str:
        """Mixed and/or, nested groups, `in` lists and `not` over groups that have an exact
        opposite in Segment's structure (string and null tests)."""
        terms: list[str] = []
        for _ in range(self.random.randint(1, 3)):
            roll = self.random.random()
            if depth < 3 and roll < 0.25:
                terms.append(f"({self.nested_expression(depth + 1)})")
            elif depth < 3 and roll < 0.4:
                terms.append(f"not ({self.negatable(depth + 1)})")
            elif roll < 0.55:
                terms.append(self.membership())
            else:
                terms.append(self.condition())
        text = terms[0]
        for term in terms[1:]:
            text += f" {self.choice(['and', 'or'])} {term}"
        return text

    def negatable(self, depth: int) -> str:
        field = self.choice([*PLAIN_FIELDS, self.path_field()])
        test = self.choice([f"= {self.string()}", f"!= {self.string()}", "= null", "!= null"])
        if depth < 3 and self.random.random() < 0.4:
            return f"{field} {test} {self.choice(['and', 'or'])} ({self.negatable(depth + 1)})"
        return f"{field} {test}"

    def membership(self) -> str:
        field = self.choice([*PLAIN_FIELDS, self.path_field()])
        if self.random.random() < 0.4:
            values = self.random.sample([*map(json.dumps, STRINGS), "null"], k=2)
            return f"{field} not in ({', '.join(values)})"
        pool = [*map(json.dumps, STRINGS), *map(str, NUMBERS), "true", "false", "null"]
        values = self.random.sample(pool, k=self.random.randint(1, 3))
        return f"{field} in ({', '.join(values)})"

    def branch_value(self, depth: int) -> Any:
        if depth < 2 and self.random.random() < 0.5:
            return self.object(depth + 1)
        return self.choice([None, "s", 7, True, [1], {}])

    def leaf_value(self) -> Any:
        return self.choice(
            [
                None,
                0,
                "",
                False,
                True,
                5,
                100,
                101,
                19.99,
                -5,
                -0.5,
                "x",
                "Order",
                "/docs/a",
                [1],
                {},
            ]
        )

    def object(self, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key in BRANCH_KEYS:
            if self.random.random() < 0.7:
                result[key] = self.branch_value(depth)
        for key in LEAF_KEYS:
            if self.random.random() < 0.6:
                result[key] = self.leaf_value()
        return result

    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for field in PLAIN_FIELDS:
            if self.random.random() < 0.8:
                event[field] = self.choice(
                    [*STRINGS, "Order Completed", "Test Event x", None, 5, True, False]
                )
        for root in PATH_ROOTS:
            if self.random.random() < 0.85:
                event[root] = self.object(0) if self.random.random() < 0.9 else None
        return event


def _cases() -> tuple[list[str], list[dict[str, Any]]]:
    generator = _Generator(SEED)
    expressions = list(dict.fromkeys(generator.expression() for _ in range(EXPRESSION_COUNT)))
    events = [generator.event() for _ in range(20)]
    return expressions, events


def test_generated_triggers_agree_with_segment(fql_peer: Path) -> None:
    expressions, events = _cases()
    records = [
        {"id": f"{e}:{v}", "expr": expression, "event": event}
        for e, expression in enumerate(expressions)
        for v, event in enumerate(events)
    ]
    done = subprocess.run(
        ["node", str(fql_peer / "fql.js")],
        input="\n".join(json.dumps(record) for record in records),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(records)
    assert len(expressions) >= 250

    mismatches: list[str] = []
    triggers = {expression: parse_trigger(expression) for expression in expressions}
    for record, segment in zip(records, results, strict=True):
        assert segment["parse_error"] is None, (record["expr"], segment)
        trigger = triggers[record["expr"]]
        ours = {"ast": trigger.to_segment_ast(), "match": trigger.matches(record["event"])}
        theirs = {"ast": segment["ast"], "match": segment["match"]}
        if json.dumps(ours, sort_keys=True) != json.dumps(theirs, sort_keys=True):
            mismatches.append(f"{record['expr']!r} on {record['event']}: {ours} != {theirs}")
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(mismatches[:5])


# Reads JSON lines {"ast", "event"} and prints {"match"}: Segment's validate() on our AST.
_VALIDATE_SCRIPT = """
const { validateFql, processJsonLines } = require('./lib')
processJsonLines((record) => ({ match: validateFql(record.ast, record.event) }))
"""


def test_segment_validate_agrees_with_our_written_structures(fql_peer: Path) -> None:
    generator = _Generator(SEED + 1)
    expressions = list(
        dict.fromkeys(generator.nested_expression() for _ in range(EXPRESSION_COUNT))
    )
    events = [generator.event() for _ in range(20)]
    triggers = [parse_trigger(expression) for expression in expressions]
    records = [
        {"ast": trigger.to_segment_ast(), "event": event, "ours": trigger.matches(event)}
        for trigger in triggers
        for event in events
    ]
    done = subprocess.run(
        ["node", "-e", _VALIDATE_SCRIPT],
        cwd=fql_peer,
        input="\n".join(json.dumps({"ast": r["ast"], "event": r["event"]}) for r in records),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(records)
    assert len({json.dumps(r["ast"]) for r in records}) >= 250
    assert any(len(json.dumps(r["ast"])) > 400 for r in records)  # deep trees were made
    mismatches = [
        f"{json.dumps(record['ast'])} on {record['event']}: ours {record['ours']}"
        for record, result in zip(records, results, strict=True)
        if result.get("match") is not record["ours"]
    ]
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(mismatches[:5])


def test_generated_triggers_are_lint_free() -> None:
    expressions, _ = _cases()
    for expression in expressions:
        assert parse_trigger(expression).lint() == [], expression
