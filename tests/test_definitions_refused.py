"""Destination definitions that must never load, each with the problems a user would see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from framework import DefinitionError, load_destination
from framework.cli.main import cli

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "refused_definitions.yaml").read_text()
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken" / "destination.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_refused_definition_reports_every_problem(case: dict[str, Any], tmp_path: Path) -> None:
    path = _write(tmp_path, case["definition"])
    with pytest.raises(DefinitionError) as caught:
        load_destination(path)
    error = caught.value
    assert error.source == str(path)
    found = [(p.pointer, p.code, p.line, p.message) for p in error.problems]
    for expected in case["problems"]:
        matches = [
            problem
            for problem in found
            if problem[0] == expected["pointer"]
            and (
                problem[1] == expected["code"]
                if "code" in expected
                else problem[1].startswith(expected["code_prefix"])
            )
            and ("line" not in expected or problem[2] == expected["line"])
            and expected.get("contains", "") in problem[3]
        ]
        assert matches, f"expected {expected} among {found}"


def test_validate_command_prints_file_line_and_pointer(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["name"] == "default trigger that does not parse")
    path = _write(tmp_path, case["definition"])
    result = CliRunner().invoke(cli, ["validate", str(path.parent)])
    assert result.exit_code == 1
    assert f"{path}:7: /actions/a/defaultTrigger:" in result.stderr
    assert "[TRIGGER_SYNTAX]" in result.stderr


def test_validate_command_accepts_the_bundled_destination_and_instance() -> None:
    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            str(root / "destinations" / "contentstack"),
            str(root / "tests" / "fixtures" / "instances" / "contentstack.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "(destination)" in result.output
    assert "(instance)" in result.output
