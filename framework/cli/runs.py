"""``actionkit runs``: the run history of syncs; one run's rejected rows; exports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import click

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._search import destinations_option
from framework.errors import DefinitionError, StorageError
from framework.sync.config import DEFAULT_HISTORY, load_sync_config
from framework.sync.history import COUNT_NAMES, RunHistory, RunRecord


class _RunsGroup(click.Group):
    """``actionkit runs [SYNC]`` and ``actionkit runs show RUN``: a first word that is no
    subcommand is the sync (a name, or a sync file)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["--sync", args[0], *args[1:]]
        return super().parse_args(ctx, args)


def _history_option(function: Any) -> Any:
    return click.option(
        "--history",
        "history_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help=f"The run history file [default: {DEFAULT_HISTORY}, or the sync file's].",
    )(function)


def _locate(
    sync: str | None, history_path: Path | None, *, must_exist: bool = True
) -> tuple[str | None, Path]:
    """The sync name and history file from a sync name or a sync file, and --history.

    A history file that does not exist is a usage error when ``must_exist`` (a run is asked
    for); listing runs treats it as no runs yet.
    """
    name = sync
    path = history_path
    if sync is not None and sync.endswith((".yaml", ".yml", ".json")) and Path(sync).is_file():
        try:
            config = load_sync_config(sync)
        except DefinitionError as exc:
            fail(exc, source=sync)
        name = config.name
        path = path or config.history
    path = path or Path(DEFAULT_HISTORY)
    if must_exist and not path.is_file():
        raise click.UsageError(f"There is no run history at {path}; run a sync first.")
    return name, path


def _line(run: RunRecord) -> str:
    counts = "  ".join(f"{run.counts[name]:>9,}" for name in COUNT_NAMES)
    ended = run.ended_at or "-"
    status = f"{run.status:<11}"
    return f"{run.id:>6}  {run.sync:<16} {status} {run.started_at:<29} {ended:<29} {counts}"


@click.group("runs", cls=_RunsGroup, invoke_without_command=True)
@click.option("--sync", "sync", hidden=True)
@_history_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
@destinations_option
def runs_group(
    ctx: click.Context, sync: str | None, history_path: Path | None, limit: int, as_json: bool
) -> None:
    """List the runs of syncs, newest first: `actionkit runs [SYNC]` (a name or a sync file).

    \b
    Examples:
      actionkit runs
      actionkit runs users --json
      actionkit runs show 12 --primary-key 42
      actionkit runs show 12 --export csv --output rejected.csv
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"sync": sync, "history": history_path}
        return
    name, path = _locate(sync, history_path, must_exist=False)
    runs: list[RunRecord] = []
    if path.is_file():
        with RunHistory(path) as history:
            runs = history.list_runs(name, limit=limit)
    if as_json:
        emit_json([run.to_dict() for run in runs])
        return
    if not runs:
        where = "" if path.is_file() else f" (there is no run history at {path})"
        click.echo(
            ("No runs yet" if name is None else f"No runs of the sync '{name}' yet") + where + "."
        )
        return
    header = "    id  sync             status      started" + " " * 22 + " ended" + " " * 24
    click.echo(header + " " + "  ".join(f"{name:>9}" for name in COUNT_NAMES))
    for run in runs:
        click.echo(_line(run))


@runs_group.command("show")
@click.argument("run_id", metavar="RUN", type=int)
@_history_option
@click.option("--primary-key", help="Only this row's rejections and calls.")
@click.option(
    "--export", "export", type=click.Choice(["csv", "json"]), help="Export rejected rows."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help="Write the export to this file (default: standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
@destinations_option
def show_command(
    ctx: click.Context,
    run_id: int,
    history_path: Path | None,
    primary_key: str | None,
    export: Literal["csv", "json"] | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Show one run: its counts, its rejected rows (error, request and response).

    \b
    Examples:
      actionkit runs show 3
      actionkit runs show 3 --primary-key 42
      actionkit runs show 3 --export csv --output rejected.csv
    """
    parent = ctx.obj or {}
    _, path = _locate(parent.get("sync"), history_path or parent.get("history"))
    with RunHistory(path) as history:
        run = history.get_run(run_id)
        if run is None:
            raise click.UsageError(f"There is no run {run_id} in {path}.")
        if export is not None:
            try:
                if output is None:
                    history.export(run_id, export, sys.stdout, primary_key=primary_key)
                else:
                    with output.open("w", newline="", encoding="utf-8") as handle:
                        count = history.export(run_id, export, handle, primary_key=primary_key)
                    click.echo(f"{count} rejected rows written to {output}", err=True)
            except StorageError as exc:
                fail(exc)
            return
        rejected = history.rejected_rows(run_id, primary_key, limit=None if as_json else 20)
        calls = history.calls(run_id, primary_key=primary_key) if primary_key else []
    if as_json:
        emit_json(
            {
                "run": run.to_dict(),
                "rejected": [row.to_dict() for row in rejected],
                "calls": [call.to_dict() for call in calls],
            }
        )
    else:
        click.echo(_describe(run, rejected, calls, primary_key))
    if primary_key is not None and not rejected and not calls:
        sys.exit(EXIT_INVALID_INPUT)


def _describe(run: RunRecord, rejected: list[Any], calls: list[Any], key: str | None) -> str:
    lines = [f"run {run.id} of {run.sync} ({run.mode}): {run.status}"]
    lines.append(f"  started {run.started_at}, ended {run.ended_at or '-'}")
    lines.append("  " + "  ".join(f"{name} {run.counts[name]:,}" for name in COUNT_NAMES))
    if run.error:
        lines.append(f"  error: {run.error}")
    if key is not None and not rejected and not calls:
        lines.append(f"  nothing recorded for the primary key {key} in this run")
    for row in rejected:
        lines.append(f"  rejected row {row.primary_key}: [{row.error_code}] {row.error}")
        if row.call is not None:
            request = row.call.request or {}
            body = json.dumps(request.get("json"), ensure_ascii=False)
            lines.append(f"    request: {row.call.method} {row.call.url} {body}")
            lines.append(f"    response: {row.call.status} {row.call.response or ''}".rstrip())
    for call in calls:
        if call.outcome == "delivered":
            request = call.request or {}
            body = json.dumps(request.get("json"), ensure_ascii=False)
            lines.append(f"  call {call.id}: {call.method} {call.url} {body} -> {call.status}")
    if not key and run.counts["rejected"] > len(rejected):
        lines.append(f"  ... {run.counts['rejected'] - len(rejected):,} more: use --export")
    return "\n".join(lines)
