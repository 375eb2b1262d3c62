"""``actionkit emulate``: serve an emulator of a destination's API on loopback, until stopped."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable

import click

from framework.cli._io import fail
from framework.cli._output import json_option
from framework.cli._search import destinations_option
from framework.definitions.loader import load_destination
from framework.emulators.capture import CaptureEmulator, NotEmulable, emulated_settings
from framework.emulators.contentstack import ContentstackEmulator
from framework.emulators.management import ManagementEmulator
from framework.emulators.server import CONTROL_PREFIX, EmulatorServer
from framework.errors import DefinitionError

EMULATORS: dict[str, Callable[..., EmulatorServer]] = {
    "contentstack": ContentstackEmulator,
    "contentstack-management": ManagementEmulator,
}
"""Destination slug -> emulator class; each takes ``host``, ``port`` and ``project_uid``."""


def _emulator(destination: str, host: str, port: int, project_uid: str | None) -> EmulatorServer:
    """The destination's own emulator, or the capture emulator built from its definition."""
    own = EMULATORS.get(destination)
    if own is not None:
        return own(host=host, port=port, project_uid=project_uid)
    if project_uid is not None:
        raise click.BadParameter(
            "only the contentstack emulators serve projects.", param_hint="--project"
        )
    try:
        definition = load_destination(destination)
    except DefinitionError as exc:
        fail(exc, source=destination)
    try:
        emulated_settings(definition)
    except NotEmulable as exc:
        raise click.UsageError(str(exc)) from exc
    return CaptureEmulator(definition, host=host, port=port)


@click.command("emulate")
@click.argument("destination")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--project",
    "project_uid",
    metavar="UID",
    help="Serve only this project UID; requests for another get 403.",
)
@json_option
@destinations_option
def emulate_command(
    destination: str, host: str, port: int, project_uid: str | None, as_json: bool
) -> None:
    """Serve an emulator of DESTINATION's API until Ctrl-C or SIGTERM.

    The first line printed on standard output is the base URL to use as the destination's API
    URL (with --json, the one-line JSON document `{"url": ...}`); everything else goes to
    standard error. The emulator keeps its state in memory: see
    it at <url>/_emulator/state (docs/emulator.md lists every endpoint).

    DESTINATION is `contentstack` (the Personalize Edge API, where events and attributes go),
    `contentstack-management` (the Management API `actionkit check` reads: it starts with
    no events or attributes defined, and accepts any token), or any other destination (a slug
    or a definition file): a generic capture emulator answers 200 to each request one of its
    actions declares, 400 to any other, and shows per action what it received.

    \b
    Examples:
      actionkit emulate contentstack --port 8787 --project my-project
      actionkit emulate contentstack-management --project my-project
      actionkit emulate examples/destinations/acme-crm/destination.yaml

    Exit status: 0 when stopped by Ctrl-C or SIGTERM, 2 when the port cannot be used.
    """
    emulator = _emulator(destination, host, port, project_uid)
    # SIGTERM stops the emulator the way Ctrl-C does, so both end with exit status 0.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            emulator.start()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}.", param_hint="--port"
            ) from exc
        click.echo(json.dumps({"url": emulator.url}) if as_json else emulator.url)
        sys.stdout.flush()
        click.echo(
            f"Emulating the {destination} API at {emulator.url} "
            f"(state: {emulator.url}{CONTROL_PREFIX}state). Press Ctrl-C to stop.",
            err=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
