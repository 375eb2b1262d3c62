"""``js_number`` is JavaScript's ``Number(value)``: checked against Node on edge cases and on
random numeral-like texts.

One function serves the trigger importer (a structure's value, Segment's ``Number(...)``), the
liquid filters (liquidjs's ``+value``) and the payload coercions, so the three cannot drift
apart at the edges (radix prefixes, underscores, overflow, JavaScript's whitespace).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from framework.definitions.coercion import string_number
from framework.mapping.jsvalues import UNDEFINED, js_number, js_number_value

_NODE_SCRIPT = r"""
const values = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = values.map((v) => {
  const n = Number(v);
  if (Number.isNaN(n)) return ['NaN', false];
  if (!Number.isFinite(n)) return [String(n), false];
  return [n, Object.is(n, -0)];
});
process.stdout.write(JSON.stringify(out));
"""

EDGES: list[Any] = [
    "",
    " ",
    "\u00a0 12 \u2028",
    "\ufeff7",
    "\u180e5",
    "0x10",
    "0X1f",
    "0x1_0",
    "1_0",
    "0x",
    "0b",
    "0o8",
    "0b102",
    "-0x10",
    "+0x10",
    " 0x10 ",
    "0x" + "f" * 300,
    "0b" + "1" * 1100,
    "9" * 400,
    "1e309",
    "-1e309",
    "1e-400",
    "-0",
    "+.5",
    "5.",
    ".",
    "e5",
    ".5e3",
    "1e",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "infinity",
    "INFINITY",
    "NaN",
    "12px",
    "1,5",
    "٣",
    True,
    False,
    None,
    0,
    -0.0,
    2**80,
    1.5,
    [],
    [7],
    ["0x10"],
    [[" 3 "]],
    [1, 2],
    [None],
    {},
    {"a": 1},
]

_NUMERAL_CHARS = "0123456789abcdefxXoObB+-._eE \t\u00a0\n" + "Infinity"


def _node_numbers(values: list[Any]) -> list[tuple[str | float, bool]]:
    node = shutil.which("node")
    assert node is not None, "Node is needed (scripts/test.sh installs it)"
    done = subprocess.run(
        [node, "-e", _NODE_SCRIPT],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [(number, negative_zero) for number, negative_zero in json.loads(done.stdout)]


def _as_node_says(number: float) -> tuple[str | float, bool]:
    if math.isnan(number):
        return ("NaN", False)
    if math.isinf(number):
        return ("Infinity" if number > 0 else "-Infinity", False)
    return (number, number == 0 and math.copysign(1.0, number) < 0)


def test_edge_cases_read_as_node_reads_them() -> None:
    expected = _node_numbers(EDGES)
    for value, want in zip(EDGES, expected, strict=True):
        assert _as_node_says(js_number(value)) == want, value


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet=_NUMERAL_CHARS, max_size=12), min_size=1, max_size=150))
def test_random_numeral_texts_read_as_node_reads_them(texts: list[str]) -> None:
    expected = _node_numbers(texts)
    for text, want in zip(texts, expected, strict=True):
        assert _as_node_says(js_number(text)) == want, repr(text)


def test_undefined_and_objects_are_nan() -> None:
    assert math.isnan(js_number(UNDEFINED))
    assert math.isnan(js_number({"valueOf": 1}))


def test_string_number_is_a_finite_number_or_none() -> None:
    assert string_number("0x10") == 16.0
    assert string_number(" 2.5 ") == 2.5
    assert string_number("") is None
    assert string_number("   ") is None
    assert string_number("Infinity") is None
    assert string_number("1e400") is None
    assert string_number("0x1_0") is None
    # One binary digit past 1,024 bits overflows a double: no number, no exception.
    assert string_number("0b" + "1" * 1024) is None


def test_whole_numbers_become_ints_while_exact() -> None:
    assert js_number_value(5.0) == 5
    assert isinstance(js_number_value(5.0), int)
    assert isinstance(js_number_value(2.0**53), float)
    assert js_number_value(0.5) == 0.5
