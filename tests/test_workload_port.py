"""The Python workload port writes exactly what the peer's ``gen_workload.js`` writes.

The differential tests run Node (through the ``peer_dir`` fixture); the recorded SHA-256 and
the tables of JavaScript behaviours hold without it.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import subprocess
from pathlib import Path

import pytest

from benchmarks.engine import js_equal
from benchmarks.peer import run_node
from benchmarks.workload import (
    SUBSCRIPTIONS,
    generate_workload,
    js_json,
    js_number,
    js_round,
    main,
    workload_text,
)

# sha256sum of `node gen_workload.js --n 20000 --seed 42 --out workload.json`, run on
# 2026-11-24 with the peer harness (Node v20.20.2); 19,347,441 bytes.
NODE_SHA256_N20000_SEED42 = "79f1a511197199d977880d23212b389250644374e1eabeec620e5a30d3928252"


@pytest.mark.parametrize(
    ("n", "seed"), [(0, 42), (500, 42), (300, 7), (2000, 1234), (1000, 0), (1000, -1)]
)
def test_port_output_is_byte_identical_to_node(
    peer_dir: Path, tmp_path: Path, n: int, seed: int
) -> None:
    out = tmp_path / "node.json"
    run_node(peer_dir, "gen_workload.js", "--n", str(n), "--seed", str(seed), "--out", str(out))
    assert out.read_bytes() == workload_text(n, seed).encode("utf-8")


def test_port_output_for_20000_events_has_the_sha256_node_gave() -> None:
    digest = hashlib.sha256(workload_text(20000, 42).encode("utf-8")).hexdigest()
    assert digest == NODE_SHA256_N20000_SEED42


def test_cli_writes_the_same_bytes_as_workload_text(tmp_path: Path) -> None:
    out = tmp_path / "workload.json"
    assert main(["--n", "50", "--seed", "3", "--out", str(out)]) == 0
    assert out.read_bytes() == workload_text(50, 3).encode("utf-8")


def test_generated_workload_is_one_json_document_with_the_counts_in_meta() -> None:
    workload = json.loads(workload_text(400, 9))
    events = workload["events"]
    counts: dict[str, int] = {}
    for event in events:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    assert len(events) == 400
    assert workload["meta"]["event_type_counts"] == counts
    assert [s["id"] for s in workload["subscriptions"]] == [s["id"] for s in SUBSCRIPTIONS]


def test_generate_workload_hands_out_copies_of_the_subscriptions() -> None:
    first = generate_workload(0)
    subscriptions = first["subscriptions"]
    assert isinstance(subscriptions, list)
    subscription = subscriptions[0]
    assert isinstance(subscription, dict)
    subscription["mapping"] = {}
    assert generate_workload(0)["subscriptions"] == list(SUBSCRIPTIONS)
    assert SUBSCRIPTIONS[0]["mapping"] != {}


def test_negative_event_count_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        generate_workload(-1)


# JavaScript behaviours the port depends on; each expected value is what Node v20 prints.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 1),
        (-0.5, 0),
        (1.5, 2),
        (2.5, 3),
        (-2.5, -2),
        (4.5, 5),
        (-4.5, -4),
        (0.49999999999999994, 0),
        (1.005 * 100, 100),
    ],
)
def test_js_round_rounds_halves_toward_positive_infinity(value: float, expected: int) -> None:
    assert js_round(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (249.0, "249"),
        (249, "249"),
        (2.625, "2.625"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "10000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (12345678901234567890, "12345678901234567000"),
        (2**53 + 2, "9007199254740994"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.0001, "0.0001"),
        (1.2e-5, "0.000012"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-1.23456e-8, "-1.23456e-8"),
        (5e-324, "5e-324"),
        (float("inf"), "Infinity"),
        (float("nan"), "NaN"),
        (10**400, "Infinity"),
    ],
)
def test_js_number_prints_numbers_as_javascript_string_does(value: float, expected: str) -> None:
    assert js_number(value) == expected


def test_js_json_writes_integral_floats_without_a_fraction_and_non_finite_as_null() -> None:
    assert js_json({"a": [1.0, 2.5, float("nan"), None, True]}) == '{"a":[1,2.5,null,null,true]}'


def test_js_json_lists_integer_like_keys_first_as_javascript_objects_do() -> None:
    assert (
        js_json({"b": 1, "10": 2, "a": 3, "2": 4, "01": 5}) == '{"2":4,"10":2,"b":1,"a":3,"01":5}'
    )


def test_js_json_escapes_lone_surrogates_and_joins_surrogate_pairs() -> None:
    assert js_json(["\ud83d\ude00", "a\ud800", "\udfffb"]) == '["\U0001f600","a\\ud800","\\udfffb"]'


def test_js_json_refuses_what_is_not_json_data() -> None:
    with pytest.raises(TypeError, match="not JSON data"):
        js_json({"a": {1, 2}})
    with pytest.raises(TypeError, match="keys must be strings"):
        js_json({1: "a"})


def _node_eval(peer_dir: Path, source: str, stdin: str) -> list[str]:
    done = subprocess.run(
        ["node", "-e", source],
        cwd=peer_dir,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\n")[:-1]


def test_js_number_agrees_with_node_on_random_doubles(peer_dir: Path) -> None:
    generator = random.Random(20261124)
    doubles = [struct.unpack("<d", generator.randbytes(8))[0] for _ in range(3000)]
    doubles += [generator.uniform(-1e6, 1e6) for _ in range(1000)]
    doubles += [round(generator.uniform(0, 1000), 2) for _ in range(1000)]
    doubles += [float(f"1e{k}") for k in range(-330, 310)]
    doubles += [-(2.0**k) for k in range(-1074, 1024, 7)]
    # Bit patterns travel as hex, so Node sees exactly the same doubles.
    stdin = "\n".join(struct.pack("<d", d).hex() for d in doubles) + "\n"
    source = (
        "const lines = require('fs').readFileSync(0, 'utf8').trim().split('\\n');"
        "for (const h of lines) console.log(String(Buffer.from(h, 'hex').readDoubleLE(0)));"
    )
    assert [js_number(d) for d in doubles] == _node_eval(peer_dir, source, stdin)


def test_js_json_agrees_with_node_json_stringify(peer_dir: Path) -> None:
    documents = [
        '{"text":"tab\\t nl\\n cr\\r bs\\b ff\\f nul\\u0000 us\\u001f del\\u007f"}',
        '{"quote":"\\"","backslash":"\\\\","slash":"/","ls":"\\u2028","ps":"\\u2029"}',
        '{"unicode":"é 日本 \\ud83d\\ude00","lone":"\\ud800 \\udfff x\\udc00"}',
        '{"z":1,"5":2,"a":{"3":[],"1":{}},"4294967295":0,"4294967294":1,"-1":2,"1.5":3}',
        "[1.0, -0.0, 1e21, 1e-7, 123456789012345678901234567890, 1e400, 0.1, 5e-324]",
        '"just a string"',
        "null",
    ]
    source = (
        "const lines = require('fs').readFileSync(0, 'utf8').trim().split('\\n');"
        "for (const l of lines) console.log(JSON.stringify(JSON.parse(l)));"
    )
    expected = _node_eval(peer_dir, source, "\n".join(documents) + "\n")
    assert [js_json(json.loads(d)) for d in documents] == expected


# The engine benchmark's comparison with Segment's dump must not hide a difference.


@pytest.mark.parametrize(
    ("segment", "ours", "equal"),
    [
        (1, 1.0, True),
        (249, 249.0, True),
        ({"a": 1, "b": [1, "x"]}, {"b": [1.0, "x"], "a": 1}, True),
        ({"__error__": "Segment's words"}, {"__error__": "ours"}, True),
        (True, 1, False),
        (0, False, False),
        (None, 0, False),
        ("1", 1, False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ([1, 2], [1, 2, None], False),
        ({"__error__": "failed"}, {"x": 1}, False),
    ],
)
def test_engine_compares_outputs_with_javascript_equality(
    segment: object, ours: object, equal: bool
) -> None:
    assert js_equal(segment, ours) is equal
