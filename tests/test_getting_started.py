"""docs/getting-started.md shows the example destination and its cases as they are: no elided
action, nothing a reader copying the page would find missing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from framework import load_destination

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "examples" / "destinations" / "acme-crm"
BLOCKS = re.findall(r"```yaml\n(.*?)```", PAGE, flags=re.DOTALL)


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(item) for item in value]
    return value


def test_the_page_s_destination_loads_and_is_the_example_s(tmp_path: Path) -> None:
    block = BLOCKS[0]
    assert "..." not in block
    path = tmp_path / "destination.yaml"
    path.write_text(block)
    shown = load_destination(path)
    real = load_destination(EXAMPLE / "destination.yaml")
    assert _without_descriptions(shown.definition.model_dump(mode="json")) == (
        _without_descriptions(real.definition.model_dump(mode="json"))
    )


def test_the_page_s_cases_are_cases_of_the_example_file() -> None:
    shown = yaml.safe_load(BLOCKS[1])
    real = yaml.safe_load((EXAMPLE / "tests" / "track-activity.yaml").read_text())
    assert shown["settings"] == real["settings"]
    for case in shown["cases"]:
        assert case in real["cases"], case["name"]
