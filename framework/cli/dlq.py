"""``actionkit dlq``: every event that did not get through, in one list; show and replay them.

The places read (see :mod:`framework.cli._dead`): the dead-letter store (``--store``), the
embedded queue's dead entries (``--queue``) and, with ``--redis``, a Redis stream's dead
entries. A replay sends each row again through the ``--instance`` files given, as the
consumer would: a dead letter delivered this time leaves the store; a queue's dead entry whose
deliveries all ended (delivered, filtered, or dead-lettered into the store, where it is then
listed) leaves its queue. What cannot be replayed is reported with its reason.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from framework.cli._dead import LETTERS, DeadId, DeadIdType, DeadPlaces, DeadRow
from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._output import console, json_option, print_table, show_json, status_text, table
from framework.cli._search import destinations_option
from framework.definitions.instance import Instance, load_instance
from framework.delivery.outcome import Delivery
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router
from framework.errors import (
    ActionkitError,
    NotFoundError,
    NotReplayableError,
    QueueError,
    StorageError,
)
from framework.queue.consumer import ENDED_OUTCOMES
from framework.server.config import DEFAULT_QUEUE_PATH

_GOT_THROUGH = frozenset({"delivered", "filtered", "not_subscribed"})
"""Outcomes of a replayed queue entry's deliveries that are not failures."""


def _places_options(function: Any) -> Any:
    options = [
        click.option(
            "--store",
            type=click.Path(path_type=Path),
            default=DEFAULT_DEAD_LETTERS,
            show_default=True,
            help="The dead-letter store (a SQLite file).",
        ),
        click.option(
            "--queue",
            "queue_path",
            type=click.Path(path_type=Path),
            default=DEFAULT_QUEUE_PATH,
            show_default=True,
            help="The embedded queue's SQLite file, for its dead entries (skipped if absent).",
        ),
        click.option(
            "--redis",
            "redis_url",
            metavar="URL",
            help="Also a Redis stream's dead entries ({stream}:dead).",
        ),
        click.option(
            "--stream",
            default="actionkit:events",
            show_default=True,
            help="The Redis stream, with --redis.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _places(store: Path, queue_path: Path, redis_url: str | None, stream: str) -> DeadPlaces:
    places = DeadPlaces(store, queue_path, redis_url, stream)
    if not places.anything:
        raise click.UsageError(
            f"No dead-letter store at {store} and no queue file at {queue_path}: nothing to "
            "look in (see --store, --queue and --redis)."
        )
    return places


def _report_problems(places: DeadPlaces) -> bool:
    """Print each place that could not be read on standard error; True if there was one."""
    for location, error in places.problems:
        hint = ""
        if isinstance(error, QueueError) and "in use by another process" in error.message:
            hint = (
                " A process holds the whole file exclusively (an actionkit older than this "
                "one, or another program): its /metrics, if it is a server, counts the dead "
                "entries (actionkit_queue_dead_entries); stop it to list or replay them."
            )
        click.echo(f"{location}: error[{error.code}]: {error.message}{hint}", err=True)
    return bool(places.problems)


@click.group("dlq")
def dlq_group() -> None:
    """Every event that did not get through: list, show and replay them.

    `actionkit run` (and `serve`, `worker`, `sync`) put a delivery in the dead-letter store
    when it fails for good: a permanent error, or retries exhausted. An event a server queued
    whose handling failed again and again is set aside in its queue's dead entries (the
    SQLite queue file, or a Redis stream's `:dead` stream). `dlq` reads all of them.

    \b
    Examples:
      actionkit dlq list
      actionkit dlq show 1
      actionkit dlq replay --instance examples/contentstack.yaml
    """


@dlq_group.command("list")
@_places_options
@click.option("--instance", help="Only this instance's letters and entries.")
@json_option
def dlq_list(
    store: Path,
    queue_path: Path,
    redis_url: str | None,
    stream: str,
    instance: str | None,
    as_json: bool,
) -> None:
    """List what did not get through, place by place, oldest first.

    Each row says where it is (`dead-letters`, `queue`, `redis`), its id there (a number for a
    dead letter, `queue:N` or `redis:ID` for a queue's dead entry), its error code and reason.
    With --json: a list of rows as `dlq show --json` prints them, with `event` null.

    \b
    Example:
      actionkit dlq list --instance personalize-example

    Exit status: 0; 1 when a place could not be read (the others are listed); 2 when there is
    no place to look in.
    """
    with _places(store, queue_path, redis_url, stream) as places:
        found = places.rows(instance=instance)
    if as_json:
        emit_json([row.to_dict() | {"event": None} for row in found])
    else:
        _print_rows(found)
    if _report_problems(places):
        sys.exit(EXIT_INVALID_INPUT)


def _print_rows(found: list[DeadRow]) -> None:
    out = console()
    if not found:
        out.print("No dead letters.")
        return
    grid = table(
        out,
        *("id", "created", "instance", "mapping", "error", "status", "attempts"),
        *("message id", "where", "reason"),
        right=("id", "status", "attempts"),
    )
    for row in found:
        grid.add_row(
            str(row.id),
            row.created_at or "",
            ",".join(row.instances) or "*",
            row.mapping or "",
            Text(row.error_code, style="red"),
            "" if row.status is None else str(row.status),
            str(row.attempts),
            row.message_id or "",
            row.where,
            row.error_message,
        )
    print_table(out, grid)


@dlq_group.command("show")
@_places_options
@click.argument("dead_id", metavar="ID", type=DeadIdType())
@json_option
def dlq_show(
    store: Path,
    queue_path: Path,
    redis_url: str | None,
    stream: str,
    dead_id: DeadId,
    as_json: bool,
) -> None:
    """Show one row in full: event, error, attempts and (for a dead letter) the last request.

    With --json: `{id, created_at, instance, mapping, action, message_id, error_code,
    error_message, status, attempts, event, request, where, location, instances}`.

    \b
    Example:
      actionkit dlq show 1 --json

    Exit status: 0; 1 when there is no such row (`NOT_FOUND`) or its place cannot be read;
    2 when there is no place to look in.
    """
    with _places(store, queue_path, redis_url, stream) as places:
        try:
            row = places.find(dead_id)
        except (NotFoundError, StorageError) as exc:
            fail(exc, as_json=as_json)
    data = row.to_dict()
    if as_json:
        emit_json(data)
        return
    out = console()
    title = "Dead letter " if row.where == LETTERS else f"Dead entry of the {row.where} "
    out.print(Text.assemble((title, "bold"), str(row.id), f" ({row.created_at})"))
    out.print(Text.assemble(("where       ", "bold"), row.location))
    for label in ("instance", "mapping", "action", "message_id", "status", "attempts"):
        if data[label] is not None:
            out.print(Text.assemble((f"{label:<12}", "bold"), str(data[label])))
    out.print(
        Text.assemble(("error       ", "bold"), (row.error_code, "red"), f": {row.error_message}")
    )
    out.print(Text("event", style="bold"))
    show_json(out, row.event, margin=2)
    if row.letter is not None and row.letter.request is not None:
        out.print(Text("last request", style="bold"))
        show_json(out, row.letter.request, margin=2)


def _refusal(row: DeadRow, instances: dict[str, Instance]) -> NotReplayableError | None:
    """Why this replay cannot send ``row``, or None when it can."""
    key = str(row.id)
    if row.letter is not None:
        letter = row.letter
        if letter.mapping.startswith("sync:"):
            return NotReplayableError(
                f"Dead letter {key} is a row of the sync '{letter.mapping[5:]}': run "
                "`actionkit sync` again, which sends every row the destination refused again.",
                key=key,
                reason="SYNC_ROW",
            )
        instance = instances.get(letter.instance)
        if instance is None:
            return NotReplayableError(
                f"Dead letter {key} is for the instance '{letter.instance}', which no "
                "--instance file given defines; pass that instance's file.",
                key=key,
                reason="OTHER_INSTANCE",
            )
        if letter.mapping not in {sub.name for sub in instance.subscriptions}:
            return NotReplayableError(
                f"Dead letter {key} is for the mapping '{letter.mapping}', which the instance "
                f"'{letter.instance}' no longer has; it is left as it is.",
                key=key,
                reason="MAPPING_GONE",
            )
        return None
    if row.event is None:
        return NotReplayableError(
            f"Dead entry {key} holds no event ({row.error_code}); there is nothing to send.",
            key=key,
            reason="NOT_AN_EVENT",
        )
    missing = [name for name in row.instances if name not in instances]
    if missing:
        return NotReplayableError(
            f"Dead entry {key} is for the instance(s) {', '.join(missing)}, which no "
            "--instance file given defines; pass their files.",
            key=key,
            reason="OTHER_INSTANCE",
        )
    return None


async def _send(
    router: Router, places: DeadPlaces, rows: list[DeadRow]
) -> list[tuple[DeadRow, Delivery]]:
    """Replay ``rows`` (all replayable) through ``router``; each with its deliveries."""
    results: list[tuple[DeadRow, Delivery]] = []
    letter_ids = [int(row.id.key) for row in rows if row.letter is not None]
    if letter_ids:
        by_id = {row.id.key: row for row in rows}
        for letter, delivery in await router.areplay(letter_ids):
            results.append((by_id[str(letter.id)], delivery))
    for row in rows:
        if row.letter is not None or row.event is None:
            continue
        deliveries = await router.aroute(row.event, instances=row.instances or None)
        # A mapping the event does not trigger sent nothing: not a replay to report.
        results += [(row, d) for d in deliveries if d.outcome != "not_subscribed"]
        if all(delivery.outcome in ENDED_OUTCOMES for delivery in deliveries):
            # Every delivery ended (a permanent failure is now in the dead-letter store).
            await asyncio.to_thread(places.forget, row)
    return results


@dlq_group.command("replay")
@_places_options
@click.option(
    "--instance",
    "instance_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="The instance(s) the letters and entries are for.",
)
@click.argument("dead_ids", metavar="[ID]...", nargs=-1, type=DeadIdType())
@json_option
@destinations_option
def dlq_replay(
    store: Path,
    queue_path: Path,
    redis_url: str | None,
    stream: str,
    instance_paths: tuple[Path, ...],
    dead_ids: tuple[DeadId, ...],
    as_json: bool,
) -> None:
    """Send again what did not get through (all of it, or the IDs given).

    A dead letter delivered this time leaves the store; one that fails again stays, with its
    latest error. A queue's dead entry is routed as its consumer would (to its instances, or
    to every --instance when it names none) and leaves its queue once every delivery ended.
    What cannot be replayed is said, with its reason: an id that is not there (NOT_FOUND), a
    letter of an instance not given (OTHER_INSTANCE), a sync's row (SYNC_ROW: run the sync).
    With --json: `{replayed, still_failing, not_replayed: [{id, code, reason, message}],
    letters: [{id, where, outcome, status, error_code}]}`.

    \b
    Example:
      actionkit dlq replay --instance examples/contentstack.yaml 3 4 queue:7

    Exit status: 0 when everything asked for was replayed and delivered; 1 when something
    still fails, an ID given could not be replayed, nothing at all could be replayed, or a
    place could not be read; 2 when there is no place to look in.
    """
    try:
        loaded = [load_instance(path) for path in instance_paths]
    except ActionkitError as exc:
        fail(exc, as_json=as_json)
    instances = {instance.name: instance for instance in loaded}
    refused: list[NotFoundError | NotReplayableError] = []
    with _places(store, queue_path, redis_url, stream) as places:
        if dead_ids:
            rows = []
            for dead_id in dict.fromkeys(dead_ids):
                try:
                    rows.append(places.find(dead_id))
                except NotFoundError as exc:
                    refused.append(exc)
                except StorageError as exc:
                    places.problems.append((str(dead_id), exc))
        else:
            rows = places.rows()
        sendable = []
        for row in rows:
            refusal = _refusal(row, instances)
            if refusal is None:
                sendable.append(row)
            else:
                refused.append(refusal)
        results: list[tuple[DeadRow, Delivery]] = []
        if sendable:

            async def replay() -> list[tuple[DeadRow, Delivery]]:
                async with Router(loaded, dead_letters=places.letters()) as router:
                    return await _send(router, places, sendable)

            try:
                results = asyncio.run(replay())
            except StorageError as exc:
                fail(exc, as_json=as_json)
    _report_replay(results, refused, as_json=as_json)
    problems = _report_problems(places)
    failed = sum(_still_failing(row, delivery) for row, delivery in results)
    nothing_done = bool(refused) and not results
    if failed or problems or nothing_done or (dead_ids and refused):
        sys.exit(EXIT_INVALID_INPUT)


def _still_failing(row: DeadRow, delivery: Delivery) -> bool:
    if row.letter is not None:
        return delivery.outcome != "delivered"
    return delivery.outcome not in _GOT_THROUGH


def _report_replay(
    results: list[tuple[DeadRow, Delivery]],
    refused: list[NotFoundError | NotReplayableError],
    *,
    as_json: bool,
) -> None:
    lines: list[dict[str, Any]] = [
        {
            "id": int(row.id.key) if row.letter is not None else str(row.id),
            "where": row.where,
            "outcome": delivery.outcome,
            "status": delivery.status,
            "error_code": delivery.error_code,
        }
        for row, delivery in results
    ]
    failed = sum(_still_failing(row, delivery) for row, delivery in results)
    not_replayed = [
        {
            "id": error.key,
            "code": error.code,
            "reason": error.reason if isinstance(error, NotReplayableError) else error.code,
            "message": error.message,
        }
        for error in refused
    ]
    if as_json:
        emit_json(
            {
                "replayed": len(lines),
                "still_failing": failed,
                "not_replayed": not_replayed,
                "letters": lines,
            }
        )
        return
    out = console()
    if lines:
        grid = table(out, "id", "where", "outcome", "status", "error", right=("id", "status"))
        for line in lines:
            grid.add_row(
                str(line["id"]),
                line["where"],
                status_text(line["outcome"]),
                "" if line["status"] is None else str(line["status"]),
                line["error_code"] or "",
            )
        print_table(out, grid)
    for item in not_replayed:
        click.echo(f"not replayed {item['id']}: [{item['reason']}] {item['message']}", err=True)
    summary = f"Replayed {len(lines)}, still failing {failed}"
    if not_replayed:
        summary += f", not replayed {len(not_replayed)}"
    out.print(summary + ".")
