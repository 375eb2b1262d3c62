"""``actionkit try``: what an instance would do with one event, mapping by mapping, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail, read_document
from framework.cli._output import as_said, console, json_option, show_json, status_text
from framework.cli._search import destinations_option
from framework.definitions.instance import Instance, load_instance
from framework.errors import ActionkitError

VERDICTS = {
    "ready": "the trigger matches; this request would be sent",
    "not_subscribed": "the trigger does not match this event",
    "filtered": "the trigger matches, but the event's integrations object turns it off",
    "invalid": "the trigger matches, but the payload is invalid: nothing would be sent",
    "disabled": "the mapping is disabled",
}
"""What each status means, in the report's words."""

DISABLED: dict[str, Any] = {
    "status": "disabled",
    "matched": None,
    "reason": None,
    "payload": None,
    "errors": [],
    "request": None,
    "batch_key": None,
}
"""The report entry of a disabled mapping, but for its names."""


def try_report(instance: Instance, event: Any) -> dict[str, Any]:
    """What ``instance`` would do with ``event``: one entry per mapping, disabled ones too.

    Each entry is :meth:`Planned.to_dict` (passwords masked) plus the mapping's ``trigger``
    expression; a disabled mapping has status ``disabled``. Raises
    :class:`framework.EventError` when the event is not a Segment event.
    """
    plans = {planned.mapping: planned for planned in instance.plan(event)}
    entries = []
    for subscription in instance.subscriptions:
        planned = plans.get(subscription.name)
        if planned is not None:
            entry = planned.to_dict()
        else:
            entry = {
                **DISABLED,
                "instance": instance.name,
                "mapping": subscription.name,
                "action": subscription.action.key,
            }
        entries.append(entry | {"trigger": subscription.trigger.expression})
    return {
        "instance": instance.name,
        "destination": instance.destination.slug,
        "mappings": entries,
    }


def _print_entry(out: Console, entry: dict[str, Any]) -> None:
    status = entry["status"]
    out.print(
        Text.assemble(
            (entry["mapping"], "bold"),
            f" ({entry['action']}): ",
            status_text(status, status.replace("_", " ")),
        )
    )
    verdict = entry["reason"] if status == "filtered" and entry["reason"] else VERDICTS[status]
    out.print(f"  {verdict}.")
    out.print(Text.assemble(("  trigger  ", "bold"), entry["trigger"]))
    if entry["payload"] is not None:
        out.print(Text("  payload", style="bold"))
        show_json(out, entry["payload"], margin=4)
    for error in entry["errors"]:
        out.print(
            Text.assemble(
                ("  error    ", "bold red"),
                f"{error['pointer'] or '/'}: {as_said(error['message'], error['code'])} ",
                (f"[{error['code']}]", "dim"),
            )
        )
    request = entry["request"]
    if request is not None:
        out.print(Text.assemble(("  request  ", "bold"), f"{request['method']} {request['url']}"))
        for name, value in request["headers"].items():
            out.print(f"           {name}: {value}")
        if request["json"] is not None:
            out.print(Text("  body", style="bold"))
            show_json(out, request["json"], margin=4)
    if entry["batch_key"] is not None:
        batch = f"key {entry['batch_key']}: may share one request with other events of that key"
        out.print(Text.assemble(("  batch    ", "bold"), batch))


@click.command("try")
@click.argument("instance_path", metavar="INSTANCE", type=click.Path(path_type=Path))
@click.argument("event_file", metavar="EVENT")
@json_option
@destinations_option
def try_command(instance_path: Path, event_file: str, as_json: bool) -> None:
    """Show what INSTANCE would do with the event in EVENT, mapping by mapping; send nothing.

    For every mapping of the instance: whether its trigger matches (or the event's
    integrations object turns the destination off), the payload its mapping resolves to, the
    payload's validation errors, and the request that would be sent (method, URL, headers,
    body; password settings masked). EVENT is a JSON (or YAML) file, or `-` for stdin.
    With --json: `{instance, destination, mappings: [{mapping, action, status, matched,
    reason, trigger, payload, errors, request, batch_key}]}`; status is ready,
    not_subscribed, filtered, invalid or disabled.

    \b
    Example:
      actionkit try examples/contentstack.yaml examples/events/order-completed.json

    Exit status: 0 when no mapping's payload is invalid, 1 when one is (or the instance or
    the event is invalid), 2 when a file cannot be read.
    """
    event = read_document(event_file, what="event")
    try:
        instance = load_instance(instance_path)
    except ActionkitError as exc:
        fail(exc, source=str(instance_path), as_json=as_json)
    try:
        report = try_report(instance, event)
    except ActionkitError as exc:
        fail(exc, source=event_file, as_json=as_json)
    invalid = sum(entry["status"] == "invalid" for entry in report["mappings"])
    if as_json:
        emit_json(report)
    else:
        out = console()
        count = len(report["mappings"])
        out.print(
            Text.assemble(
                ("Instance ", "bold"),
                f"{report['instance']} ({report['destination']}), {count} mappings",
            )
        )
        for entry in report["mappings"]:
            out.print()
            _print_entry(out, entry)
    if invalid:
        sys.exit(EXIT_INVALID_INPUT)
