"""``actionkit map``: resolve a mapping-kit mapping against an event."""

from __future__ import annotations

import click

from framework.cli._io import emit_json, fail, read_document
from framework.cli._output import console, json_option, show_json
from framework.errors import ActionkitError
from framework.mapping import compile_mapping


@click.command("map")
@click.argument("mapping_file")
@click.argument("event_file")
@json_option
def map_command(mapping_file: str, event_file: str, as_json: bool) -> None:
    """Resolve the mapping in MAPPING_FILE against the event in EVENT_FILE.

    Both files are JSON (or YAML, by extension); `-` reads one of them from stdin. Prints the
    resolved payload (syntax-coloured on a terminal); keys whose value resolves to nothing
    are left out, as Segment leaves them out. Every problem of an invalid mapping is listed
    with its JSON pointer. With --json: the payload itself, or `{"error": ...}`.

    \b
    Example:
      actionkit map examples/mappings/order-completed.json examples/events/order-completed.json

    Exit status: 0 on success, 1 when the mapping or the event is invalid, 2 when a file
    cannot be read.
    """
    mapping_doc = read_document(mapping_file, what="mapping")
    event = read_document(event_file, what="event")
    try:
        mapping = compile_mapping(mapping_doc)
    except ActionkitError as exc:
        fail(exc, source=mapping_file, as_json=as_json)
    try:
        payload = mapping.resolve(event)
    except ActionkitError as exc:
        fail(exc, source=event_file, as_json=as_json)
    if as_json:
        emit_json(payload)
    else:
        show_json(console(), payload)
