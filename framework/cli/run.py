"""``actionkit run``: route a file of events through an instance (the main job)."""

from __future__ import annotations

import json
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._output import console, json_option, print_table, table
from framework.definitions.instance import Instance, load_instance
from framework.delivery.outcome import Delivery
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router
from framework.emulators.contentstack import ContentstackEmulator
from framework.errors import DefinitionError

EMULATED_SETTING = {"contentstack": "personalizeEdgeApiBaseUrl"}
"""For each destination with an emulator, the setting that points it at its API."""


def _read_events(handle: IO[str]) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, event or None, JSON error or None) for each non-blank line."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield number, None, f"line {number} is not JSON: {exc.msg} at column {exc.colno}"


def _pointed_at(instance: Instance, url: str) -> Instance:
    setting = EMULATED_SETTING.get(instance.destination.slug)
    if setting is None:
        raise click.UsageError(
            f"There is no emulator for the destination '{instance.destination.slug}'."
        )
    return instance.with_settings({setting: url})


def _summary(out: Console, counts: Counter[tuple[str, str]]) -> Table:
    """Outcomes per action: one row per action, one column per outcome."""
    outcomes = sorted({outcome for _, outcome in counts})
    actions = sorted({action for action, _ in counts})
    grid = table(out, "action", *outcomes, right=outcomes)
    for action in actions:
        grid.add_row(action, *(str(counts[(action, o)]) for o in outcomes))
    return grid


@click.command("run")
@click.argument("events", type=click.File("r", encoding="utf-8"))
@click.option(
    "--instance",
    "instance_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The destination instance (YAML or JSON) to route through.",
)
@click.option("--dry-run", is_flag=True, help="Build every request; send nothing.")
@click.option(
    "--emulate", is_flag=True, help="Start the destination's local emulator and send to it instead."
)
@click.option(
    "--dead-letters",
    type=click.Path(path_type=Path),
    default=DEFAULT_DEAD_LETTERS,
    show_default=True,
    help="The dead-letter store (a SQLite file).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=64,
    show_default=True,
    help="Events in flight at once.",
)
@json_option
def run_command(
    events: IO[str],
    instance_path: Path,
    dry_run: bool,
    emulate: bool,
    dead_letters: Path,
    concurrency: int,
    as_json: bool,
) -> None:
    """Route a file of events (JSON lines; `-` for stdin) through a destination instance.

    Every event ends delivered, not subscribed, filtered by its integrations object, invalid
    (with its errors), or dead-lettered; the summary counts them per action. With --emulate,
    the destination's local emulator takes the requests and its resulting state is shown.
    With --json: `{summary: {"action/outcome": count}, stats, deliveries: [one per event and
    mapping, with its input line], emulator_state}`.

    \b
    Examples:
      actionkit run examples/events.jsonl --instance examples/contentstack.yaml --emulate
      actionkit run examples/events.jsonl --instance examples/contentstack.yaml --dry-run --json

    Exit status: 0 when nothing was dead-lettered, 1 when something was (or the instance is
    invalid), 2 on a usage error.
    """
    if dry_run and emulate:
        raise click.UsageError("--dry-run and --emulate cannot be used together.")
    try:
        instance = load_instance(instance_path)
    except DefinitionError as exc:
        fail(exc, source=str(instance_path), as_json=as_json)
    counts: Counter[tuple[str, str]] = Counter()
    results: list[dict[str, Any]] = []
    emulator_state: dict[str, Any] | None = None
    dead = 0
    with ExitStack() as stack:
        emulator = None
        if emulate:
            emulator = stack.enter_context(ContentstackEmulator())
            instance = _pointed_at(instance, emulator.url)
        router = stack.enter_context(
            Router([instance], dry_run=dry_run, dead_letters=dead_letters, concurrency=concurrency)
        )
        # Streamed: events are read as the router takes them (at most `concurrency` ahead),
        # so a file of any size, or an endless stdin, runs in bounded memory. Lines that are
        # not JSON wait in `order` to be reported in their place.
        order: deque[tuple[int, str | None]] = deque()

        def parsed() -> Iterator[Any]:
            for number, event, error in _read_events(events):
                order.append((number, error))
                if error is None:
                    yield event

        def report_unparsed() -> None:
            while order and order[0][1] is not None:
                number, error = order.popleft()
                counts[("(not JSON)", "invalid")] += 1
                if as_json:
                    results.append({"line": number, "outcome": "invalid", "error": error})
                advance()

        total = _size(events)
        with _progress(total, enabled=not as_json and sys.stderr.isatty()) as progress:

            def advance() -> None:
                progress(events)

            for per_event in router.route_many(parsed()):
                report_unparsed()
                number, _ = order.popleft()
                for delivery in per_event:
                    counts[(delivery.action or "(event)", delivery.outcome)] += 1
                    dead += delivery.outcome == "dead_lettered"
                    if as_json:
                        results.append({"line": number, **_public(delivery)})
                advance()
            report_unparsed()
        stats = router.stats()
        if emulator is not None:
            emulator_state = emulator.state()
    if as_json:
        emit_json(
            {
                "summary": {f"{a}/{o}": n for (a, o), n in sorted(counts.items())},
                "stats": stats,
                "deliveries": results,
                "emulator_state": emulator_state,
            }
        )
    else:
        out = console()
        print_table(out, _summary(out, counts))
        if emulator_state is not None:
            out.print()
            out.print(Text("Emulator state (the full state: --json)", style="bold"))
            _print_state(out, emulator_state)
        if dead:
            click.echo(
                f"\n{dead} deliveries dead-lettered in {dead_letters}: see `actionkit dlq list`.",
                err=True,
            )
    if dead:
        sys.exit(EXIT_INVALID_INPUT)


def _size(handle: IO[str]) -> int | None:
    """The size in bytes of a regular file, or None (stdin, a pipe)."""
    try:
        return Path(handle.name).stat().st_size if Path(handle.name).is_file() else None
    except (OSError, TypeError, ValueError):
        return None


@contextmanager
def _progress(total: int | None, *, enabled: bool) -> Iterator[Callable[[IO[str]], None]]:
    """A progress bar (by bytes read) on standard error when it is a terminal; else a no-op."""
    if not enabled or total is None:
        yield lambda handle: None
        return
    with click.progressbar(length=total, label="routing", file=sys.stderr) as bar:
        done = 0

        def update(handle: IO[str]) -> None:
            nonlocal done
            try:
                position = handle.buffer.tell() if hasattr(handle, "buffer") else done
            except (OSError, ValueError):
                return
            bar.update(max(0, position - done))
            done = max(done, position)

        yield update


def _print_state(out: Console, state: dict[str, Any]) -> None:
    """Per project: users and merges; per user: events recorded and attributes set."""
    for project, data in sorted(state.get("projects", {}).items()):
        users = data.get("users", {})
        merges = len(data.get("merges", []))
        out.print(f"project {project}: {len(users)} users, {merges} merges")
        grid = table(out, "user", "events", "attributes", right=("events",))
        for user, record in sorted(users.items()):
            attributes = ", ".join(
                f"{key}={json.dumps(value, ensure_ascii=False)}"
                for key, value in record.get("attributes", {}).items()
            )
            grid.add_row(user, str(len(record.get("events", []))), attributes)
        print_table(out, grid, margin=2)


def _public(delivery: Delivery) -> dict[str, Any]:
    data = delivery.to_dict()
    data.pop("response", None)
    return data
