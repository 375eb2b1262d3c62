"""The hypothesis profiles: CI is derandomized, local runs explore, and no test opts out."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.hypothesis_profiles import CI, DEV, profile_name

ROOT = Path(__file__).resolve().parents[1]


def test_the_ci_profile_is_derandomized_without_a_database_or_deadline() -> None:
    ci = settings.get_profile(CI)
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.deadline is None
    assert ci.print_blob is True
    assert HealthCheck.too_slow in ci.suppress_health_check


def test_the_dev_profile_keeps_exploring() -> None:
    dev = settings.get_profile(DEV)
    assert dev.derandomize is False
    assert dev.database is not None
    assert dev.deadline is None


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"CI": "true"}, CI),
        ({"CI": "1"}, CI),
        ({"CI": "TRUE"}, CI),
        ({}, DEV),
        ({"CI": ""}, DEV),
        ({"CI": "false"}, DEV),
        ({"CI": "0"}, DEV),
    ],
)
def test_the_profile_follows_the_ci_variable(environ: dict[str, str], name: str) -> None:
    assert profile_name(environ) == name


@pytest.mark.parametrize(("ci", "derandomized"), [("true", True), ("", False)])
def test_the_conftest_loads_the_profile_before_test_modules_build_their_settings(
    ci: str, derandomized: bool
) -> None:
    # A fresh interpreter, as pytest starts: import the conftest, then build settings as a
    # test module's decorator does, and read what they inherit.
    code = (
        "import tests.conftest\n"
        "from hypothesis import settings\n"
        "built = settings(max_examples=5)\n"
        "print(built.derandomize, built.database is None)\n"
    )
    environ = {key: value for key, value in os.environ.items() if key != "CI"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, "CI": ci},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.split() == [str(derandomized), str(derandomized)]


def test_no_test_file_overrides_the_profiles_randomness_or_database() -> None:
    # derandomize=True would stop local exploration; False or a database would make CI random.
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in ("tests", "destinations")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "hypothesis_profiles.py"
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Call)
        and _name(node.func) == "settings"
        and any(keyword.arg in ("derandomize", "database") for keyword in node.keywords)
    ]
    assert offenders == []


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""
