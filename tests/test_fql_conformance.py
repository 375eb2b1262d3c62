"""Triggers against Segment: every recorded case, with our deliberate divergences.

The records are ../shared/conformance/fql.jsonl (Segment's own packages, recorded) and the
`segment_cases` of tests/data/fql_cases.yaml (our own cases, recorded the same way). For each,
our outcome (parse error or not, Segment AST, match) must equal Segment's, unless the id is
listed in tests/conformance/divergences.yaml, whose `expected` applies instead. The list
must stay exact: an entry that is not needed fails, as does one naming no case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conformance_records import load_divergences, load_records, same_json

from framework.errors import DefinitionError, TriggerSyntaxError
from framework.fql import parse_trigger, trigger_from_segment_ast

ROOT = Path(__file__).resolve().parents[1]
RECORDS = load_records("fql")
RECORDS_BY_ID = {record["id"]: record for record in RECORDS}
DIVERGENCES = load_divergences("fql")
DIVERGENCE_BY_ID = {entry["id"]: entry for entry in DIVERGENCES}

# Segment ASTs that Segment's validate() cannot evaluate meaningfully; the reader refuses
# them, pointing at the culprit: an operator made of a mis-lexed token, an ordering compared
# with a string, and a null child (which makes validate() throw).
REFUSED_SEGMENT_ASTS = {
    "f61": "/children/0/operator",
    "f63": "/children/0/operator",
    "f85": "/children/0",
}
# Read back, these ASTs take our path semantics, not the quirks of Segment's JavaScript lookup
# (the length of an array, a path through 0): see the divergences with the same ids.
PATH_LOOKUP_QUIRKS = {"s-length-key", "s-falsy-intermediate"}


def our_outcome(record: dict[str, Any]) -> dict[str, Any]:
    """What we do with a record, in the shape of its `segment` object."""
    try:
        trigger = parse_trigger(record["expr"])
    except TriggerSyntaxError as error:
        return {"parse_error": error.message, "ast": None, "match": None}
    try:
        ast = trigger.to_segment_ast()
    except DefinitionError:
        ast = None
    return {"parse_error": None, "ast": ast, "match": trigger.matches(record.get("event"))}


def outcomes_agree(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Parse errors compare as null vs non-null; the AST and match exactly."""
    return (
        (ours["parse_error"] is None) == (theirs["parse_error"] is None)
        and same_json(ours["ast"], theirs["ast"])
        and same_json(ours["match"], theirs["match"])
    )


@pytest.mark.parametrize("record", RECORDS, ids=[record["id"] for record in RECORDS])
def test_trigger_outcome_equals_segment_or_listed_divergence(record: dict[str, Any]) -> None:
    divergence = DIVERGENCE_BY_ID.get(record["id"])
    expected = divergence["expected"] if divergence else record["segment"]
    ours = our_outcome(record)
    assert (ours["parse_error"] is None) == (expected["parse_error"] is None), ours["parse_error"]
    assert same_json(ours["ast"], expected["ast"]), ours["ast"]
    assert same_json(ours["match"], expected["match"])


def test_divergence_ids_are_unique_and_entries_complete() -> None:
    ids = [entry["id"] for entry in DIVERGENCES]
    assert len(ids) == len(set(ids))
    for entry in DIVERGENCES:
        assert set(entry) == {"id", "reason", "expected"}, entry["id"]
        assert entry["reason"].strip(), entry["id"]
        assert set(entry["expected"]) == {"parse_error", "ast", "match"}, entry["id"]


@pytest.mark.parametrize("entry", DIVERGENCES, ids=[entry["id"] for entry in DIVERGENCES])
def test_divergence_names_a_case_where_we_differ_from_segment(entry: dict[str, Any]) -> None:
    assert entry["id"] in RECORDS_BY_ID, "no conformance record or segment case has this id"
    record = RECORDS_BY_ID[entry["id"]]
    assert not outcomes_agree(our_outcome(record), record["segment"]), "divergence not needed"


READABLE = [r for r in RECORDS if r["segment"]["ast"] is not None]


@pytest.mark.parametrize("record", READABLE, ids=[record["id"] for record in READABLE])
def test_reading_segment_ast_gives_segment_match(record: dict[str, Any]) -> None:
    segment = record["segment"]
    refused = REFUSED_SEGMENT_ASTS.get(record["id"])
    if refused is not None:
        with pytest.raises(DefinitionError) as caught:
            trigger_from_segment_ast(segment["ast"])
        assert [problem.pointer for problem in caught.value.problems] == [refused]
        return
    trigger = trigger_from_segment_ast(segment["ast"])
    if record["id"] in PATH_LOOKUP_QUIRKS:
        assert (
            trigger.matches(record["event"]) is DIVERGENCE_BY_ID[record["id"]]["expected"]["match"]
        )
    elif segment["match"] is not None:
        assert trigger.matches(record["event"]) is segment["match"]
    # Written back, the structure is Segment's own up to nesting of one-child groups.
    assert trigger_from_segment_ast(trigger.to_segment_ast()) == trigger


EXPRESSIBLE = [r for r in RECORDS if our_outcome(r)["ast"] is not None]


@pytest.mark.parametrize("record", EXPRESSIBLE, ids=[record["id"] for record in EXPRESSIBLE])
def test_our_segment_ast_read_back_matches_like_the_trigger(record: dict[str, Any]) -> None:
    trigger = parse_trigger(record["expr"])
    read_back = trigger_from_segment_ast(trigger.to_segment_ast())
    event = record.get("event")
    assert read_back.matches(event) is trigger.matches(event)
