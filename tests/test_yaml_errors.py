"""A YAML file that does not parse is reported with its line and column, in every form."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.definitions.instance import load_instance
from framework.errors import DefinitionError


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "instance.yaml"
    path.write_text("destination: contentstack\nsettings: {personalizeProjectId: p\n  x: [\n")
    with pytest.raises(DefinitionError) as caught:
        load_instance(path)
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert problem.message.startswith("The file does not parse at line 3, column 4: ")
    assert "at line 3, column 4" in caught.value.message
