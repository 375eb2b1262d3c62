"""``python -m framework``: the ``actionkit`` command line, for when the script is not on PATH."""

from framework.cli.main import main

main()
