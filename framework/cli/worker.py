"""``actionkit worker``: deliver the events a server put on a Redis stream, as one of many."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from framework.cli._io import emit_json, fail, listen
from framework.cli._search import destinations_option
from framework.definitions.instance import Instance, load_instance
from framework.delivery.router import DEFAULT_DEAD_LETTERS
from framework.errors import ActionkitError, DefinitionError
from framework.queue.consumer import DEFAULT_IN_FLIGHT


class _JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and a worker's state fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "worker", {}))
        return json.dumps(data, ensure_ascii=False, default=str)


def _log_to_stderr(as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(_JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("actionkit")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@click.command("worker")
@click.option("--redis", "redis_url", required=True, metavar="URL", help="The Redis to consume.")
@click.option(
    "--instance",
    "instance_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="A destination instance to deliver to (YAML or JSON); repeat for several.",
)
@click.option("--stream", default="actionkit:events", show_default=True, help="The stream.")
@click.option(
    "--group",
    default="actionkit",
    show_default=True,
    help="The consumer group of the earlier single stream (its entries are moved in).",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 4096),
    default=16,
    show_default=True,
    help="Partition streams of the queue: the same for every server and worker of a stream.",
)
@click.option(
    "--consumer",
    metavar="NAME",
    help="This worker's name in its leases and logs [default: hostname-pid].",
)
@click.option(
    "--in-flight",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_IN_FLIGHT,
    show_default=True,
    help="Entries handled at once.",
)
@click.option(
    "--claim-idle",
    type=click.FloatRange(0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds after which a dead worker's partitions go to the others.",
)
@click.option(
    "--max-tries",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Tries after which a failing entry moves to the dead stream ({stream}:dead).",
)
@click.option(
    "--dead-letters",
    type=click.Path(path_type=Path),
    default=DEFAULT_DEAD_LETTERS,
    show_default=True,
    help="The dead-letter store for deliveries that finally fail (a SQLite file).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve GET /metrics (Prometheus) on this port while running (0: a free one, logged).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address --metrics-port listens on (0.0.0.0 for every interface).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Log JSON lines; print the final report as JSON."
)
@destinations_option
def worker_command(
    redis_url: str,
    instance_paths: tuple[Path, ...],
    stream: str,
    group: str,
    partitions: int,
    consumer: str | None,
    in_flight: int,
    claim_idle: float,
    max_tries: int,
    dead_letters: Path,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
) -> None:
    """Deliver the events of a Redis queue (`actionkit serve --redis`) until SIGTERM.

    Any number of workers, on any machines, share the queue's partitions: each partition is
    consumed by one worker at a time, so each user's events are delivered in order. An entry
    is acknowledged once each of its deliveries ended; a dead worker's partitions go to the
    others after --claim-idle seconds; an entry that keeps failing goes to the dead stream.
    SIGTERM or Ctrl-C finishes the entries in flight, then stops (a second one stops at once,
    leaving them to the other workers). One log line on standard error at start and at stop.

    --metrics-port serves GET /metrics in the Prometheus text format while the worker runs:
    the server's consumer metrics (actionkit_outcomes_total, actionkit_deliveries_total, the
    queue's depth and dead entries, latencies), counted by this worker. The start line says
    its URL; a port that cannot be used is exit status 2.

    \b
    Example:
      actionkit worker --redis redis://127.0.0.1:6379/0 --instance examples/contentstack.yaml
    """
    # Imported here: redis-py and the worker are not needed by the other commands.
    from framework.worker import WorkerSettings, run_worker

    instances: list[Instance] = []
    for path in instance_paths:
        try:
            instances.append(load_instance(path))
        except DefinitionError as exc:
            fail(exc, source=str(path))
    metrics_socket = None
    if metrics_port is not None:
        try:
            metrics_socket = listen(metrics_host, metrics_port, backlog=64)
        except click.BadParameter as exc:
            exc.param_hint = "--metrics-port"
            raise
    _log_to_stderr(as_json)
    settings = WorkerSettings(
        redis_url,
        instances,
        stream=stream,
        group=group,
        partitions=partitions,
        consumer=consumer,
        in_flight=in_flight,
        claim_idle=claim_idle,
        max_tries=max_tries,
        dead_letters=dead_letters,
    )
    try:
        report = run_worker(settings, metrics_socket=metrics_socket)
    except ActionkitError as exc:
        fail(exc)
    except ValueError as exc:  # instance names repeated
        raise click.UsageError(str(exc)) from exc
    if as_json:
        emit_json(report.to_dict())
