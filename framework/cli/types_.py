"""``actionkit types SLUG``: typed Python models of a destination's settings and payloads."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._output import json_option
from framework.cli._search import destinations_option
from framework.definitions.loader import load_destination
from framework.definitions.typed_models import render_types
from framework.errors import DefinitionError


@click.command("types")
@click.argument("destination")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the module to this file (default: standard output).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1, showing the difference, if --output is not current.",
)
@json_option
@destinations_option
def types_command(destination: str, output: Path | None, check: bool, as_json: bool) -> None:
    """Write TypedDict models of a destination's settings and of each action's payload.

    For code that embeds the engine, like Segment's `generate:types`: DESTINATION is a slug
    or a definition file. With --check, CI can tell when the models are stale.

    \b
    Examples:
      actionkit types contentstack
      actionkit types contentstack --output app/contentstack_types.py
      actionkit types contentstack --output app/contentstack_types.py --check

    Exit status: 0 when written (or current), 1 when the definition is invalid or --check
    finds the file stale, 2 on a usage error.
    """
    if check and output is None:
        raise click.UsageError("--check compares with a file: give it with --output.")
    try:
        source = render_types(load_destination(destination))
    except DefinitionError as exc:
        fail(exc, source=destination, as_json=as_json)
    if output is None:
        if as_json:
            emit_json({"module": source})
        else:
            click.echo(source, nl=False)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != source:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                source.splitlines(keepends=True),
                fromfile=str(output),
                tofile=f"actionkit types {destination}",
            )
            sys.stderr.writelines(diff)
            click.echo(
                f"{output} is not current: run `actionkit types {destination} --output {output}`.",
                err=True,
            )
            if as_json:
                emit_json({"path": str(output), "current": False})
            sys.exit(EXIT_INVALID_INPUT)
        if as_json:
            emit_json({"path": str(output), "current": True})
        else:
            click.echo(f"{output} is current.")
        return
    try:
        output.write_text(source, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(str(output), hint=exc.strerror or str(exc)) from exc
    if as_json:
        emit_json({"path": str(output), "written": True})
    else:
        click.echo(f"Wrote {output}.")
