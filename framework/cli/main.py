"""The ``actionkit`` command group and its entry point."""

from __future__ import annotations

import io
import sys

import click

from framework.cli.check import check_group
from framework.cli.debugger import debugger_command
from framework.cli.destinations import destinations_group
from framework.cli.dlq import dlq_group
from framework.cli.emulate import emulate_command
from framework.cli.init import init_command
from framework.cli.mapping import map_command
from framework.cli.run import run_command
from framework.cli.runs import runs_group
from framework.cli.serve import serve_command
from framework.cli.sync import sync_command
from framework.cli.test import run_tests_command
from framework.cli.trigger import trigger_command
from framework.cli.try_ import try_command
from framework.cli.types_ import types_command
from framework.cli.validate import validate_command
from framework.cli.worker import worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="actionkit")
def cli() -> None:
    """actionkit: Segment Actions-style destinations defined as data.

    Test triggers (FQL) and mappings (the mapping kit) on fixture events, see what an
    instance would send for an event (no network), and route files of events. Every command
    prints a report for people (coloured on a terminal only) or, with --json, one JSON
    document for scripts. Exit status: 0 ok, 1 invalid input or failures found, 2 usage
    error or unreadable file. The reference: docs/cli.md.

    \b
    Examples:
      actionkit try examples/contentstack.yaml examples/events/order-completed.json
      actionkit destinations show contentstack
      actionkit COMMAND --help
    """


cli.add_command(trigger_command)
cli.add_command(map_command)
cli.add_command(try_command)
cli.add_command(validate_command)
cli.add_command(destinations_group)
cli.add_command(run_command)
cli.add_command(run_tests_command)
cli.add_command(emulate_command)
cli.add_command(serve_command)
cli.add_command(dlq_group)
cli.add_command(sync_command)
cli.add_command(runs_group)
cli.add_command(worker_command)
cli.add_command(check_group)
cli.add_command(debugger_command)
cli.add_command(types_command)
cli.add_command(init_command)


def main() -> None:
    """Run the command line (the ``actionkit`` console script).

    Text that UTF-8 cannot carry (a lone surrogate, which JSON's ``"\\ud800"`` parses to)
    is written as its escape, ``\\ud800``, instead of stopping the command with an encoding
    error: in JSON output that escape is the very value.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    cli()
