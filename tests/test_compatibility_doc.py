"""docs/compatibility.md lists exactly the divergences of tests/conformance/divergences.yaml."""

from __future__ import annotations

import re
from pathlib import Path

from conformance_records import load_divergences

ROOT = Path(__file__).resolve().parents[1]


def test_the_compatibility_page_has_one_section_per_divergence_and_no_other() -> None:
    ids = [entry["id"] for kind in ("fql", "mapping") for entry in load_divergences(kind)]
    assert len(ids) == len(set(ids)), "a divergence id is listed twice"
    page = (ROOT / "docs" / "compatibility.md").read_text()
    headings = re.findall(r"^### (\S+)\s*$", page, flags=re.MULTILINE)
    assert sorted(headings) == sorted(ids)


def test_every_divergence_has_a_reason_and_an_expected_value() -> None:
    for kind in ("fql", "mapping"):
        for entry in load_divergences(kind):
            assert entry["reason"].strip(), entry["id"]
            assert isinstance(entry["expected"], dict), entry["id"]
