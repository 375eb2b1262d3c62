"""Every example in docs/triggers.md runs: code blocks, the example table, errors and lint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from framework.errors import TriggerSyntaxError
from framework.fql import parse_trigger

DOC = (Path(__file__).resolve().parents[1] / "docs" / "triggers.md").read_text("utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC, flags=re.MULTILINE | re.DOTALL)


def lines(language: str) -> list[str]:
    return [line for block in blocks(language) for line in block.splitlines() if line.strip()]


TABLE_ROWS = re.findall(r"^\| `(.+?)` \| `(\{.*?\})` \| (true|false) \|$", DOC, flags=re.MULTILINE)


@pytest.mark.parametrize("code", blocks("python"))
def test_python_example_runs(code: str) -> None:
    exec(compile(code, "docs/triggers.md", "exec"), {})


@pytest.mark.parametrize(("expression", "event", "expected"), TABLE_ROWS)
def test_example_table_row_holds(expression: str, event: str, expected: str) -> None:
    assert parse_trigger(expression).matches(json.loads(event)) is (expected == "true")


@pytest.mark.parametrize("expression", lines("fql-error"))
def test_error_example_is_refused(expression: str) -> None:
    with pytest.raises(TriggerSyntaxError):
        parse_trigger(expression)


@pytest.mark.parametrize("expression", lines("fql"))
def test_lint_example_warns(expression: str) -> None:
    assert parse_trigger(expression).lint()


def test_docs_have_examples_of_each_kind() -> None:
    assert len(blocks("python")) >= 3
    assert len(TABLE_ROWS) >= 20
    assert len(lines("fql-error")) >= 10
    assert len(lines("fql")) >= 10
