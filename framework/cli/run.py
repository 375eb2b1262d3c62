"""``actionkit run``: route a file of events through an instance (the main job)."""

from __future__ import annotations

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
from framework.cli._pauses import PauseReporter
from framework.cli._run_summary import EXPLAINED_OUTCOMES, ReasonTally, print_state
from framework.cli._search import destinations_option
from framework.definitions.durations import parse_duration
from framework.definitions.instance import Instance, load_instance
from framework.delivery.outcome import Delivery
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router
from framework.emulators.choose import NotEmulable, StandIn, stand_in_for
from framework.errors import DefinitionError, EventJsonError, Problem
from framework.event_json import decode_event_json


def _read_events(handle: IO[bytes]) -> Iterator[tuple[int, Any, EventJsonError | None]]:
    """(line number, event or None, its error or None) for each non-blank line.

    The input is read as bytes, line by line, and each line decoded on its own by the one
    rule for event JSON (:mod:`framework.event_json`): a line that breaks it (not UTF-8, not
    JSON, NaN, a lone surrogate, too deep, a number too long) is that line's error, and the
    lines after it are read as usual.
    """
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, decode_event_json(line, line=number), None
        except EventJsonError as exc:
            yield number, None, exc


def _stand_in(instance: Instance) -> StandIn:
    """The emulator for the instance's destination; a usage error when there can be none."""
    try:
        return stand_in_for(instance.destination)
    except NotEmulable as exc:
        raise click.UsageError(f"--emulate: {exc}") from exc


def _pointed_at(instance: Instance, stand_in: StandIn) -> Instance:
    url = stand_in.emulator.url
    return instance.with_settings(dict.fromkeys(stand_in.settings, url), allow_loopback=True)


def _summary(out: Console, counts: Counter[tuple[str, str]]) -> Table:
    """Outcomes per action: one row per action, one column per outcome."""
    outcomes = sorted({outcome for _, outcome in counts})
    actions = sorted({action for action, _ in counts})
    grid = table(out, "action", *outcomes, right=outcomes)
    for action in actions:
        grid.add_row(action, *(str(counts[(action, o)]) for o in outcomes))
    return grid


@click.command("run")
@click.argument("events", type=click.File("rb"))
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
@click.option(
    "--retry-for",
    "retry_for",
    default="10m",
    show_default=True,
    metavar="DURATION",
    callback=lambda ctx, param, value: _duration(value),
    help="How long a delivery that fails retryably is tried again (600, 90s, 10m, 1h) "
    "before it is dead-lettered; an outage or a rate limit shorter than that is waited out.",
)
@json_option
@destinations_option
def run_command(
    events: IO[bytes],
    instance_path: Path,
    dry_run: bool,
    emulate: bool,
    dead_letters: Path,
    concurrency: int,
    retry_for: float,
    as_json: bool,
) -> None:
    """Route a file of events (JSON lines; `-` for stdin) through a destination instance.

    Every event ends delivered, not subscribed, filtered by its integrations object, invalid
    (with its errors), or dead-lettered; the summary counts them per action. With --emulate,
    the destination's local emulator takes the requests and its resulting state is shown.
    The most common reasons for invalid, filtered and dead-lettered events follow the counts;
    an emulator's state shows its first users. With --json: `{summary: {"action/outcome":
    count}, reasons: [{outcome, action, reason, count}], stats, deliveries: [one per event and
    mapping, with its input line], emulator_state}`, all of it.

    A destination that is down or rate-limits is waited out for up to --retry-for (10
    minutes by default), each user's events still in order; a line on standard error says
    when its endpoint is paused, why, and when it resumes.

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
    reasons = ReasonTally()
    results: list[dict[str, Any]] = []
    emulator_state: dict[str, Any] | None = None
    dead = 0
    with ExitStack() as stack:
        emulator = None
        if emulate:
            stand_in = _stand_in(instance)
            emulator = stack.enter_context(stand_in.emulator)
            instance = _pointed_at(instance, stand_in)
        router = stack.enter_context(
            Router(
                [instance],
                dry_run=dry_run,
                dead_letters=dead_letters,
                concurrency=concurrency,
                retry_for=retry_for,
            )
        )
        stack.enter_context(
            PauseReporter(router.endpoints, lambda line: click.echo(line, err=True))
        )
        # Streamed: events are read as the router takes them (at most `concurrency` ahead),
        # so a file of any size, or an endless stdin, runs in bounded memory. Lines that are
        # not events' JSON wait in `order` to be reported in their place.
        order: deque[tuple[int, EventJsonError | None]] = deque()

        def parsed() -> Iterator[Any]:
            for number, event, error in _read_events(events):
                order.append((number, error))
                if error is None:
                    yield event

        def report_unparsed() -> None:
            while order and order[0][1] is not None:
                number, error = order.popleft()
                counts[("(not JSON)", "invalid")] += 1
                if error is not None:
                    report = _unreadable(number, error)
                    reasons.add("(not JSON)", report)
                    if as_json:
                        results.append(report)
                    else:
                        click.echo(f"{report['error_message']} [{error.reason}]", err=True)
                advance()

        total = _size(events)
        with _progress(total, enabled=not as_json and sys.stderr.isatty()) as progress:

            def advance() -> None:
                progress(events)

            for per_event in router.route_many(parsed()):
                report_unparsed()
                number, _ = order.popleft()
                for delivery in per_event:
                    action = delivery.action or "(event)"
                    counts[(action, delivery.outcome)] += 1
                    if delivery.outcome in EXPLAINED_OUTCOMES:
                        reasons.add(action, delivery.to_dict())
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
                "reasons": reasons.rows(),
                "stats": stats,
                "deliveries": results,
                "emulator_state": emulator_state,
            }
        )
    else:
        out = console()
        print_table(out, _summary(out, counts))
        why = reasons.table(out)
        if why is not None:
            out.print()
            out.print(Text("Why events were not sent (most common first)", style="bold"))
            print_table(out, why)
        if emulator_state is not None:
            out.print()
            out.print(Text("Emulator state (the whole state: --json)", style="bold"))
            print_state(out, emulator_state)
        if dead:
            click.echo(
                f"\n{dead} deliveries dead-lettered in {dead_letters}: see `actionkit dlq list`.",
                err=True,
            )
    if dead:
        sys.exit(EXIT_INVALID_INPUT)


def _say(line: str) -> None:
    click.echo(line, err=True)


def _duration(value: str) -> float:
    """The seconds of a duration option, or a usage error saying what is accepted."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _unreadable(number: int, error: EventJsonError) -> dict[str, Any]:
    """The report of a line that is not an event's JSON, shaped as an invalid delivery's.

    ``errors`` holds one problem whose ``code`` is the rule broken (``error.reason``) and
    whose ``pointer`` says where in the line's value, when the value parsed; ``column`` is
    the byte column in the line, when the text itself is at fault.
    """
    message = error.message if error.line is not None else f"line {number}: {error.message}"
    return {
        "line": number,
        "outcome": "invalid",
        "error_code": error.code,
        "error_message": message,
        "errors": [Problem(error.pointer, message, error.reason).to_dict()],
        "column": error.column,
    }


def _size(handle: IO[bytes]) -> int | None:
    """The size in bytes of a regular file, or None (stdin, a pipe)."""
    name = getattr(handle, "name", None)  # a binary stdin may have none
    try:
        return Path(name).stat().st_size if isinstance(name, str) and Path(name).is_file() else None
    except (OSError, ValueError):
        return None


@contextmanager
def _progress(total: int | None, *, enabled: bool) -> Iterator[Callable[[IO[bytes]], None]]:
    """A progress bar (by bytes read) on standard error when it is a terminal; else a no-op."""
    if not enabled or total is None:
        yield lambda handle: None
        return
    with click.progressbar(length=total, label="routing", file=sys.stderr) as bar:
        done = 0

        def update(handle: IO[bytes]) -> None:
            nonlocal done
            try:
                position = handle.tell()
            except (OSError, ValueError):
                return
            bar.update(max(0, position - done))
            done = max(done, position)

        yield update


def _public(delivery: Delivery) -> dict[str, Any]:
    data = delivery.to_dict()
    data.pop("response", None)
    return data
