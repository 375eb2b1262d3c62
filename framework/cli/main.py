"""The ``actionkit`` command group and its entry point."""

from __future__ import annotations

import click

from framework.cli.dlq import dlq_group
from framework.cli.emulate import emulate_command
from framework.cli.mapping import map_command
from framework.cli.run import run_command
from framework.cli.trigger import trigger_command
from framework.cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="actionkit")
def cli() -> None:
    """actionkit: Segment Actions-style destinations defined as data.

    Test triggers (FQL) and mappings (the mapping kit) on fixture events, with no network.
    """


cli.add_command(trigger_command)
cli.add_command(map_command)
cli.add_command(validate_command)
cli.add_command(run_command)
cli.add_command(emulate_command)
cli.add_command(dlq_group)


def main() -> None:
    """Run the command line (the ``actionkit`` console script)."""
    cli()
