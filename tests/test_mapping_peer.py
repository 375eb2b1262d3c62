"""Mappings side by side with Segment's own (@segment/actions-core 3.170.0, in Node).

A few hundred generated (mapping, event) pairs, inside the area where we match Segment, go to
the peer's ``mapping.js`` in one Node process; Segment's ``transform`` output must equal ours.
The recorded ``segment`` of every ``segment_cases`` entry of tests/data/mapping_cases.yaml is
checked against the live peer in the same run, so the records stay true.

The generator stays out of the documented divergences (tests/conformance/
divergences.yaml (`mapping:`)): no directive-made @template, no @transform on array items, no
quoted keys containing dots, no JS prototype names, no integers past 2^53, no ``{{`` inside
event strings, exact spellings of modes and directions, and only liquid that both engines
render alike. It uses no @jmespath or @split, which Segment does not have.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from conformance_records import same_json

from benchmarks.peer import PeerError, prepare_peer, run_node
from framework.mapping import compile_mapping

ROOT = Path(__file__).resolve().parents[1]
OWN_RECORDS = yaml.safe_load((ROOT / "tests" / "data" / "mapping_cases.yaml").read_text("utf-8"))[
    "segment_cases"
]
PAIRS = 300
SEGMENT_KEYS = ("error", "output", "validate_error", "validate_errors")

EVENT_PATHS = [
    "$.userId", "$.anonymousId", "$.type", "$.event", "$.n", "$.s", "$.missing", "$.missing.deep",
    "$.properties", "$.properties.order_id", "$.properties.revenue", "$.properties.total",
    "$.properties.currency", "$.properties.coupon", "$.properties.zero", "$.properties.empty",
    "$.properties.flag", "$.properties['first name']", "$.properties.tags",
    "$.properties.tags[0]", "$.properties.tags.length", "$.properties.products",
    "$.properties.products[1].sku", "$.properties.products.0.price", "$.properties.nested.a.b",
    "$.traits", "$.traits.email", "$.traits.name", "$.traits.age", "$.traits.address.city",
    "$.context.device.type", "$.context.locale", "$.userId.length", "$.", "userId",
    "properties.total",
]  # fmt: skip
OBJECT_PATHS = ["$.properties", "$.traits", "$.context", "$.properties.nested", "$.missing"]
ARRAY_PATHS = ["$.properties.products", "$.properties.tags", "$.traits", "$.missing", "$.n"]
ITEM_PATHS = ["$.sku", "$.name", "$.price", "$.quantity", "$.", "$.missing", "$.length", "$.0"]
TEMPLATE_PATHS = [path.removeprefix("$.") for path in EVENT_PATHS if path != "$."] + [
    "",
    "$.userId",
]
LIQUID = [
    "{{ userId | upcase }}",
    "{{ properties.total | plus: 1 }}",
    "{{ properties.revenue | times: 100 | round }}",
    "{% if traits.age > 30 %}old{% else %}young{% endif %}",
    "{{ traits.email | downcase | split: '@' | last }}",
    "{{ properties.tags | join: '-' }}",
    "{{ properties.coupon | default: 'none' }}",
    "{{ properties.total | divided_by: 3 | round: 2 }}",
    "{{ traits.name | truncate: 6 }}",
    "{% assign t = properties.tags | first %}{{ t | capitalize }}",
    "{{ properties.products[0].sku }}/{{ properties.products.first.name }}",
    "{{ n }}|{{ s }}",
    "{{ properties.nested }}{{ properties.tags }}",
    "{{ n | modulo: 7 }} {{ n | minus: 0.5 }}",
    "{% if s >= 'b' and n < 10 %}lo{% endif %}{% unless userId <= 0 %}id{% endunless %}",
]
WORDS = ["Ada", "ADA lovelace", "a-b-c", "x.y.z", "  padded ", "", "ß straße", "İstanbul", "1,2,3"]


class Generator:
    """Mappings and events from a seeded random source, where we and Segment agree."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items)

    # -- events ---------------------------------------------------------------------------

    def event(self) -> dict[str, Any]:
        rng = self.rng
        products = [
            {
                key: value
                for key, value in (
                    ("sku", f"sku-{i}"),
                    ("name", self.pick(WORDS)),
                    ("price", self.pick([19.99, 3.5, 0, 140.0, 12])),
                    ("quantity", rng.randint(0, 3)),
                )
                if self.chance(0.85)
            }
            for i in range(rng.randint(0, 3))
        ]
        properties = {
            "order_id": self.pick(["ord_1", "ORD-2", ""]),
            "revenue": self.pick([129.99, 0, 1e21, 0.1, -5, 100.0]),
            "total": self.pick([140, 140.0, 2.5, "150", None]),
            "currency": self.pick(["EUR", "usd", None]),
            "coupon": self.pick([None, "SAVE-10", ""]),
            "zero": 0,
            "empty": "",
            "flag": self.chance(0.5),
            "first name": self.pick(WORDS),
            "tags": [self.pick(WORDS) for _ in range(rng.randint(0, 3))],
            "products": products,
            "nested": {"a": {"b": self.pick([1, None, "x", [1, 2], {"c": None}])}, "d": None},
        }
        traits = {
            "email": self.pick(["Ada@Example.COM", "b@c.d", "", None]),
            "name": self.pick(WORDS),
            "age": self.pick([36, 17.5, 0, "40", None]),
            "address": self.pick([{"city": "London"}, {}, None, "str"]),
        }
        event: dict[str, Any] = {
            "type": self.pick(["track", "identify"]),
            "event": self.pick(["Order Completed", "Signed Up"]),
            "userId": self.pick(["user_1", "", None, 0, "Ada Lovelace", "a,b"]),
            "anonymousId": "anon-1",
            "n": self.pick([5, 0, -1.5, 1e-7, 123456789]),
            "s": self.pick(WORDS),
            "properties": properties,
            "traits": traits if self.chance(0.8) else self.pick([None, "t", [1]]),
            "context": {"device": self.pick([None, {"type": "ios"}]), "locale": "en-US"},
        }
        for key in list(event):
            if self.chance(0.1):
                del event[key]
        return event

    # -- mappings -------------------------------------------------------------------------

    def by_path(self, paths: list[str] = EVENT_PATHS) -> dict[str, Any]:
        return {"@path": self.pick(paths)}

    def template(self) -> str:
        parts = []
        for _ in range(self.rng.randint(0, 3)):
            parts.append(self.pick(["", "-", " and ", "[", "]", "$", "}"]))
            braces = self.pick(["{{%s}}", "{{ %s }}", "{{{%s}}}"])
            parts.append(braces % self.pick(TEMPLATE_PATHS))
        parts.append(self.pick(["", "!", "{{", "}}"]))
        return "".join(parts)

    def value(self, depth: int, *, items: bool = False) -> Any:
        """A mapping value; ``items``: inside an @arrayPath shape, where payloads are items."""
        rng = self.rng
        paths = ITEM_PATHS if items else EVENT_PATHS
        if depth <= 0:
            return self.pick([self.by_path(paths), self.by_path(paths), 1, "lit", None, False])
        kind = rng.randrange(16)
        inner = depth - 1
        if kind == 0:
            return self.by_path(paths)
        if kind == 1:
            return {"@template": self.template()}
        if kind == 2:
            return {
                "@literal": self.pick([self.value(inner, items=items), {"k": 1}, [1, "a"], 0, ""])
            }
        if kind == 3:
            options: dict[str, Any] = {self.pick(["exists", "blank"]): self.by_path(paths)}
            if self.chance(0.8):
                options["then"] = self.value(inner, items=items)
            if self.chance(0.8):
                options["else"] = self.pick([self.value(inner, items=items), 0, "", None, [], "no"])
            return {"@if": options}
        if kind == 4:
            value = self.pick([self.by_path(paths), "MiXeD", {"@template": self.template()}])
            return {"@case": {"operator": self.pick(["lower", "upper"]), "value": value}}
        if kind == 5:
            return {"@replace": self.replace_options(paths)}
        if kind == 6 and not items:
            return {"@arrayPath": self.array_path(inner)}
        if kind == 7:
            mode = self.pick(["encode", "decode"])
            value = self.by_path(paths) if mode == "decode" else self.value(inner, items=items)
            if mode == "encode" and value in (0, "", None, False):
                value = {"k": value}
            return {"@json": {"mode": mode, "value": value}}
        if kind == 8:
            options = {
                "separator": self.pick([".", "_", "__"]),
                "value": self.pick([self.by_path(OBJECT_PATHS), self.value(inner, items=items)]),
            }
            if self.chance(0.4):
                options["omitArrays"] = self.chance(0.5)
            return {"@flatten": options}
        if kind == 9:
            objects = [
                self.pick(
                    [self.by_path(OBJECT_PATHS), {"k": self.value(inner, items=items), "x": 1}]
                )
                for _ in range(rng.randint(0, 3))
            ]
            return {"@merge": {"direction": self.pick(["left", "right"]), "objects": objects}}
        if kind == 10 and not items:
            apply = {"x": self.value(inner), "y": self.by_path()}
            mapping = {
                "out": {"@path": "$.x"},
                "t": {"@template": "<{{y}}>"},
                "z": self.value(inner),
            }
            return {"@transform": {"apply": apply, "mapping": mapping}}
        if kind == 11:
            return {
                "@excludeWhenNull": self.pick(
                    [self.by_path(paths), {"a": None, "b": self.value(inner, items=items)}]
                )
            }
        if kind == 12 and not items:
            return {"@liquid": self.pick(LIQUID)}
        if kind == 13:
            return {
                key: self.value(inner, items=items)
                for key in rng.sample(["a", "b", "c"], rng.randint(0, 3))
            }
        if kind == 14:
            return [self.value(inner, items=items) for _ in range(rng.randint(0, 3))]
        return {
            "@path": {
                "@template": "$.properties.{{"
                + self.pick(["s", "properties.currency", "missing"])
                + "}}"
            }
        }

    def replace_options(self, paths: list[str]) -> dict[str, Any]:
        options: dict[str, Any] = {
            "pattern": self.pick(["a", "e", "-", ".", " ", "1", "A", "ss", ",", "$"]),
            "value": self.pick([self.by_path(paths), "a-b.c A", ""]),
        }
        if self.chance(0.7):
            options["replacement"] = self.pick(["", "_", "$&", "[$&]", "$$", "X", "$'", "$`"])
        for flag in ("ignorecase", "global"):
            if self.chance(0.3):
                options[flag] = self.chance(0.5)
        if self.chance(0.3):
            options["pattern2"] = self.pick(["_", "X", "b"])
            options["replacement2"] = self.pick(["", "2"])
        return options

    def array_path(self, depth: int) -> list[Any]:
        path: Any = self.pick(ARRAY_PATHS)
        if self.chance(0.2):
            path = {"@path": path}
        roll = self.rng.randrange(4)
        if roll == 0:
            return [path]
        if roll == 1:
            return [path, {}]
        if roll == 2:
            return [path, self.by_path(ITEM_PATHS)]
        shape = {key: self.value(depth, items=True) for key in self.rng.sample(["k", "v", "w"], 2)}
        return [path, shape]

    def mapping(self) -> dict[str, Any]:
        keys = self.rng.sample(["a", "b", "c", "d", "e", "f"], self.rng.randint(1, 5))
        return {key: self.value(self.rng.randint(0, 3)) for key in keys}


@pytest.fixture(scope="session")
def mapping_peer() -> Path:
    """The peer directory; it is prepared when missing, and its absence fails the tests."""
    try:
        return prepare_peer()
    except PeerError as error:
        pytest.fail(f"Segment's peer harness could not be prepared: {error}")


def run_peer(peer: Path, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every record through ``node mapping.js`` in one process, by id."""
    lines = "".join(json.dumps(record) + "\n" for record in records)
    done = run_node(peer, "mapping.js", stdin=lines)
    # split("\n"), not splitlines(): JSON text may hold U+2028, which splitlines() splits on.
    results = [json.loads(line) for line in done.stdout.split("\n") if line]
    return {result["id"]: result for result in results}


GENERATOR = Generator(seed=20240115)
GENERATED = [
    {"id": f"g{index:03d}", "mapping": GENERATOR.mapping(), "event": GENERATOR.event()}
    for index in range(PAIRS)
]


@pytest.fixture(scope="module")
def peer_results(mapping_peer: Path) -> dict[str, dict[str, Any]]:
    recorded = [
        {key: record[key] for key in ("id", "mapping", "event") if key in record}
        for record in OWN_RECORDS
    ]
    return run_peer(mapping_peer, GENERATED + recorded)


@pytest.mark.parametrize("pair", GENERATED, ids=[pair["id"] for pair in GENERATED])
def test_generated_mapping_resolves_as_segment_transforms_it(
    pair: dict[str, Any], peer_results: dict[str, dict[str, Any]]
) -> None:
    theirs = peer_results[pair["id"]]
    assert theirs["error"] is None, theirs["error"]
    ours = compile_mapping(pair["mapping"]).resolve(pair["event"])
    assert same_json(ours, theirs["output"]), (ours, theirs["output"])


@pytest.mark.parametrize("record", OWN_RECORDS, ids=[record["id"] for record in OWN_RECORDS])
def test_recorded_segment_outcome_is_still_segments(
    record: dict[str, Any], peer_results: dict[str, dict[str, Any]]
) -> None:
    live = {key: peer_results[record["id"]][key] for key in SEGMENT_KEYS}
    assert live == record["segment"]


def test_generator_uses_every_segment_directive() -> None:
    used: set[str] = set()
    for pair in GENERATED:
        used |= compile_mapping(pair["mapping"]).directives_used
    assert used == {
        "@path", "@template", "@literal", "@if", "@case", "@replace", "@arrayPath", "@json",
        "@flatten", "@merge", "@transform", "@excludeWhenNull", "@liquid",
    }  # fmt: skip
