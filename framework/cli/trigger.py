"""``actionkit trigger``: parse an FQL expression, lint it, and test it on an event."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text
from rich.tree import Tree

from framework.cli._io import emit_json, fail, read_document
from framework.cli._output import console, json_option
from framework.errors import DefinitionError
from framework.fql import Trigger, parse_trigger
from framework.fql.ast import And, Node, Not, Or
from framework.fql.printer import to_fql


def _branch(parent: Tree, node: Node) -> None:
    """Add ``node`` under ``parent``: groups as branches, conditions as their FQL text."""
    if isinstance(node, And | Or):
        group = parent.add(Text("and (all of)" if isinstance(node, And) else "or (any of)"))
        for operand in node.operands:
            _branch(group, operand)
    elif isinstance(node, Not):
        _branch(parent.add(Text("not")), node.operand)
    else:
        parent.add(Text(to_fql(node)))


def parse_tree(trigger: Trigger) -> Tree:
    """The trigger's parse tree for people: ``and``/``or``/``not`` groups, then conditions."""
    root = Tree(Text("trigger", style="bold"), guide_style="dim")
    _branch(root, trigger.tree)
    return root


def _report(expression: str, trigger: Trigger, event_file: str | None) -> dict[str, Any]:
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
    return report


@click.command("trigger")
@click.argument("expression")
@click.argument("event_file", required=False)
@json_option
def trigger_command(expression: str, event_file: str | None, as_json: bool) -> None:
    """Parse a trigger EXPRESSION, show how it reads, and whether EVENT_FILE matches.

    Shows the canonical expression, its parse tree (`and` binds tighter than `or`), whether
    Segment's condition structure can express it, lint warnings where Segment's own engine
    would read the text differently, and, with an event file (`-` for stdin), whether the
    event matches. With --json: `expression`, `fql`, `segment_ast` (null, with
    `segment_ast_note`, where Segment's structure cannot express it), `lint` and `matches`.

    \b
    Examples:
      actionkit trigger 'properties.total > 100' examples/events/order-completed.json
      echo '{"type": "identify"}' | actionkit trigger 'type = "identify"' - --json

    Exit status: 0 when the expression parses (whether or not the event matches), 1 when it
    does not (the error, with a caret under the column, goes to standard error), 2 when a file
    cannot be read.
    """
    try:
        trigger = parse_trigger(expression)
    except DefinitionError as exc:
        fail(exc, as_json=as_json)
    report = _report(expression, trigger, event_file)
    if as_json:
        emit_json(report)
        return
    out = console()
    out.print(Text.assemble(("Trigger   ", "bold"), report["fql"]))
    out.print(parse_tree(trigger))
    if report["segment_ast"] is not None:
        out.print(Text.assemble(("Segment   ", "bold"), "its condition structure can express it"))
    else:
        note = report["segment_ast_note"]
        out.print(Text.assemble(("Segment   ", "bold"), (f"cannot express it: {note}", "yellow")))
    if not report["lint"]:
        out.print(Text.assemble(("Lint      ", "bold"), "no warnings"))
    for warning in report["lint"]:
        out.print(Text.assemble(("Lint      ", "bold"), ("warning: ", "yellow"), warning))
    if "matches" in report:
        verdict = ("matches", "green") if report["matches"] else ("does not match", "red")
        out.print(Text.assemble(("Event     ", "bold"), verdict, f" ({event_file})"))
