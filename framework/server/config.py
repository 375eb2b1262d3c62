"""The server configuration file: instances, the write keys that route to them, queue, limits.

A YAML (or JSON) file checked against ``schemas/server.schema.json``, then modelled with
pydantic; every problem is reported at once with its JSON pointer and line, as for
destinations and instances. Paths in it are relative to the file. Example
(``examples/server.yaml``)::

    instances: [contentstack.yaml]
    writeKeys:
      example-write-key: [personalize-example]
    queue: {path: .actionkit/queue.sqlite, maxLength: 100000}
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from framework.definitions.instance import Instance, load_instance
from framework.definitions.loader import ProblemCollector
from framework.definitions.models import ConfigModel
from framework.definitions.schema_check import bundled_validator, schema_problems
from framework.definitions.source import join_pointer, open_source
from framework.delivery.router import DEFAULT_DEAD_LETTERS as ROUTER_DEAD_LETTERS
from framework.errors import DefinitionError, Problem

__all__ = [
    "CONNECTION_HEADROOM",
    "Limits",
    "QueueSettings",
    "ServerConfig",
    "ServerSettings",
    "load_server_config",
]

DEFAULT_QUEUE_PATH = ".actionkit/queue.sqlite"
DEFAULT_DEAD_LETTERS = str(ROUTER_DEAD_LETTERS)
_INVALID = "The server configuration is invalid."


class QueueSettings(ConfigModel):
    """The durable queue: its file (embedded), bound, lease and tries."""

    path: str = DEFAULT_QUEUE_PATH
    max_length: Annotated[int, Field(ge=1)] = 100_000
    claim_idle: Annotated[float, Field(gt=0)] = 30.0
    max_tries: Annotated[int, Field(ge=1)] = 5


CONNECTION_HEADROOM = 2
"""Open connections allowed per request in flight (idle keep-alive ones, ones still sending)."""


class Limits(ConfigModel):
    """Request limits: sizes (Segment's by default), time and concurrency.

    Sizes: 32 KB an event, 500 KB a batch, 2500 events. ``header_timeout``: seconds a request
    line and headers may take to arrive in full, from the connection's opening or the previous
    answer (then the connection is closed; ``actionkit serve`` enforces it).
    ``body_timeout``: seconds a request body may take to arrive in full (then 408 and the
    connection is closed).
    ``max_concurrent_requests``: requests read or handled at once (then 503 with
    ``Retry-After``). ``keep_alive_timeout``: seconds an idle connection is kept open.
    """

    max_event_bytes: Annotated[int, Field(ge=1)] = 32 * 1024
    max_batch_bytes: Annotated[int, Field(ge=1)] = 500 * 1024
    max_batch_events: Annotated[int, Field(ge=1)] = 2500
    header_timeout: Annotated[float, Field(gt=0)] = 10.0
    body_timeout: Annotated[float, Field(gt=0)] = 10.0
    max_concurrent_requests: Annotated[int, Field(ge=1)] = 1000
    keep_alive_timeout: Annotated[int, Field(ge=1)] = 5

    @property
    def max_connections(self) -> int:
        """Open connections a server holds at most (uvicorn's ``limit_concurrency``).

        :data:`CONNECTION_HEADROOM` times ``max_concurrent_requests``: a backstop for
        connections that have not reached the app (idle, or still sending headers), since the
        app bounds the requests in flight itself. uvicorn answers a request beyond it 503 and
        closes the connection.
        """
        return CONNECTION_HEADROOM * self.max_concurrent_requests


class ServerSettings(ConfigModel):
    """The file's shape (camelCase keys in the file, snake_case here)."""

    instances: list[str]
    write_keys: dict[str, list[str]]
    queue: QueueSettings = Field(default_factory=QueueSettings)
    dead_letters: str | None = DEFAULT_DEAD_LETTERS
    limits: Limits = Field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A checked server configuration, with its instances loaded and its paths resolved.

    ``write_keys`` maps each write key to the instance names its events route to; use
    :meth:`routes` to look a key up. ``queue_path`` and ``dead_letters`` are resolved from
    the file's folder. ``repr`` never shows the write keys.
    """

    instances: tuple[Instance, ...]
    write_keys: Mapping[str, tuple[str, ...]]
    queue: QueueSettings
    queue_path: Path
    dead_letters: Path | None
    limits: Limits

    def routes(self, write_key: str | None) -> tuple[str, ...] | None:
        """The instance names for ``write_key``, or ``None`` when it is not a known key.

        Every key is compared in constant time, so the answer's timing tells nothing of them.
        """
        if not write_key:
            return None
        given = write_key.encode("utf-8", "surrogatepass")  # any str, never an error
        found: tuple[str, ...] | None = None
        for key, names in self.write_keys.items():
            if hmac.compare_digest(key.encode("utf-8", "surrogatepass"), given):
                found = names
        return found

    def __repr__(self) -> str:
        names = ", ".join(instance.name for instance in self.instances)
        return f"ServerConfig(instances=[{names}], write_keys={len(self.write_keys)} keys)"


def load_server_config(
    source: str | Path | Mapping[str, Any], *, base_dir: Path | None = None
) -> ServerConfig:
    """Read, check and load a server configuration from a file or a dict.

    Relative paths are resolved from the file's folder (from ``base_dir``, or the current
    folder, for a dict). Raises :class:`~framework.errors.DefinitionError` with every problem:
    of the file, of each instance it names, and write keys naming no loaded instance.
    """
    document, folder = open_source(source, "<server config>", base_dir=base_dir)
    collector = ProblemCollector(document)
    for problem in schema_problems(bundled_validator("server.schema.json"), document.data):
        collector.add(_without_key(document.locate(problem)))
    collector.raise_if_any(_INVALID)
    settings = collector.model(ServerSettings, document.data)
    collector.raise_if_any(_INVALID)
    if settings is None:  # pragma: no cover - model() recorded a problem
        raise DefinitionError(_INVALID, source=document.name)
    instances = _load_instances(settings, folder, collector)
    known = {instance.name for instance in instances}
    seen: set[str] = set()
    for index, instance in enumerate(instances):
        if instance.name in seen:
            collector.add(
                Problem(
                    join_pointer("instances", index),
                    f"Another instance is already named '{instance.name}'; names must be unique.",
                    "DUPLICATE_NAME",
                )
            )
        seen.add(instance.name)
    for key, names in settings.write_keys.items():
        for position, name in enumerate(names):
            if name not in known:
                # A write key is a secret: the problem points at /writeKeys, on the key's line.
                line = document.line_of(join_pointer("writeKeys", key, position))
                collector.add(
                    Problem(
                        "/writeKeys",
                        f"A write key routes to the instance '{name}', but no instance of "
                        f"this file has that name; the names are: {', '.join(sorted(known))}.",
                        "UNKNOWN_INSTANCE",
                        line,
                    )
                )
    collector.raise_if_any(_INVALID)
    dead_letters = None if settings.dead_letters is None else folder / settings.dead_letters
    return ServerConfig(
        instances=tuple(instances),
        write_keys={key: tuple(names) for key, names in settings.write_keys.items()},
        queue=settings.queue,
        queue_path=folder / settings.queue.path,
        dead_letters=dead_letters,
        limits=settings.limits,
    )


def _without_key(problem: Problem) -> Problem:
    """The problem pointing at ``/writeKeys`` rather than into it: write keys are secrets."""
    if not problem.pointer.startswith("/writeKeys/"):
        return problem
    return Problem("/writeKeys", problem.message, problem.code, problem.line)


def _load_instances(
    settings: ServerSettings, folder: Path, collector: ProblemCollector
) -> list[Instance]:
    instances: list[Instance] = []
    for index, name in enumerate(settings.instances):
        pointer = join_pointer("instances", index)
        try:
            instances.append(load_instance(folder / name))
        except DefinitionError as exc:
            where = f"{exc.source}: " if exc.source else ""
            collector.add(Problem(pointer, f"{where}{exc.message}", exc.code))
            for problem in exc.problems:
                collector.add(Problem(pointer, f"{where}{problem}", problem.code))
    return instances
