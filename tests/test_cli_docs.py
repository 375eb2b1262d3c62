"""Every ``actionkit`` command in docs/cli.md runs as documented, with the exit status shown.

Each line of a ```sh block is run through click's CliRunner from a working folder that looks
like the project root (``examples``, ``destinations`` and ``tests`` linked in) and holds a
dead-letter store with one letter, so ``dlq`` commands have something to show. A line ending in
``# exit N`` must exit N; others must exit 0. A ```text block after a ```sh block shows the
output of that block's first command: each of its lines (``...`` stands for lines left out)
must appear in the output, in order.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from framework.cli.main import cli
from framework.delivery.deadletter import DeadLetter, DeadLetterStore

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
BLOCK = re.compile(r"```(sh|text)\n(.*?)```", flags=re.DOTALL)

NOT_RUN = {
    ("emulate",): "serves until stopped; tests/test_cli_conventions.py runs it in a process",
    ("serve",): "serves until stopped; tests/test_serve_cli.py runs it in a process",
    ("dlq", "replay"): "would send the letter to the real Personalize API",
    ("worker",): "serves until stopped; tests/test_workers.py runs it in a process",
    ("debugger",): "serves until stopped; tests/test_debugger.py runs it in a process",
    ("check",): "needs a Management API token; tests/test_check.py runs it on an emulator",
}
"""Documented commands the tests do not run here, and why."""


def _blocks() -> list[tuple[list[str], str | None]]:
    """The sh blocks in order: their command lines, and the text block that follows, if any."""
    blocks: list[tuple[list[str], str | None]] = []
    for kind, body in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        if kind == "sh":
            blocks.append(([line.strip() for line in body.splitlines() if line.strip()], None))
        elif blocks and blocks[-1][1] is None:
            blocks[-1] = (blocks[-1][0], body)
    return blocks


BLOCKS = _blocks()
ALL_LINES = [
    (line, text if number == 0 else None)
    for lines, text in BLOCKS
    for number, line in enumerate(lines)
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    for name in ("examples", "destinations", "tests"):
        (folder / name).symlink_to(ROOT / name)
    (folder / ".actionkit").mkdir()
    with DeadLetterStore(folder / ".actionkit" / "dead-letters.sqlite") as store:
        store.add(
            DeadLetter(
                instance="personalize-example",
                mapping="Events",
                action="eventsSync",
                event={"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m1"},
                error_code="INTEGRATION_ERROR",
                error_message="The API refused the request (400).",
                attempts=1,
                status=400,
            )
        )
    return folder


def _parse(line: str) -> tuple[list[str], str | None, int]:
    """The arguments after ``actionkit``, standard input, and the expected exit status."""
    expected = 0
    marker = re.search(r"#\s*exit (\d+)\s*$", line)
    if marker:
        expected = int(marker.group(1))
        line = line[: marker.start()]
    stdin = None
    if "|" in line:
        producer, line = (part.strip() for part in line.split("|", 1))
        words = shlex.split(producer)
        assert words[0] == "echo", f"only `echo '...' | actionkit ...` is supported: {producer}"
        stdin = " ".join(words[1:])
    words = shlex.split(line)
    assert words[0] == "actionkit", f"a documented command must start with actionkit: {line}"
    return words[1:], stdin, expected


def _not_run(line: str) -> str | None:
    args = _parse(line)[0]
    for prefix, reason in NOT_RUN.items():
        if tuple(args[: len(prefix)]) == prefix:
            return reason
    return None


LINES = [(line, shown) for line, shown in ALL_LINES if _not_run(line) is None]
LEFT_OUT = [line for line, _ in ALL_LINES if _not_run(line) is not None]


def test_the_page_documents_every_top_level_command() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"`actionkit {name}" in text, f"docs/cli.md does not mention actionkit {name}"


def test_the_page_has_commands_to_run() -> None:
    assert len(LINES) >= 15


@pytest.mark.parametrize("line", LEFT_OUT)
def test_documented_commands_run_elsewhere_exist_with_these_options(line: str) -> None:
    # Servers and a replay to the real API are run by their own tests (see NOT_RUN); here the
    # documented line must at least name a real command and only options it has.
    args = _parse(line)[0]
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    assert not isinstance(command, click.Group), f"{line!r} names no command"
    known = {opt for param in command.params for opt in param.opts}
    given = {word.split("=")[0] for word in rest if word.startswith("--")}
    assert given <= known, f"{line!r} uses unknown options {sorted(given - known)}"


@pytest.mark.parametrize(("line", "shown"), LINES, ids=[line for line, _ in LINES])
def test_documented_command_runs(
    line: str, shown: str | None, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, stdin, expected = _parse(line)
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(cli, args, input=stdin)
    assert result.exit_code == expected, result.output
    if shown is None:
        return
    output = result.stdout.splitlines()
    position = 0
    for wanted in shown.splitlines():
        if wanted == "...":
            continue
        assert wanted in output[position:], f"{wanted!r} is not in the output, in order"
        position = output.index(wanted, position) + 1
