"""``--destinations DIR``: the option of every command that looks a destination up by slug."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from framework.definitions.resources import searching

F = TypeVar("F", bound=Callable[..., Any])

HELP = (
    "A folder of <slug>/destination.yaml to search for destination slugs first (repeatable, "
    "searched in order); then ACTIONKIT_DESTINATIONS, ./destinations and the bundled ones."
)


def destinations_option(command: F) -> F:
    """Add ``--destinations DIR`` (repeatable) to a command: its folders are searched first.

    The folders count until the command (and, for a group, its subcommand) ends.
    """

    @click.option(
        "--destinations",
        "destination_folders",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=HELP,
    )
    @functools.wraps(command)
    def wrapper(*args: Any, destination_folders: tuple[Path, ...], **kwargs: Any) -> Any:
        # Held by the click context, so a group's folders also count for its subcommand.
        click.get_current_context().with_resource(searching(destination_folders))
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
