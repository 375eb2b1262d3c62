"""How every command prints: rich on a terminal, plain text otherwise, or one JSON document.

- Human output goes through :func:`console`: colours and box-drawn tables only when standard
  output is a terminal (rich decides, honouring ``NO_COLOR`` and ``FORCE_COLOR``); piped or
  captured, the same report is plain text with no ANSI codes and no line wrapping.
- ``--json`` (:data:`json_option`) makes a command print exactly one JSON document on standard
  output instead (see :func:`framework.cli._io.emit_json`).
- Console markup is off: event values and file contents are printed as they are, never read
  as ``[style]`` tags.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.json import JSON
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])

PLAIN_WIDTH = 10_000
"""The width of a console that is not a terminal: wide enough that nothing wraps."""

PLAIN = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n")
"""Tables off a terminal: columns separated by spaces, a line of dashes under the header."""

STATUS_STYLES = {
    "ok": "green",
    "ready": "green",
    "delivered": "green",
    "dry_run": "cyan",
    "not_subscribed": "dim",
    "disabled": "dim",
    "filtered": "yellow",
    "invalid": "bold red",
    "retryable_failure": "red",
    "permanent_failure": "red",
    "dead_lettered": "bold red",
}
"""The colour of each outcome or status word, on a terminal."""


def json_option(function: F) -> F:
    """The ``--json`` flag of every command that prints results (parameter ``as_json``)."""
    option = click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON document on standard output, for scripts.",
    )
    return option(function)


def console(*, stderr: bool = False) -> Console:
    """A console on standard output (or error): rich on a terminal, plain text otherwise."""
    out = Console(stderr=stderr, markup=False, highlight=False, emoji=False)
    if not out.is_terminal:
        out = Console(
            stderr=stderr,
            markup=False,
            highlight=False,
            emoji=False,
            width=PLAIN_WIDTH,
            soft_wrap=True,
        )
    return out


def table(out: Console, *headers: str, right: Iterable[str] = ()) -> Table:
    """An empty table with these column headers; columns named in ``right`` align right."""
    aligned = set(right)
    grid = Table(
        box=box.SIMPLE_HEAD if out.is_terminal else PLAIN,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )
    for header in headers:
        grid.add_column(header, justify="right" if header in aligned else "left")
    return grid


def print_table(out: Console, grid: Table, *, margin: int = 0) -> None:
    """Print a table ``margin`` spaces from the left; off a terminal, without trailing blanks."""
    if out.is_terminal:
        out.print(Padding(grid, (0, 0, 0, margin), expand=False))
        return
    with out.capture() as captured:
        out.print(grid)
    for line in captured.get().splitlines():
        out.print(" " * margin + line.rstrip(), soft_wrap=True)


def status_text(status: str, label: str | None = None) -> Text:
    """``label`` (default: the status word) in the status's colour."""
    return Text(label if label is not None else status, style=STATUS_STYLES.get(status, ""))


def show_json(out: Console, value: Any, *, margin: int = 0) -> None:
    """A JSON value, indented, ``margin`` spaces from the left; coloured on a terminal only."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if out.is_terminal:
        out.print(Padding(JSON(text), (0, 0, 0, margin)))
    else:
        out.print(textwrap.indent(text, " " * margin), soft_wrap=True)


def compact(value: Any) -> str:
    """A JSON value on one line, for table cells."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def as_said(message: str, code: str) -> str:
    """A problem's message as a person reads it in a report.

    Payload sentences are Segment's (``The root value is missing the required field
    'userId'.``, kept word for word in the JSON for parity); in a report they are about the
    payload the mapping made from the event, so they say so.
    """
    if code.startswith("PAYLOAD_"):
        return message.replace("The root value", "The payload", 1)
    return message
