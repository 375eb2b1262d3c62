"""``actionkit serve``: Segment's HTTP Tracking API, queueing durably, under uvicorn."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import click
import uvicorn
from starlette.applications import Starlette

from framework.cli._io import EXIT_USAGE, fail, listen
from framework.cli._search import destinations_option
from framework.errors import DefinitionError
from framework.server.app import IngestionApp, create_app
from framework.server.config import ServerConfig, load_server_config
from framework.server.embedded import SHUTDOWN_GRACE, create_embedded_app, queue_for
from framework.server.header_deadline import header_deadline_protocol


def _redis_app(config: ServerConfig, url: str, partitions: int) -> IngestionApp:
    """The app putting events on a Redis stream; workers (``actionkit worker``) consume it."""
    # Imported here: the embedded mode needs neither redis-py nor the stream queue.
    from framework.queue.redis_stream import RedisStreamQueue

    settings = config.queue
    queue = RedisStreamQueue(
        url,
        max_length=settings.max_length,
        claim_idle=settings.claim_idle,
        max_tries=settings.max_tries,
        partitions=partitions,
    )

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await queue.close()

    return create_app(config, queue, lifespan=closing)


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The server configuration (YAML or JSON; schemas/server.schema.json).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--queue",
    "queue_path",
    type=click.Path(path_type=Path),
    help="The embedded queue's SQLite file (default: the configuration's queue.path).",
)
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    help="Append accepted events to a Redis queue instead, for workers to deliver.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 4096),
    help="With --redis: the queue's partition streams, as its workers have [default: 16].",
)
@destinations_option
def serve_command(
    config_path: Path,
    host: str,
    port: int,
    queue_path: Path | None,
    redis_url: str | None,
    partitions: int | None,
) -> None:
    """Serve Segment's HTTP Tracking API (POST /v1/track, /v1/batch, ...) until SIGTERM.

    Events are answered 200 once durably queued. By default the queue is a SQLite file and
    the same process delivers its events through the configuration's instances; with
    --redis the events go to a Redis stream and `actionkit worker` processes deliver them.
    The first line on standard output is the base URL; logs go to standard error.

    \b
    Example:
      actionkit serve --config examples/server.yaml --port 8000
    """
    if queue_path is not None and redis_url is not None:
        raise click.UsageError("--queue and --redis exclude each other: pick one queue.")
    if partitions is not None and redis_url is None:
        raise click.UsageError("--partitions is a setting of the Redis queue: add --redis URL.")
    try:
        config = load_server_config(config_path)
    except DefinitionError as exc:
        fail(exc)
    if redis_url is not None:
        app = _redis_app(config, redis_url, partitions or 16)
        mode = f"queueing on Redis at {redis_url.split('@')[-1]}"
    else:
        if queue_path is not None:
            config = replace(config, queue_path=queue_path)
        app = create_embedded_app(config, queue=queue_for(config))
        mode = f"queueing in {config.queue_path} and delivering"
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"
    click.echo(url)
    sys.stdout.flush()
    click.echo(f"Serving the Segment Tracking API at {url}/v1/, {mode}.", err=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
            lifespan="on",
            timeout_keep_alive=config.limits.keep_alive_timeout,
            limit_concurrency=config.limits.max_connections,
            http=header_deadline_protocol(config.limits.header_timeout),
        )
    )
    # uvicorn shuts down gracefully on SIGTERM or Ctrl-C, then raises the signal again with
    # the previous handlers back: as for `actionkit emulate`, both then end with status 0.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn's way of saying the app did not start; it logged why
        pass
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        click.echo("The server did not start; see the error above.", err=True)
        sys.exit(EXIT_USAGE)
    click.echo("Stopped.", err=True)
