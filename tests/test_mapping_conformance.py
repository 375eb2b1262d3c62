"""Mappings against Segment: every recorded case, with our deliberate divergences.

The records are ../shared/conformance/mapping.jsonl (Segment's own packages, recorded) and the
`segment_cases` of tests/data/mapping_cases.yaml (our own cases, recorded the same way). For
each, our outcome must equal Segment's `transform` outcome (the output, or an error), unless
the id is listed in tests/conformance/divergences.yaml, whose `expected` applies
instead. An error may be ours at compile time where Segment's comes at transform time; where
Segment's message names a JSON pointer, one of our problems must be at that pointer. The list
of divergences must stay exact: an entry that is not needed fails, as does one naming no case.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conformance_records import load_divergences, load_records, same_json

from framework.errors import EventError, MappingError
from framework.mapping import compile_mapping

ROOT = Path(__file__).resolve().parents[1]
RECORDS = load_records("mapping")
RECORDS_BY_ID = {record["id"]: record for record in RECORDS}
DIVERGENCES = load_divergences("mapping")
DIVERGENCE_BY_ID = {entry["id"]: entry for entry in DIVERGENCES}
SEGMENT_KEYS = {"error", "output", "validate_error", "validate_errors"}


def unescape(pointer: str) -> str:
    """Our RFC 6901 pointer as Segment writes one (no escaping)."""
    return pointer.replace("~1", "/").replace("~0", "~")


def our_outcome(record: dict[str, Any]) -> dict[str, Any]:
    """What we do with a record: ``{"output": ...}`` or ``{"error": ..., "pointers": [...]}``."""
    try:
        mapping = compile_mapping(record["mapping"])
    except MappingError as error:
        return {"error": str(error), "pointers": [unescape(p.pointer) for p in error.problems]}
    try:
        output = mapping.resolve(record["event"]) if "event" in record else mapping.resolve()
    except EventError as error:
        return {"error": error.message, "pointers": [error.pointer]}
    return {"output": output}


def segment_pointer(message: str) -> str | None:
    """The pointer a Segment validator message starts with (``/a/@path should ...``), if any."""
    match = re.match(r"(/\S*) ", message)
    if match is None:
        return None
    return "" if match.group(1) == "/" else match.group(1)


def agrees(ours: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Both fail (at the pointer Segment names, if it names one), or both give equal output."""
    if expected["error"] is not None:
        if "error" not in ours:
            return False
        pointer = segment_pointer(expected["error"])
        return pointer is None or pointer in ours["pointers"]
    return "output" in ours and same_json(ours["output"], expected["output"])


@pytest.mark.parametrize("record", RECORDS, ids=[record["id"] for record in RECORDS])
def test_mapping_outcome_equals_segment_or_listed_divergence(record: dict[str, Any]) -> None:
    divergence = DIVERGENCE_BY_ID.get(record["id"])
    expected = divergence["expected"] if divergence else record["segment"]
    ours = our_outcome(record)
    assert agrees(ours, expected), ours


def test_record_ids_are_unique() -> None:
    ids = [record["id"] for record in RECORDS]
    assert len(ids) == len(set(ids))


def test_divergence_ids_are_unique_and_entries_complete() -> None:
    ids = [entry["id"] for entry in DIVERGENCES]
    assert len(ids) == len(set(ids))
    for entry in DIVERGENCES:
        assert set(entry) == {"id", "reason", "expected"}, entry["id"]
        assert entry["reason"].strip(), entry["id"]
        assert set(entry["expected"]) == SEGMENT_KEYS, entry["id"]


@pytest.mark.parametrize("entry", DIVERGENCES, ids=[entry["id"] for entry in DIVERGENCES])
def test_divergence_names_a_case_where_we_differ_from_segment(entry: dict[str, Any]) -> None:
    assert entry["id"] in RECORDS_BY_ID, "no conformance record or segment case has this id"
    record = RECORDS_BY_ID[entry["id"]]
    assert not agrees(our_outcome(record), record["segment"]), "divergence not needed"


def test_same_json_treats_numbers_as_javascript_does_but_not_booleans() -> None:
    assert same_json({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same_json(True, 1)
    assert not same_json([0], [False])
    assert not same_json({"a": 1}, {"a": 1, "b": None})
