"""``actionkit sync SYNC.yaml``: send the rows of a warehouse model to a destination's users."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from framework.cli._io import EXIT_INVALID_INPUT, emit_json, fail
from framework.cli._search import destinations_option
from framework.emulators import ContentstackEmulator
from framework.errors import ActionkitError, DefinitionError
from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.history import COUNT_NAMES
from framework.sync.runner import SyncResult, run_sync

_EMULATED_SETTING = "personalizeEdgeApiBaseUrl"


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[SyncResult], None]]:
    """A live count of rows read and sent on standard error (a terminal); else a no-op."""
    if not enabled:
        yield lambda result: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("syncing", total=None)

        def update(result: SyncResult) -> None:
            counts = result.counts
            bar.update(
                task,
                description=f"{counts['queried']:,} rows read, {counts['succeeded']:,} sent, "
                f"{counts['rejected']:,} rejected",
            )

        yield update


def _report(result: SyncResult) -> str:
    counts = result.counts
    verb = "would send" if result.dry_run else "sent"
    head = f"sync {result.sync} ({result.mode}"
    head += ", dry run)" if result.dry_run else f", run {result.run_id}): {result.status}"
    lines = [head]
    lines.append("  " + "  ".join(f"{name} {counts[name]:,}" for name in COUNT_NAMES))
    if result.dry_run:
        to_send = counts["added"] + counts["changed"]
        if result.mode == "all":
            to_send += counts["unchanged"]
        lines.append(f"  {verb} {to_send:,} rows; sample requests:")
        for item in result.sample:
            request = item["request"] or {}
            body = json.dumps(request.get("json"), ensure_ascii=False)
            target = f"{request.get('method')} {request.get('url')}"
            lines.append(f"    row {item['primary_key']}: {target} {body}")
    if result.removed_sample:
        more = counts["removed"] - len(result.removed_sample)
        keys = ", ".join(result.removed_sample) + (f" and {more:,} more" if more > 0 else "")
        lines.append(
            f"  removed from the source: {keys} (Personalize has no delete: their users keep "
            "their attributes)"
        )
    for item in result.rejected_sample:
        lines.append(f"  rejected row {item['primary_key']}: [{item['code']}] {item['error']}")
    if counts["rejected"] > len(result.rejected_sample) and result.run_id is not None:
        lines.append(f"  all rejected rows: actionkit runs show {result.run_id}")
    return "\n".join(lines)


@click.command("sync")
@click.argument("sync_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Diff and build the requests; send and keep nothing.")
@click.option("--full-resync", is_flag=True, help="Forget the state: send every row again.")
@click.option(
    "--emulate", is_flag=True, help="Send to a local emulator of the destination's API instead."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report for scripts.")
@destinations_option
def sync_command(
    sync_file: Path, dry_run: bool, full_resync: bool, emulate: bool, as_json: bool
) -> None:
    """Sync the rows of a warehouse query (or a CSV file) to Personalize user attributes.

    Only rows added or changed since the last successful run are sent (mode `update`), or
    every row (mode `all`); rows that failed are sent again next run. Every run is recorded
    in the run history (see `actionkit runs`).

    \b
    Examples:
      actionkit sync examples/sync/users.sync.yaml --emulate --dry-run
      actionkit sync users.sync.yaml --json

    Exit status: 0 when every row went through, 1 when rows were rejected, the run failed or
    the sync file is invalid, 2 on a usage error or an unreadable file.
    """
    if not sync_file.is_file():
        raise click.UsageError(f"There is no sync file {sync_file}.")
    try:
        config = load_sync_config(sync_file)
    except DefinitionError as exc:
        fail(exc, source=str(sync_file))
    with ExitStack() as stack:
        if emulate:
            api = stack.enter_context(ContentstackEmulator())
            instance = config.instance.with_settings(
                {_EMULATED_SETTING: api.url}, allow_loopback=True
            )
            config = dataclasses.replace(config, instance=instance)
        show = not as_json and sys.stderr.isatty()
        try:
            with _progress(show) as progress:
                result = _run(config, dry_run, full_resync, progress)
        except ActionkitError as exc:
            fail(exc, source=str(sync_file))
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(_report(result))
    if result.status != "succeeded":
        sys.exit(EXIT_INVALID_INPUT)


def _run(
    config: SyncConfig, dry_run: bool, full_resync: bool, progress: Callable[[SyncResult], None]
) -> SyncResult:
    return run_sync(
        config,
        dry_run=dry_run,
        full_resync=full_resync,
        progress=progress,
        fewer_collections=True,  # this process is ours: see framework.sync.runner
    )
