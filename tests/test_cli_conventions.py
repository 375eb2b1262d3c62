"""Conventions every ``actionkit`` command keeps: examples in --help, --json, plain off a tty."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]

NO_JSON = {
    "serve": "a server in the foreground: its only output is its URL, on the first line",
    "debugger": "a web app in the foreground: its only output is its URL",
}
"""Commands that print results but take no --json, and why."""


def _walk(
    command: click.Command, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(cli, ()))
IDS = [" ".join(path) or "actionkit" for path, _ in COMMANDS]


def test_the_walk_finds_every_command_group_and_subcommand() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    expected = {"trigger", "map", "try", "validate", "run", "emulate", "destinations list"}
    assert expected | {"destinations show", "dlq list", "dlq show", "dlq replay"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_has_an_example_section(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    heading = next(
        (n for n, line in enumerate(lines) if line.strip() in {"Example:", "Examples:"}), None
    )
    assert heading is not None, f"`actionkit {' '.join(path)} --help` has no Example(s) section"
    example = lines[heading + 1].strip()
    assert "actionkit " in example, "the example's lines keep their breaks (\\b)"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_that_prints_results_takes_json(
    path: tuple[str, ...], command: click.Command
) -> None:
    if isinstance(command, click.Group) or (path and path[-1] in NO_JSON):
        return
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--json" in options, f"`actionkit {' '.join(path)}` has no --json"


@pytest.mark.parametrize(
    "args",
    [
        ["destinations", "show", "contentstack"],
        ["try", "examples/contentstack.yaml", "examples/events/order-completed.json"],
        ["trigger", 'type = "track"', "examples/events/order-completed.json"],
        ["map", "examples/mappings/order-completed.json", "examples/events/order-completed.json"],
    ],
    ids=lambda args: args[0],
)
def test_output_is_plain_text_when_not_a_terminal(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, args, env={"TERM": "xterm-256color", "COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    assert "───" not in result.output  # tables off a terminal use plain dashes
    # Off a terminal nothing wraps, whatever the width the environment claims.
    assert max(len(line) for line in result.stdout.splitlines()) > 40


def test_emulate_json_prints_the_url_document_first() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "emulate", "contentstack", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert list(first) == ["url"]
        response = httpx.get(f"{first['url']}/_emulator/state", timeout=5)
        assert response.status_code == 200
        process.terminate()
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stdout == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
