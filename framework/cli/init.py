"""``actionkit init SLUG``: a new destination folder, or a new action in one (``--action``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from framework.cli._io import emit_json, fail
from framework.cli._output import json_option
from framework.definitions.loader import load_destination
from framework.definitions.resources import bundled_root
from framework.definitions.scaffold import (
    KEY,
    SLUG,
    Names,
    cases_yaml,
    destination_yaml,
    insert_action,
    instance_yaml,
    kebab,
    pytest_module,
)
from framework.errors import DefinitionError

DEFAULT_ACTION = "sendEvent"


def _schemas_from(folder: Path) -> str:
    """The schemas folder as seen from ``folder`` (relative when it can be), for editors."""
    schemas = Path(str(bundled_root() / "schemas")).resolve()
    try:
        return Path(os.path.relpath(schemas, folder.resolve())).as_posix()
    except ValueError:  # another drive
        return schemas.as_posix()


def _say(line: str) -> None:
    """Progress for people: on standard output, or standard error with --json."""
    context = click.get_current_context()
    click.echo(line, err=bool(context.params.get("as_json")))


def _write_new(path: Path, text: str, written: list[str]) -> None:
    if path.exists():
        raise click.UsageError(f"{path} already exists; actionkit init never overwrites a file.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(str(path))
    _say(f"  wrote {path}")


@click.command("init")
@click.argument("slug")
@click.option(
    "--action",
    "action_key",
    metavar="KEY",
    help="Add this action (camelCase) to the existing destination SLUG instead.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("destinations"),
    show_default=True,
    help="The folder of destinations to write in.",
)
@json_option
def init_command(slug: str, action_key: str | None, folder: Path, as_json: bool) -> None:
    """Write a new destination (definition, example instance, YAML cases, a pytest module).

    The files validate and their tests pass as written; comments point to the docs of each
    key. With --action, add an action (and its YAML cases) to an existing destination,
    keeping the definition's comments and layout.

    \b
    Examples:
      actionkit init my-crm
      actionkit test destinations/my-crm
      actionkit init my-crm --action updateContact

    Exit status: 0 when written, 1 if the result does not load, 2 on a usage error (a bad
    slug or key, a file that exists).
    """
    if not SLUG.match(slug):
        raise click.BadParameter(
            "a slug is lower-case words joined by hyphens, such as my-crm.", param_hint="SLUG"
        )
    if action_key is not None and not KEY.match(action_key):
        raise click.BadParameter(
            "an action key is camelCase, such as updateContact.", param_hint="--action"
        )
    names = Names(slug)
    home = folder / slug
    written: list[str] = []
    updated: list[str] = []
    if action_key is None:
        if (home / "destination.yaml").exists():
            raise click.UsageError(
                f"{home} already holds a destination; add an action with --action KEY."
            )
        _create(names, home, written)
    else:
        _add_action(names, home, action_key, written, updated)
    try:
        load_destination(home)
    except DefinitionError as exc:  # pragma: no cover - the templates load (tests prove it)
        fail(exc, source=str(home / "destination.yaml"), as_json=as_json)
    if as_json:
        emit_json({"destination": str(home), "written": written, "updated": updated})
    else:
        click.echo(f"Next: actionkit test {home}")


def _create(names: Names, home: Path, written: list[str]) -> None:
    _say(f"Creating the destination '{names.slug}' in {home}:")
    key = DEFAULT_ACTION
    _write_new(
        home / "destination.yaml", destination_yaml(names, key, _schemas_from(home)), written
    )
    _write_new(home / "instance.yaml", instance_yaml(names, key, _schemas_from(home)), written)
    tests = home / "tests"
    _write_new(tests / f"{kebab(key)}.yaml", cases_yaml(names, key, _schemas_from(tests)), written)
    _write_new(tests / f"test_{names.module}.py", pytest_module(names, key), written)


def _add_action(names: Names, home: Path, key: str, written: list[str], updated: list[str]) -> None:
    path = home / "destination.yaml"
    if not path.is_file():
        raise click.UsageError(
            f"There is no destination at {path}; create it first with `actionkit init "
            f"{names.slug}`."
        )
    text = path.read_text(encoding="utf-8")
    try:
        text_after = insert_action(text, key)
    except ValueError as exc:
        raise click.UsageError(f"{path}: {exc}") from exc
    cases = home / "tests" / f"{kebab(key)}.yaml"
    if cases.exists():
        raise click.UsageError(f"{cases} already exists; actionkit init never overwrites a file.")
    _say(f"Adding the action '{key}' to {path}:")
    path.write_text(text_after, encoding="utf-8")
    updated.append(str(path))
    _say(f"  updated {path}")
    _write_new(cases, cases_yaml(names, key, _schemas_from(cases.parent)), written)
