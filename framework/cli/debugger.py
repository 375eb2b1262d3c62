"""``actionkit debugger``: serve the run-history web page on loopback, until stopped."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
import uvicorn

from framework.cli._io import EXIT_USAGE, listen
from framework.debugger.app import create_app
from framework.sync.config import DEFAULT_HISTORY

HOST = "127.0.0.1"
"""The debugger listens on loopback only: the history holds requests with user data."""


@click.command("debugger")
@click.option(
    "--history",
    "history_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_HISTORY,
    show_default=True,
    help="The run history file (a sync's `history`).",
)
@click.option(
    "--port",
    default=8788,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (127.0.0.1 only); 0 picks a free one.",
)
def debugger_command(history_path: Path, port: int) -> None:
    """Serve a web page over the sync run history until Ctrl-C or SIGTERM: the runs, each
    run's rows with their operation and status (filtered, paged, searchable by primary key)
    and its calls, one line each, with the request and response JSON of a call expanded.
    The page refreshes itself while runs come in.

    The first line on standard output is the page's URL; logs go to standard error. Only
    requests for localhost, 127.0.0.1 or [::1] are answered (any other Host header gets
    400), so that no other site can read the history through the browser.

    \b
    Example:
      actionkit debugger --history .actionkit/sync-history.sqlite --port 8788
    """
    if not history_path.is_file():
        raise click.UsageError(f"There is no run history at {history_path}; run a sync first.")
    app = create_app(history_path, hosts=[HOST])
    sock = listen(HOST, port, backlog=128)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    click.echo(url)
    sys.stdout.flush()
    click.echo(f"Serving the debugger of {history_path} at {url}. Press Ctrl-C to stop.", err=True)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.run(sockets=[sock])
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        sock.close()
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        click.echo("The debugger did not start; see the error above.", err=True)
        sys.exit(EXIT_USAGE)
    click.echo("Stopped.", err=True)
