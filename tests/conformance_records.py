"""Shared by the conformance tests: the recorded cases, their divergences, JSON equality.

Segment's recorded cases are read from ``../shared/conformance/<kind>.jsonl`` and ours from
``tests/data/<kind>_cases.yaml`` (its ``segment_cases``); the divergences are the ``<kind>``
section of ``tests/conformance/divergences.yaml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DIVERGENCES_FILE = ROOT / "tests" / "conformance" / "divergences.yaml"


def load_records(kind: str) -> list[dict[str, Any]]:
    """Segment's recorded cases of ``kind`` (fql, mapping), then ours, in that order."""
    shared = ROOT.parent / "shared" / "conformance" / f"{kind}.jsonl"
    own = ROOT / "tests" / "data" / f"{kind}_cases.yaml"
    records = [json.loads(line) for line in shared.read_text("utf-8").splitlines() if line.strip()]
    return records + yaml.safe_load(own.read_text("utf-8"))["segment_cases"]


def load_divergences(kind: str) -> list[dict[str, Any]]:
    """The documented divergences of ``kind`` from Segment's packages."""
    divergences: list[dict[str, Any]] = yaml.safe_load(DIVERGENCES_FILE.read_text("utf-8"))[kind]
    return divergences


def same_json(left: Any, right: Any) -> bool:
    """JSON equality as JavaScript sees numbers (1 == 1.0) but where booleans are not numbers.

    Python's ``True == 1`` must not hide a bug.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right
