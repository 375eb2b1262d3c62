"""Payload validation side by side with Segment's own (actions-core 3.170.0, in Node).

About 200 generated (fields, payload) cases inside the area where we match Segment, plus every
divergence of ``tests/data/payload_cases.yaml``, go to ``tests/peer/payload.js`` in one Node
process. A generated case must come out exactly as Segment's: valid or not, the same cleaned
payload, the same error sentences. A divergence must come out as its ``expected`` value (see
``test_payload_validation.py``) and must differ from Segment's, or the entry is not needed.

The generator stays out of the documented divergences: no blank or "Infinity" strings for
numbers, no one-element arrays for nullable or datetime fields, no empty values inside items
of ``multiple`` objects, no nullable objects with properties, no 0 limits, limits and formats
only where Segment applies them, datetime strings only in the shapes both sides read the same
way, no ``[""]`` for a string field, no ``""`` for a required string inside an object.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_payload_validation import as_json, outcome

ROOT = Path(__file__).resolve().parents[1]
TABLE = yaml.safe_load((ROOT / "tests" / "data" / "payload_cases.yaml").read_text("utf-8"))
SCRIPT = ROOT / "tests" / "peer" / "payload.js"

LABELS = ["", "Name", "user id", "Total", "e-mail"]
KEYS = ["userId", "email", "tags", "items", "at", "n", "plan", "props"]
SUBKEYS = ["sku", "qty", "price", "name"]
WORDS = ["a", "hello", "5", "-3", "1.5", "true", "false", "0x1A", "1e3", " 7 ", "abc", ""]
NUMBERS: list[Any] = [0, 1, -1, 5, 1.5, 0.1, 100.0, 1e21, -0.5, 2.5, 10, 12345678]
DATES = ["2024-02-29", "2024-02-29T10:20:30Z", "2024-02-29T10:20:30.123+02:00", "2024",
         "2024-02-29 10:20", "1700000000", "-1.5", "0.1", "abc", "not a date", "true",
         "2024-13-01T00:00:00Z"]  # fmt: skip
FORMAT_TEXTS = {
    "uri": ["https://example.com", "http://a", "mailto:a@b.c", "urn:isbn:1", "example.com",
            "/path", "http://exa mple.com", "a:b", "http://ex.com/%zz", "a:"],
    "email": ["a@b.co", "a@b", "a.b@c.d", "a@@b.c", "a+tag@ex.com", "a@-b.com", ".a@b.c"],
    "date-time": ["2024-02-29T10:20:30Z", "2023-02-29T10:20:30Z", "2024-02-29T10:20:30",
                  "2024-02-29", "2024-02-29T24:00:00Z", "2024-02-29T10:20:30.5+0200"],
}  # fmt: skip
CHOICES = {"string": ["a", "b", "5", "true"], "number": [1, 2.5, 5], "integer": [1, 5, 10]}
TYPES = ["string", "text", "password", "number", "integer", "boolean", "datetime", "object"]
STRING_TYPES = frozenset(TYPES[:3])


class Generator:
    """Fields and payloads from a seeded random source, inside the area where we match Segment."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def field(self, *, nested: bool = False) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choice(TYPES[:-1] if nested else TYPES)
        field: dict[str, Any] = {"label": rng.choice(LABELS), "type": kind}
        for flag, probability in (("required", 0.3), ("allowNull", 0.25), ("multiple", 0.25)):
            if self.chance(probability):
                field[flag] = True
        single = not field.get("multiple")
        if kind == "number" and single and self.chance(0.3):
            low = rng.choice([1, 2, -5])
            field["minimum"], field["maximum"] = low, low + rng.choice([3, 10])
        if kind == "string" and single and self.chance(0.3):
            field["minimum"], field["maximum"] = rng.randint(1, 3), rng.randint(4, 8)
        elif kind == "string" and single and self.chance(0.3):
            field["format"] = rng.choice(sorted(FORMAT_TEXTS))
        if kind in CHOICES and self.chance(0.25):
            field["choices"] = [{"value": value} for value in CHOICES[kind]]
        if kind == "object" and self.chance(0.7):
            field["additionalProperties"] = self.chance(0.5)
            count = rng.randint(1, 3)
            field["properties"] = {
                key: self.field(nested=True) for key in rng.sample(SUBKEYS, count)
            }
            # Segment loses allowNull on an object with properties: a documented divergence.
            field.pop("allowNull", None)
        return field

    def fields(self) -> dict[str, dict[str, Any]]:
        keys = self.rng.sample(KEYS, self.rng.randint(1, 4))
        return {key: self.field() for key in keys}

    def payload(self, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
        payload = {key: self.value(field) for key, field in fields.items() if self.chance(0.85)}
        if self.chance(0.3):
            payload["unknown"] = self.rng.choice([*WORDS, *NUMBERS])
        return payload

    def scalar(self, field: dict[str, Any]) -> Any:
        rng, kind = self.rng, field["type"]
        if kind == "datetime":
            return rng.choice([*DATES, 1700000000, 5, -1.5, True])
        pool: list[Any] = [*WORDS, *NUMBERS, True, False, None, {}, {"k": 1}, [], ["a", "b"]]
        if field.get("format"):
            pool += FORMAT_TEXTS[field["format"]] * 3
        if "choices" in field:
            pool += [choice["value"] for choice in field["choices"]] * 2
        if "minimum" in field:
            pool += [field["minimum"] - 1, field["minimum"], field["maximum"], field["maximum"] + 1]
            pool += ["x" * field["maximum"], "x" * (field["maximum"] + 1)]
        if kind == "object" and field.get("allowNull"):
            # ajv makes null out of 0 and false here: a documented divergence.
            pool = [value for value in pool if value is not False and value != 0]
        return rng.choice(pool)

    def value(self, field: dict[str, Any]) -> Any:
        if field.get("multiple"):
            return self.many(field)
        if field["type"] == "object" and "properties" in field and self.chance(0.7):
            return self.members(field, clean=False)
        union = field.get("allowNull") or field["type"] == "datetime"
        if not union and self.chance(0.1):
            element = self.scalar(field)
            # [""] for a string field is dropped or refused as missing: a documented divergence.
            empty = element == "" and field["type"] in STRING_TYPES
            return [element] if element is not None and not empty else ["x"]
        return self.scalar(field)

    def many(self, field: dict[str, Any]) -> Any:
        item = {key: value for key, value in field.items() if key not in ("multiple", "allowNull")}
        if field["type"] == "object" and "properties" in field:
            objects = [self.members(item, clean=True) for _ in range(self.rng.randint(0, 3))]
            return objects[0] if len(objects) == 1 and self.chance(0.3) else objects
        if field["type"] == "datetime":
            # Segment leaves the items of a multiple datetime unchecked: give it valid dates.
            dates = ["2024-02-29", "2024-02-29T10:20:30Z", "1700000000", 1700000000]
            return [self.rng.choice(dates) for _ in range(self.rng.randint(0, 3))]
        if self.chance(0.3):
            return self.scalar(item)
        return [self.scalar(item) for _ in range(self.rng.randint(0, 4))]

    def members(self, field: dict[str, Any], *, clean: bool) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, child in field["properties"].items():
            if self.chance(0.2):
                continue
            value = self.value(child)
            # Segment keeps the empty values inside items of a multiple object: a divergence.
            while clean and has_empty(value):
                value = self.value(child)
            # Segment keeps "" in a required string of an object; we refuse it: a divergence.
            while value == "" and child.get("required") and child["type"] in STRING_TYPES:
                value = self.value(child)
            result[key] = value
        if self.chance(0.2):
            result["extra"] = self.rng.choice(WORDS)
        return result


def has_empty(value: Any) -> bool:
    if isinstance(value, list):
        return any(has_empty(item) for item in value)
    if isinstance(value, dict):
        return any(has_empty(item) for item in value.values())
    return value is None or value == ""


def generated_cases(count: int = 200, seed: int = 20240229) -> list[dict[str, Any]]:
    generator = Generator(seed)
    cases = []
    for index in range(count):
        fields = generator.fields()
        cases.append(
            {"id": f"gen-{index:03d}", "fields": fields, "payload": generator.payload(fields)}
        )
    return cases


GENERATED = generated_cases()
DIVERGENCES = TABLE["divergences"]


def segment_fields(raw_fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as Segment reads them: its additionalProperties defaults to false, ours true."""
    result = {}
    for key, field in raw_fields.items():
        field = dict(field)
        if "properties" in field:
            field.setdefault("additionalProperties", True)
            field["properties"] = segment_fields(field["properties"])
        result[key] = field
    return result


@pytest.fixture(scope="module")
def segment(peer_dir: Path) -> dict[str, dict[str, Any]]:
    """What Segment does with every case, from one run of the Node script, by case id."""
    lines = [
        json.dumps(
            {"id": case["id"], "fields": segment_fields(case["fields"]), "payload": case["payload"]}
        )
        for case in [*GENERATED, *DIVERGENCES]
    ]
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "ACTIONKIT_PEER_DIR": str(peer_dir)},
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return {record["id"]: record for record in records}


def segment_outcome(record: dict[str, Any]) -> dict[str, Any]:
    """Segment's record in the shape of :func:`outcome`."""
    if "harness_error" in record:
        return {"harness_error": record["harness_error"]}
    if record["valid"]:
        return {"valid": True, "payload": record["payload"], "errors": []}
    return {"valid": False, "errors": sorted(record["errors"])}


@pytest.mark.parametrize("case", GENERATED, ids=lambda case: case["id"])
def test_generated_case_matches_segment(
    case: dict[str, Any], segment: dict[str, dict[str, Any]]
) -> None:
    theirs = segment_outcome(segment[case["id"]])
    assert as_json(outcome(case["fields"], case["payload"])) == as_json(theirs)


def test_generated_cases_cover_both_verdicts_and_conversions() -> None:
    outcomes = [outcome(case["fields"], case["payload"]) for case in GENERATED]
    assert sum(result["valid"] for result in outcomes) >= 40
    assert sum(not result["valid"] for result in outcomes) >= 40
    changed = [
        case
        for case, result in zip(GENERATED, outcomes, strict=True)
        if result["valid"] and as_json(result["payload"]) != as_json(case["payload"])
    ]
    assert len(changed) >= 40


@pytest.mark.parametrize("case", DIVERGENCES, ids=lambda case: case["id"])
def test_divergence_is_still_needed(
    case: dict[str, Any], segment: dict[str, dict[str, Any]]
) -> None:
    theirs = segment_outcome(segment[case["id"]])
    assert "harness_error" not in theirs, "Segment refused the fields: not a divergence"
    assert as_json(theirs) != as_json(case["expected"])
    assert as_json(outcome(case["fields"], case["payload"])) == as_json(case["expected"])
