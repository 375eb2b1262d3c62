"""``actionkit validate``: check destination definitions, instances, mappings and triggers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from framework.cli._io import EXIT_INVALID_INPUT, emit_json
from framework.cli._output import console, json_option
from framework.cli._search import destinations_option
from framework.definitions.instance import build_instance
from framework.definitions.loader import DEFINITION_FILE, build_destination
from framework.definitions.source import SourceDocument, decode_document, read_document
from framework.definitions.yaml_limits import MAX_BYTES
from framework.errors import DefinitionError, Problem
from framework.fql import parse_trigger
from framework.mapping import compile_mapping
from framework.server.config import load_server_config
from framework.sync.config import load_sync_config
from framework.testing.cases import is_case_file, load_case_file

TRIGGER_SUFFIXES = (".fql", ".trigger")


SYNC_SUFFIXES = (".sync.yaml", ".sync.yml", ".sync.json")


def _kind(path: Path, document: SourceDocument | None) -> str:
    """What a file is, from its name and keys; a file that does not parse is named by its name."""
    if path.suffix in TRIGGER_SUFFIXES:
        return "trigger"
    if is_case_file(path):
        return "test cases"
    if document is None:
        if path.name.endswith(SYNC_SUFFIXES):
            return "sync"
        return "destination" if path.name == DEFINITION_FILE else "file"
    data = document.data
    if isinstance(data, dict) and "actions" in data:
        return "destination"
    if isinstance(data, dict) and ({"source", "primaryKey"} <= data.keys()):
        return "sync"
    if isinstance(data, dict) and ({"instances", "writeKeys"} & data.keys()):
        return "server"
    if isinstance(data, dict) and "destination" in data:
        return "instance"
    return "mapping"


def check_trigger(expression: str) -> list[Problem]:
    """The problems of one trigger expression: none, or its syntax error at its column."""
    try:
        parse_trigger(expression)
    except DefinitionError as exc:
        return exc.problems
    return []


def check_path(path: Path) -> tuple[str, list[Problem]]:
    """Check one file (a folder means its destination.yaml); returns its kind and problems.

    The kind is ``trigger`` for a ``.fql`` file, ``test cases`` for a destination's
    ``tests/*.yaml``, ``destination`` (the document has ``actions``), ``sync`` (it has
    ``source`` and ``primaryKey``), ``server`` (``instances`` or ``writeKeys``), ``instance``
    (it has ``destination``), and ``mapping`` for any other JSON or YAML document; a file that
    does not parse is named by its name (``*.sync.yaml``, ``destination.yaml``) or ``file``.
    """
    if path.suffix in TRIGGER_SUFFIXES:
        try:
            with path.open("rb") as stream:
                raw = stream.read(MAX_BYTES + 1)
            text = decode_document(raw, str(path))
        except OSError as exc:
            return "trigger", [Problem("", f"Cannot read the file: {exc.strerror}.", "UNREADABLE")]
        except DefinitionError as exc:
            return "trigger", exc.problems
        return "trigger", check_trigger(text.strip())
    if is_case_file(path):
        try:
            load_case_file(path)
        except DefinitionError as exc:
            return "test cases", exc.problems
        return "test cases", []
    try:
        document = read_document(path)
    except DefinitionError as exc:
        return _kind(path, None), exc.problems
    kind = _kind(path, document)
    try:
        if kind == "destination":
            build_destination(document, path)
        elif kind == "instance":
            build_instance(document, path.parent)
        elif kind == "sync":
            load_sync_config(path)
        elif kind == "server":
            load_server_config(path)
        else:
            compile_mapping(document.data)
    except DefinitionError as exc:
        located = [
            problem if problem.line is not None else document.locate(problem)
            for problem in exc.problems
        ]
        return kind, located
    return kind, []


def _entry(source: dict[str, str | None], kind: str, problems: list[Problem]) -> dict[str, Any]:
    return {
        **source,
        "kind": kind,
        "valid": not problems,
        "problems": [problem.to_dict(line=True) for problem in problems],
    }


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    metavar="EXPR",
    help="Also check this trigger expression (repeatable).",
)
@json_option
@destinations_option
def validate_command(paths: tuple[Path, ...], triggers: tuple[str, ...], as_json: bool) -> None:
    """Check destination definitions, instances, mappings, test cases and triggers.

    Each PATH is a destination file or folder (with destination.yaml), an instance file (it has
    a `destination` key), a sync file (`source` and `primaryKey`), a server configuration
    (`instances`, `writeKeys`), a destination's test-case file (`<destination>/tests/*.yaml`),
    a trigger file (`.fql`), or a mapping (any other JSON/YAML file); --trigger checks an
    expression given inline. Every problem is listed with its file, line, JSON pointer and code
    (on standard error). With --json: a list of `{path, kind, valid, problems: [{pointer,
    line, code, message}]}`, one per PATH and expression.

    \b
    Examples:
      actionkit validate destinations/contentstack examples/contentstack.yaml
      actionkit validate examples/mappings/order-completed.json --trigger 'type = "track"'
      actionkit validate examples/sync/users.sync.yaml examples/server.yaml

    Exit status: 0 when everything is valid, 1 when anything has a problem, 2 when nothing
    was given to check.
    """
    if not paths and not triggers:
        raise click.UsageError("Give at least one PATH or --trigger EXPR to check.")
    # (label for people, where it came from for JSON, kind, problems)
    checked: list[tuple[str, dict[str, str | None], str, list[Problem]]] = []
    for given in paths:
        path = given / DEFINITION_FILE if given.is_dir() else given
        kind, problems = check_path(path)
        checked.append((str(path), {"path": str(path)}, kind, problems))
    for expression in triggers:
        origin: dict[str, str | None] = {"path": None, "expression": expression}
        checked.append((f"--trigger {expression!r}", origin, "trigger", check_trigger(expression)))
    failed = any(problems for *_, problems in checked)
    if as_json:
        emit_json([_entry(origin, kind, problems) for _, origin, kind, problems in checked])
    else:
        out, err = console(), console(stderr=True)
        for label, _, kind, problems in checked:
            if not problems:
                out.print(Text.assemble(("ok     ", "green"), f" {label} ({kind})"))
                continue
            err.print(Text.assemble(("invalid", "bold red"), f" {label} ({kind})"))
            for problem in problems:
                where = f"{label}:{problem.line}" if problem.line is not None else label
                err.print(
                    Text.assemble(
                        f"  {where}: {problem.pointer or '/'}: {problem.message} ",
                        (f"[{problem.code}]", "dim"),
                    )
                )
    if failed:
        sys.exit(EXIT_INVALID_INPUT)
