"""``actionkit dlq``: inspect and replay the dead-letter store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.definitions.instance import load_instance
from framework.delivery.deadletter import DeadLetterStore
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router
from framework.errors import ActionkitError

_STORE = click.option(
    "--store",
    type=click.Path(path_type=Path),
    default=DEFAULT_DEAD_LETTERS,
    show_default=True,
    help="The dead-letter store (a SQLite file).",
)


def _open(store: Path) -> DeadLetterStore:
    if not store.exists():
        raise click.UsageError(f"No dead-letter store at {store}.")
    return DeadLetterStore(store)


@click.group("dlq")
def dlq_group() -> None:
    """Inspect and replay deliveries that finally failed (the dead-letter store)."""


@dlq_group.command("list")
@_STORE
@click.option("--instance", help="Only this instance's letters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def dlq_list(store: Path, instance: str | None, as_json: bool) -> None:
    """List dead letters, oldest first.

    \b
    Example:
      actionkit dlq list --instance personalize-example
    """
    with _open(store) as letters:
        found = letters.list(instance=instance)
    if as_json:
        emit_json([letter.to_dict() | {"event": None} for letter in found])
        return
    if not found:
        click.echo("No dead letters.")
        return
    for letter in found:
        click.echo(
            f"{letter.id:>6}  {letter.created_at}  {letter.instance}/{letter.mapping}  "
            f"{letter.error_code}  status={letter.status}  attempts={letter.attempts}  "
            f"message_id={letter.message_id}"
        )


@dlq_group.command("show")
@_STORE
@click.argument("letter_id", type=int)
def dlq_show(store: Path, letter_id: int) -> None:
    """Show one dead letter in full: event, error, attempts and the last request (JSON)."""
    with _open(store) as letters:
        letter = letters.get(letter_id)
    if letter is None:
        click.echo(f"No dead letter {letter_id} in {store}.", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    emit_json(letter.to_dict())


@dlq_group.command("replay")
@_STORE
@click.option(
    "--instance",
    "instance_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="The instance(s) the letters are for.",
)
@click.argument("letter_ids", nargs=-1, type=int)
def dlq_replay(store: Path, instance_paths: tuple[Path, ...], letter_ids: tuple[int, ...]) -> None:
    """Send dead letters again (all of them, or the LETTER_IDS given).

    A letter whose delivery succeeds leaves the store; one that fails again stays.

    \b
    Example:
      actionkit dlq replay --instance examples/contentstack.yaml 3 4

    Exit status: 0 when every replayed letter was delivered, 1 otherwise.
    """
    try:
        instances = [load_instance(path) for path in instance_paths]
    except ActionkitError as exc:
        fail(exc)
    with _open(store) as letters, Router(instances, dead_letters=letters) as router:
        replayed = router.replay(list(letter_ids) or None)
    failed = 0
    for letter, delivery in replayed:
        failed += delivery.outcome != "delivered"
        click.echo(
            json.dumps(
                {
                    "id": letter.id,
                    "outcome": delivery.outcome,
                    "status": delivery.status,
                    "error_code": delivery.error_code,
                }
            )
        )
    click.echo(f"replayed {len(replayed)}, still failing {failed}", err=True)
    if failed:
        sys.exit(EXIT_INVALID_INPUT)
