"""Reading JSON documents for commands, and printing results and errors the same way everywhere.

Exit codes shared by every command:

- 0: the command did its job.
- 1: the input was read but is wrong (an invalid trigger, mapping, instance or event), or the
  command found failures (a test failed, something was dead-lettered); the problems are printed
  on standard error, and with ``--json`` standard output still holds one JSON document.
- 2: the command line itself is wrong (click's usage errors), or a file cannot be read;
  standard output is then empty, even with ``--json``.
"""

from __future__ import annotations

import datetime
import json
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from framework.definitions.source import decode_document, parse_document
from framework.errors import ActionkitError, DefinitionError, EventJsonError, TriggerSyntaxError
from framework.event_json import decode_event_json

EXIT_OK = 0
EXIT_INVALID_INPUT = 1
EXIT_USAGE = 2


class InputFileError(click.ClickException):
    """A file named on the command line cannot be read or is not a JSON/YAML document."""

    exit_code = EXIT_USAGE


def read_document(name: str, *, what: str) -> Any:
    """Read a JSON (or, by file extension, YAML) document from a path, or stdin for ``-``.

    ``what`` names the document in error messages ("event", "mapping"). JSON is read under
    the one rule for event JSON (:mod:`framework.event_json`): UTF-8, strict, no lone
    surrogate, limited depth and number length; a document that breaks it cannot be parsed,
    an :class:`InputFileError`.
    """
    if name == "-":
        raw = sys.stdin.buffer.read()
        label = "<stdin>"
    else:
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputFileError(f"Cannot read the {what} file {name}: {exc.strerror}.") from exc
        label = name
    if name.endswith((".yaml", ".yml")):
        raw = _yaml_as_json(raw, label, what)
    try:
        return decode_event_json(raw)
    except EventJsonError as exc:
        raise InputFileError(
            f"The {what} in {label} cannot be read as JSON: {exc.message} [{exc.reason}]"
        ) from exc


def _yaml_as_json(raw: bytes, label: str, what: str) -> bytes:
    """A YAML document's bytes as JSON, read under the definition files' limits.

    The JSON then goes through the event JSON rule like any other input, so a YAML file can
    smuggle in nothing JSON would refuse (``.nan``, a lone surrogate escape, deep nesting).
    Dates YAML reads as dates are given back as ISO 8601 strings.
    """
    try:
        data = parse_document(decode_document(raw, label), label).data
    except DefinitionError as exc:
        first = exc.problems[0] if exc.problems else None
        reason = f" {first.message} [{first.code}]" if first else ""
        raise InputFileError(f"The {what} in {label} cannot be read as YAML:{reason}") from exc
    try:
        text = json.dumps(data, allow_nan=False, ensure_ascii=True, default=_iso_date)
    except ValueError as exc:  # NaN or infinity
        raise InputFileError(
            f"The {what} in {label} holds .nan or .inf, which JSON cannot carry; write a "
            "finite number, or null. [NON_FINITE_NUMBER]"
        ) from exc
    return text.encode()


def _iso_date(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise ValueError(f"a {type(value).__name__} has no JSON form")


def emit_json(value: Any) -> None:
    """Print a JSON document on standard output, indented, with unicode kept as is."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def error_document(error: ActionkitError, *, source: str | None = None) -> dict[str, Any]:
    """An actionkit error as JSON: its code, message, source, and every problem's location."""
    problems = error.problems if isinstance(error, DefinitionError) else []
    return {
        "code": error.code,
        "message": error.message,
        "source": source,
        "problems": [problem.to_dict(line=True) for problem in problems],
    }


def fail(error: ActionkitError, *, source: str | None = None, as_json: bool = False) -> NoReturn:
    """Print an actionkit error on standard error, in a form a person can act on, and exit 1.

    With ``as_json``, standard output also gets the JSON document ``{"error": ...}`` (see
    :func:`error_document`), so a script always reads one document when the status is 0 or 1.

    A file that cannot be read at all (missing, a directory, no permission) is not wrong
    input but a wrong command line: it is said once, as click says it, and the exit status is
    2 with standard output empty, like an unreadable event file.
    """
    if _is_unreadable_file(error):
        raise InputFileError(error.message)
    if as_json:
        emit_json({"error": error_document(error, source=source)})
    prefix = f"{source}: " if source else ""
    if isinstance(error, TriggerSyntaxError):
        click.echo(f"{prefix}error[{error.code}]: {error}", err=True)
    elif isinstance(error, DefinitionError) and error.problems:
        click.echo(f"{prefix}error[{error.code}]: {error.message}", err=True)
        for problem in error.problems:
            click.echo(f"  {problem.pointer or '/'}: {problem.message} [{problem.code}]", err=True)
    else:
        click.echo(f"{prefix}error[{error.code}]: {error.message}", err=True)
    sys.exit(EXIT_INVALID_INPUT)


def _is_unreadable_file(error: ActionkitError) -> bool:
    """Whether ``error`` only says that a file could not be read (``UNREADABLE`` at its root)."""
    return (
        isinstance(error, DefinitionError)
        and bool(error.problems)
        and all(problem.code == "UNREADABLE" and not problem.pointer for problem in error.problems)
    )


def listen(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket for a server command; a port that cannot be used is a usage error.

    The socket is inheritable, so a server may hand it to worker processes.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.BadParameter(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}.", param_hint="--port"
        ) from exc
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
