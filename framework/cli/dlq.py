"""``actionkit dlq``: inspect and replay the dead-letter store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._output import console, json_option, print_table, show_json, status_text, table
from framework.cli._search import destinations_option
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
    """Inspect and replay deliveries that finally failed (the dead-letter store).

    `actionkit run` (and `serve`, `worker`) put a delivery there when it fails for good:
    a permanent error, or retries exhausted.

    \b
    Examples:
      actionkit dlq list
      actionkit dlq show 1
      actionkit dlq replay --instance examples/contentstack.yaml
    """


@dlq_group.command("list")
@_STORE
@click.option("--instance", help="Only this instance's letters.")
@json_option
def dlq_list(store: Path, instance: str | None, as_json: bool) -> None:
    """List dead letters, oldest first.

    With --json: a list of letters as `dlq show --json` prints them, with `event` null.

    \b
    Example:
      actionkit dlq list --instance personalize-example

    Exit status: 0, or 2 when there is no store at --store.
    """
    with _open(store) as letters:
        found = letters.list(instance=instance)
    if as_json:
        emit_json([letter.to_dict() | {"event": None} for letter in found])
        return
    out = console()
    if not found:
        out.print("No dead letters.")
        return
    grid = table(
        out,
        *("id", "created", "instance", "mapping", "error", "status", "attempts", "message id"),
        right=("id", "status", "attempts"),
    )
    for letter in found:
        grid.add_row(
            str(letter.id),
            letter.created_at or "",
            letter.instance,
            letter.mapping,
            Text(letter.error_code, style="red"),
            "" if letter.status is None else str(letter.status),
            str(letter.attempts),
            letter.message_id or "",
        )
    print_table(out, grid)


@dlq_group.command("show")
@_STORE
@click.argument("letter_id", type=int)
@json_option
def dlq_show(store: Path, letter_id: int, as_json: bool) -> None:
    """Show one dead letter in full: event, error, attempts and the last request.

    With --json: `{id, created_at, instance, mapping, action, message_id, error_code,
    error_message, status, attempts, event, request}`.

    \b
    Example:
      actionkit dlq show 1 --json

    Exit status: 0, 1 when there is no such letter, 2 when there is no store at --store.
    """
    with _open(store) as letters:
        letter = letters.get(letter_id)
    if letter is None:
        click.echo(f"No dead letter {letter_id} in {store}.", err=True)
        if as_json:
            emit_json({"error": {"code": "NOT_FOUND", "message": f"No dead letter {letter_id}."}})
        sys.exit(EXIT_INVALID_INPUT)
    data = letter.to_dict()
    if as_json:
        emit_json(data)
        return
    out = console()
    out.print(Text.assemble(("Dead letter ", "bold"), str(letter.id), f" ({letter.created_at})"))
    for label in ("instance", "mapping", "action", "message_id", "status", "attempts"):
        out.print(Text.assemble((f"{label:<12}", "bold"), str(data[label])))
    out.print(
        Text.assemble(
            ("error       ", "bold"), (letter.error_code, "red"), f": {letter.error_message}"
        )
    )
    out.print(Text("event", style="bold"))
    show_json(out, letter.event, margin=2)
    if letter.request is not None:
        out.print(Text("last request", style="bold"))
        show_json(out, letter.request, margin=2)


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
@json_option
@destinations_option
def dlq_replay(
    store: Path, instance_paths: tuple[Path, ...], letter_ids: tuple[int, ...], as_json: bool
) -> None:
    """Send dead letters again (all of them, or the LETTER_IDS given).

    A letter whose delivery succeeds leaves the store; one that fails again stays. With
    --json: `{replayed, still_failing, letters: [{id, outcome, status, error_code}]}`.

    \b
    Example:
      actionkit dlq replay --instance examples/contentstack.yaml 3 4

    Exit status: 0 when every replayed letter was delivered, 1 otherwise, 2 when there is no
    store at --store.
    """
    try:
        instances = [load_instance(path) for path in instance_paths]
    except ActionkitError as exc:
        fail(exc, as_json=as_json)
    with _open(store) as letters, Router(instances, dead_letters=letters) as router:
        replayed = router.replay(list(letter_ids) or None)
    results: list[dict[str, Any]] = [
        {
            "id": letter.id,
            "outcome": delivery.outcome,
            "status": delivery.status,
            "error_code": delivery.error_code,
        }
        for letter, delivery in replayed
    ]
    failed = sum(result["outcome"] != "delivered" for result in results)
    if as_json:
        emit_json({"replayed": len(results), "still_failing": failed, "letters": results})
    else:
        out = console()
        grid = table(out, "id", "outcome", "status", "error", right=("id", "status"))
        for result in results:
            grid.add_row(
                str(result["id"]),
                status_text(result["outcome"]),
                "" if result["status"] is None else str(result["status"]),
                result["error_code"] or "",
            )
        print_table(out, grid)
        out.print(f"Replayed {len(results)}, still failing {failed}.")
    if failed:
        sys.exit(EXIT_INVALID_INPUT)
