"""``actionkit destinations list|show``: the destinations installed, and what one of them does."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, error_document, fail
from framework.cli._output import compact, console, json_option, print_table, table
from framework.cli._search import destinations_option
from framework.definitions.destination import Destination
from framework.definitions.loader import duplicate_destination_error, load_destination
from framework.definitions.models import FieldDefinition
from framework.definitions.resources import FoundDestination, all_destinations
from framework.errors import DefinitionError


def destination_files() -> list[Path]:
    """Every ``<slug>/destination.yaml`` a slug loads, in search order (bundled ones last).

    A slug found in two folders is listed once: the first, which is the one a slug loads.
    """
    return [found.path for found in all_destinations()]


_ORDER = ("slug", "name", "path", "actions", "presets", "shadows")


def _entry(found: FoundDestination) -> dict[str, Any]:
    entry: dict[str, Any] = {"slug": found.slug, "path": str(found.path)}
    if found.shadows is not None:
        entry["shadows"] = str(found.shadows)
    if found.duplicate is not None:
        entry["error"] = error_document(duplicate_destination_error(found))
        return entry
    try:
        destination = load_destination(found.path)
    except DefinitionError as exc:
        entry["error"] = error_document(exc)
        return entry
    entry.update(
        slug=destination.slug,
        name=destination.name,
        actions=list(destination.actions),
        presets=list(destination.presets),
    )
    return {key: entry[key] for key in _ORDER if key in entry}


def describe(destination: Destination) -> dict[str, Any]:
    """The definition as JSON (camelCase keys, as in the file), with the file it came from."""
    data = destination.definition.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude={"schema_"}
    )
    return {"path": str(destination.path), **data}


@click.group("destinations")
def destinations_group() -> None:
    """List the destinations actionkit knows, and show what one of them does.

    Destinations are the `<slug>/destination.yaml` files of these folders, searched in this
    order: each --destinations DIR, the folders of ACTIONKIT_DESTINATIONS, ./destinations, and
    the bundled destinations. A slug two of the first three define is an error; one of them
    may shadow a bundled slug (`list` says so).

    \b
    Examples:
      actionkit destinations list
      actionkit destinations show contentstack
    """


@destinations_group.command("list")
@destinations_option
@json_option
def destinations_list(as_json: bool) -> None:
    """List every destination: slug, name, actions and presets.

    With --json: a list of `{slug, name, path, actions, presets}` (actions and presets are
    lists of keys); a definition that does not load, or a slug two of your folders define,
    has `error` instead; a definition of yours that hides a bundled one has `shadows` (the
    bundled file), also noted under the table.

    \b
    Example:
      actionkit destinations list --json

    Exit status: 0 when every definition loads, 1 when one does not or a slug is defined
    twice (the problems are shown).
    """
    entries = [_entry(found) for found in all_destinations()]
    broken = [entry for entry in entries if "error" in entry]
    if as_json:
        emit_json(entries)
    else:
        out = console()
        grid = table(
            out, "slug", "name", "actions", "presets", "path", right=("actions", "presets")
        )
        for entry in entries:
            if "error" in entry:
                grid.add_row(
                    entry["slug"], Text("invalid", style="bold red"), "", "", entry["path"]
                )
            else:
                grid.add_row(
                    entry["slug"],
                    entry["name"],
                    str(len(entry["actions"])),
                    str(len(entry["presets"])),
                    entry["path"],
                )
        print_table(out, grid)
        for entry in entries:
            if "shadows" in entry:
                click.echo(
                    f"{entry['slug']}: {entry['path']} is used instead of the bundled "
                    f"{entry['shadows']}."
                )
        for entry in broken:
            click.echo(f"{entry['path']}: {entry['error']['message']}", err=True)
            for problem in entry["error"]["problems"]:
                click.echo(f"  {problem['pointer'] or '/'}: {problem['message']}", err=True)
    if broken:
        sys.exit(EXIT_INVALID_INPUT)


def _type(spec: FieldDefinition) -> str:
    kind = f"{spec.type}[]" if spec.multiple else spec.type
    if spec.choices:
        kind += " (" + " | ".join(str(choice.value) for choice in spec.choices) + ")"
    return kind


def _fields(
    out: Console, fields: dict[str, FieldDefinition], default_header: str, *, margin: int = 0
) -> None:
    grid = table(out, "name", "type", "required", default_header, "description")
    for name, spec in fields.items():
        default = compact(spec.default) if spec.has_default() else ""
        about = spec.description or spec.label
        grid.add_row(name, _type(spec), "yes" if spec.required else "", default, about)
    print_table(out, grid, margin=margin)


def _show(out: Console, destination: Destination) -> None:
    definition = destination.definition
    out.print(Text.assemble((definition.name, "bold"), f" ({definition.slug})"))
    if definition.description:
        out.print(definition.description)
    out.print(Text.assemble(("file        ", "bold"), str(destination.path)))
    out.print(Text.assemble(("answers to  ", "bold"), ", ".join(destination.integration_names)))
    out.print()
    out.print(Text("Settings", style="bold underline"))
    _fields(out, definition.settings, "default")
    for key, action in definition.actions.items():
        out.print()
        out.print(Text.assemble(("Action ", "bold underline"), (f"{key}: {action.title}", "bold")))
        if action.description:
            out.print(f"  {action.description}")
        request = action.request
        out.print(Text.assemble(("  trigger   ", "bold"), action.default_trigger))
        out.print(Text.assemble(("  request   ", "bold"), f"{request.method} {request.url}"))
        for name, value in request.headers.items():
            out.print(f"            {name}: {value}")
        if request.headers_from is not None:
            out.print(f"            (more headers from {request.headers_from})")
        if request.sign is not None:
            sign = request.sign
            out.print(
                Text.assemble(
                    ("  signed    ", "bold"),
                    f"{sign.header}: HMAC-{sign.algorithm.upper()} of the body, key {sign.secret}",
                )
            )
        if request.body is not None:
            out.print(Text.assemble(("  body      ", "bold"), compact(request.body)))
        if action.batch is not None:
            batch = action.batch
            how = "concatenated" if batch.combine == "concat" else "merged"
            where = f" at {batch.path}" if batch.path else ""
            fewer = f" (fewer if {batch.max_count_from} says)" if batch.max_count_from else ""
            out.print(
                Text.assemble(
                    ("  batch     ", "bold"),
                    f"by {batch.key}, up to {batch.max_count} events{fewer}, bodies {how}{where}",
                )
            )
        out.print(Text("  fields", style="bold"))
        _fields(out, action.fields, "default mapping", margin=4)
    if definition.presets:
        out.print()
        out.print(Text("Presets", style="bold underline"))
        grid = table(out, "slug", "name", "action", "trigger", "mapping", "enabled")
        for slug, preset in definition.presets.items():
            grid.add_row(
                slug,
                preset.name,
                preset.action,
                preset.trigger or "(the action's)",
                compact(preset.mapping) if preset.mapping else "(the action's)",
                "yes" if preset.enabled else "no",
            )
        print_table(out, grid)


@destinations_group.command("show")
@destinations_option
@click.argument("slug")
@json_option
def destinations_show(slug: str, as_json: bool) -> None:
    """Show a destination (SLUG, or the path of its file or folder) in full.

    Its settings, then each action: default trigger, the request it makes (method, URL,
    headers and body templates), batching, and its fields with type, whether required and
    default mapping; then its presets. With --json: the definition as in its file (camelCase
    keys), plus `path`.

    \b
    Examples:
      actionkit destinations show contentstack
      actionkit destinations show tests/fixtures/destinations/webhook --json

    Exit status: 0 when the destination loads, 1 when it is unknown or invalid.
    """
    try:
        destination = load_destination(slug)
    except DefinitionError as exc:
        fail(exc, source=slug, as_json=as_json)
    if as_json:
        emit_json(describe(destination))
    else:
        _show(console(), destination)
