"""``actionkit trigger``: parse an FQL expression, lint it, and test it on an event."""

from __future__ import annotations

from typing import Any

import click

from framework.cli._io import emit_json, fail, read_document
from framework.errors import DefinitionError
from framework.fql import parse_trigger


@click.command("trigger")
@click.argument("expression")
@click.argument("event_file", required=False)
def trigger_command(expression: str, event_file: str | None) -> None:
    """Parse a trigger EXPRESSION, show how it reads, and whether EVENT_FILE matches.

    Prints a JSON object: the canonical expression (`fql`), Segment's condition structure
    (`segment_ast`, null where Segment's structure cannot express it), `lint` warnings where
    Segment's own engine would read the expression differently, and, with an event file
    (`-` for stdin), `matches`.

    \b
    Examples:
      actionkit trigger 'type = "track" and properties.total > 100' event.json
      echo '{"type": "identify"}' | actionkit trigger 'type = "identify"' -

    Exit status: 0 when the expression parses (whether or not the event matches), 1 when it
    does not (the error, with a caret under the column, goes to standard error), 2 when a file
    cannot be read.
    """
    try:
        trigger = parse_trigger(expression)
    except DefinitionError as exc:
        fail(exc)
    report: dict[str, Any] = {"expression": expression, "fql": trigger.to_fql()}
    try:
        report["segment_ast"] = trigger.to_segment_ast()
    except DefinitionError as exc:
        report["segment_ast"] = None
        report["segment_ast_note"] = exc.message
    report["lint"] = trigger.lint()
    if event_file is not None:
        event = read_document(event_file, what="event")
        report["matches"] = trigger.matches(event)
    emit_json(report)
