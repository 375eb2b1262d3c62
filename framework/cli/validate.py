"""``actionkit validate``: check destination definitions, instances, mappings and triggers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from framework.cli._io import EXIT_INVALID_INPUT, emit_json
from framework.definitions.instance import build_instance
from framework.definitions.loader import DEFINITION_FILE, build_destination
from framework.definitions.source import SourceDocument, read_document
from framework.errors import DefinitionError, Problem
from framework.fql import parse_trigger
from framework.mapping import compile_mapping

TRIGGER_SUFFIXES = (".fql", ".trigger")


def _kind(path: Path, document: SourceDocument | None) -> str:
    if path.suffix in TRIGGER_SUFFIXES:
        return "trigger"
    data = document.data if document is not None else None
    if isinstance(data, dict) and "actions" in data:
        return "destination"
    if isinstance(data, dict) and "destination" in data:
        return "instance"
    return "mapping"


def check_path(path: Path) -> tuple[str, list[Problem]]:
    """Check one file (a folder means its destination.yaml); returns its kind and problems."""
    if path.suffix in TRIGGER_SUFFIXES:
        try:
            parse_trigger(path.read_text(encoding="utf-8").strip())
        except DefinitionError as exc:
            return "trigger", exc.problems
        except OSError as exc:
            return "trigger", [Problem("", f"Cannot read the file: {exc.strerror}.", "UNREADABLE")]
        return "trigger", []
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
        else:
            compile_mapping(document.data)
    except DefinitionError as exc:
        return kind, [document.locate(problem) for problem in exc.problems]
    return kind, []


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report for scripts.")
def validate_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check destination definitions, instances, mappings and triggers.

    Each PATH is a destination file or folder (with destination.yaml), an instance file (it has
    a `destination` key), a trigger file (`.fql`), or a mapping (any other JSON/YAML file).
    Every problem is listed with its file, line, JSON pointer and code.

    \b
    Examples:
      actionkit validate destinations/contentstack
      actionkit validate examples/instance.yaml examples/mappings/*.json

    Exit status: 0 when everything is valid, 1 when anything has a problem.
    """
    report: list[dict[str, Any]] = []
    failed = False
    for given in paths:
        path = given / DEFINITION_FILE if given.is_dir() else given
        kind, problems = check_path(path)
        failed = failed or bool(problems)
        report.append(
            {
                "path": str(path),
                "kind": kind,
                "valid": not problems,
                "problems": [
                    {
                        "pointer": problem.pointer,
                        "line": problem.line,
                        "code": problem.code,
                        "message": problem.message,
                    }
                    for problem in problems
                ],
            }
        )
        if as_json:
            continue
        if not problems:
            click.echo(f"ok      {path} ({kind})")
            continue
        click.echo(f"invalid {path} ({kind})", err=True)
        for problem in problems:
            where = f"{path}:{problem.line}" if problem.line is not None else str(path)
            click.echo(
                f"  {where}: {problem.pointer or '/'}: {problem.message} [{problem.code}]",
                err=True,
            )
    if as_json:
        emit_json(report)
    if failed:
        sys.exit(EXIT_INVALID_INPUT)
