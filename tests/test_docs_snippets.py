"""Every YAML and JSON block of the README, docs/ and the destinations' pages parses, none
elides a part with ``...``, and each whole document in them loads with the real loader of its
kind: a destination, an instance, test cases, a sync file or a server configuration.

Blocks that are fragments (a few keys of a larger file) are only parsed here; the Python
blocks run in tests/test_docs_examples.py, the commands of docs/cli.md in
tests/test_cli_docs.py, docs/destinations.md's whole examples in tests/test_destinations_doc.py
and docs/mapping.md's in tests/test_mapping_cases.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework import load_destination, load_instance
from framework.definitions.resources import searching
from framework.server.config import load_server_config
from framework.sync.config import load_sync_config
from framework.testing.cases import load_case_file

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("destinations/*/README.md")),
]
BLOCK = re.compile(r"```(yaml|json)\n(.*?)```", flags=re.DOTALL)


def _blocks() -> list[tuple[str, str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match[1], match[2]))
    return found


BLOCKS = _blocks()

CASES_OF = {"getting-started.md": str(ROOT / "examples" / "destinations" / "acme-crm")}
"""The destination whose cases a page shows, when it is not the bundled Contentstack one."""


def _parse(kind: str, body: str) -> Any:
    return yaml.safe_load(body) if kind == "yaml" else json.loads(body)


def _elided(value: Any) -> bool:
    if isinstance(value, dict):
        return any(key == "..." or _elided(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_elided(item) for item in value)
    return value == "..." or value is Ellipsis


def _kind(data: Any) -> str | None:
    if isinstance(data, list) and data and all(isinstance(c, dict) and "name" in c for c in data):
        return "cases" if all("expected" in c or "event" in c for c in data) else None
    if not isinstance(data, dict):
        return None
    keys = set(data)
    if {"name", "slug", "settings", "actions"} <= keys:
        return "destination"
    if {"destination", "mappings"} <= keys:
        return "instance"
    if "cases" in keys:
        return "cases"
    if {"source", "primaryKey"} <= keys:
        return "sync"
    if {"instances", "writeKeys"} <= keys:
        return "server"
    return None


def test_the_pages_have_blocks_of_every_kind() -> None:
    kinds = {_kind(_parse(kind, body)) for _, kind, body in BLOCKS}
    assert {"destination", "instance", "cases", "sync", "server"} <= kinds


@pytest.mark.parametrize(("where", "kind", "body"), BLOCKS, ids=[w for w, _, _ in BLOCKS])
def test_a_block_parses_and_elides_nothing(where: str, kind: str, body: str) -> None:
    data = _parse(kind, body)
    assert not _elided(data), f"{where}: a part is elided with '...'; show it whole"


WHOLE = [(w, k, b) for w, k, b in BLOCKS if _kind(_parse(k, b)) is not None]


@pytest.mark.parametrize(("where", "kind", "body"), WHOLE, ids=[w for w, _, _ in WHOLE])
def test_a_whole_document_loads(
    where: str, kind: str, body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _parse(kind, body)
    what = _kind(data)
    page = ROOT / where.split(":")[0]
    # The page's own destinations are found by slug, as a reader's would be in their project.
    folders = []
    for number, (other, other_kind, other_body) in enumerate(BLOCKS):
        other_data = _parse(other_kind, other_body)
        if other.startswith(where.split(":")[0] + ":") and _kind(other_data) == "destination":
            folder = tmp_path / f"page-destinations-{number}"
            (folder / other_data["slug"]).mkdir(parents=True)
            (folder / other_data["slug"] / "destination.yaml").write_text(other_body)
            folders.append(folder)
    path = tmp_path / f"document.{kind}"
    path.write_text(body)
    monkeypatch.chdir(page.parent)
    with searching(folders):
        if what == "destination":
            (tmp_path / "d").mkdir()
            target = tmp_path / "d" / "destination.yaml"
            target.write_text(body)
            load_destination(target)
        elif what == "instance":
            load_instance(data if "/" not in data["destination"] else path)
        elif what == "cases":
            # A page shows cases of one destination, or a few cases of a longer file.
            cases = data if isinstance(data, dict) else {"cases": data}
            case_file = tmp_path / "cases.yaml"
            case_file.write_text(
                yaml.safe_dump({"destination": CASES_OF.get(page.name, "contentstack"), **cases})
            )
            load_case_file(case_file)
        elif what == "sync":
            load_sync_config(data, base_dir=ROOT / "examples" / "sync")
        else:
            load_server_config(data, base_dir=ROOT / "examples")
