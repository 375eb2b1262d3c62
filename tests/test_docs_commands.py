"""Every ``actionkit`` command in a ```sh block of the README, docs/ and the destinations'
pages is one the command line accepts as written: the command exists, and its options and
arguments parse (a synopsis with ``[OPTIONS]`` belongs in a ```text block). The commands of
docs/cli.md also run, in tests/test_cli_docs.py.

Arguments are parsed, not run: a file argument that must exist is checked from the project's
root, where the docs' commands are meant to be typed.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("destinations/*/README.md")),
]
BLOCK = re.compile(r"```sh\n(.*?)```", flags=re.DOTALL)


def _commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line_number = text[: match.start()].count("\n") + 2
            body = match[1].replace("\\\n", " ")  # continued lines are one command
            for offset, line in enumerate(body.splitlines()):
                for part in re.split(r"&&|\|\||;|\|", line):
                    command = re.sub(r"^(\S*/)?(\.venv/bin/)", "", part.strip())
                    if command.startswith("actionkit "):
                        where = f"{page.relative_to(ROOT)}:{line_number + offset}"
                        found.append((where, command))
    return found


COMMANDS = _commands()


def test_the_pages_have_commands() -> None:
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_parses(
    where: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command, comments=True)[1:]
    try:
        _parse(cli, "actionkit", args, None)
    except click.exceptions.Exit:
        pass
    except click.ClickException as exc:
        pytest.fail(f"{where}: `{command}`: {exc.format_message()}", pytrace=False)


def _parse(
    command: click.Command, name: str, args: list[str], parent: click.Context | None
) -> None:
    """Parse ``args`` as ``command`` would, down to the subcommand they name; run nothing."""
    context = command.make_context(name, list(args), parent=parent)
    with context:
        if not isinstance(command, click.Group):
            return
        with warnings.catch_warnings():  # click 8.2 keeps the subcommand in protected_args
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*context.protected_args, *context.args]
        if not rest:
            return
        sub_name, sub, sub_args = command.resolve_command(context, rest)
        assert sub is not None
        _parse(sub, sub_name or "", sub_args, context)
