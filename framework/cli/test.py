"""``actionkit test``: run destinations' test cases (``<destination>/tests/*.yaml``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from framework.cli._io import EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, emit_json
from framework.cli._search import destinations_option
from framework.errors import DefinitionError
from framework.testing.cases import find_case_files, load_case_file
from framework.testing.runner import CaseReport, run_case_file
from framework.testing.update import UPDATE_MODES, FileUpdate, UpdateMode, update_case_file

DEFAULT_PATH = Path("destinations")
"""Where ``actionkit test`` looks for case files when given no path."""


class _Printer:
    """Plain text, or rich styles when standard output is a terminal."""

    def __init__(self) -> None:
        self._console: Any = None
        if sys.stdout.isatty():
            from rich.console import Console

            self._console = Console(highlight=False)

    def line(self, text: str, style: str | None = None) -> None:
        if self._console is None or style is None:
            click.echo(text)
        else:
            from rich.text import Text

            self._console.print(Text(text, style=style))


def _report_file(printer: _Printer, path: Path, reports: list[CaseReport]) -> None:
    printer.line(str(path), "bold")
    for report in reports:
        if report.passed:
            printer.line(f"  PASS  {report.case.name}", "green")
            continue
        printer.line(f"  FAIL  {report.case.name}  ({report.case.location})", "bold red")
        for line in report.explain().splitlines():
            printer.line(f"        {line}")


def _report_broken(printer: _Printer, path: Path, error: DefinitionError) -> None:
    printer.line(str(path), "bold")
    printer.line(f"  ERROR {error.message}", "bold red")
    for problem in error.problems:
        where = f"line {problem.line}, " if problem.line is not None else ""
        printer.line(f"        {where}{problem.pointer or '/'}: {problem.message} [{problem.code}]")


def _case_files(roots: list[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        for path in find_case_files(root):
            if path not in files:
                files.append(path)
    return files


def _show_update(printer: _Printer, update: FileUpdate) -> None:
    names = ", ".join(update.cases)
    printer.line(f"recorded {len(update.cases)} case(s) in {update.path}: {names}", "bold")
    for line in update.diff().splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        printer.line(line, style)


def run_files(files: list[Path], *, as_json: bool, update: UpdateMode | None) -> int:
    """Run (and with ``update``, first record) the case files; print; return the exit code."""
    # Failed deliveries are expected in cases that test them; the report shows each outcome.
    logging.getLogger("actionkit.delivery").addHandler(logging.NullHandler())
    printer = _Printer()
    document: dict[str, Any] = {"files": [], "cases": []}
    passed = failed = broken = 0
    for path in files:
        try:
            reports = run_case_file(load_case_file(path))
            written = None if update is None else update_case_file(path, reports, update)
            if written is not None:
                reports = run_case_file(load_case_file(path))
        except DefinitionError as exc:
            broken += 1
            document["files"].append(
                {
                    "file": str(path),
                    "error": exc.message,
                    "problems": [p.to_dict(line=True) for p in exc.problems],
                }
            )
            if not as_json:
                _report_broken(printer, path, exc)
            continue
        entry: dict[str, Any] = {"file": str(path), "cases": len(reports)}
        if written is not None:
            entry["recorded"] = list(written.cases)
            entry["diff"] = written.diff()
        document["files"].append(entry)
        document["cases"].extend(report.to_dict() for report in reports)
        passed += sum(report.passed for report in reports)
        failed += sum(not report.passed for report in reports)
        if not as_json:
            if written is not None:
                _show_update(printer, written)
            _report_file(printer, path, reports)
    document["summary"] = {"passed": passed, "failed": failed, "invalid_files": broken}
    if as_json:
        emit_json(document)
    else:
        summary = f"{passed} passed, {failed} failed"
        if broken:
            summary += f", {broken} invalid case file{'s' if broken > 1 else ''}"
        printer.line(summary, "bold green" if not (failed or broken) else "bold red")
    return EXIT_INVALID_INPUT if failed or broken else EXIT_OK


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report for scripts.")
@click.option(
    "--update",
    type=click.Choice(UPDATE_MODES),
    is_flag=False,
    flag_value="missing",
    default=None,
    help="Record what cases do into their 'expected' in the YAML file, show the diff, then "
    "run them. --update: the cases with no 'expected'. --update=all: those, and each failing "
    "case's parts of 'expected' that did not hold. Passing cases, comments, order and style "
    "are kept. Put a bare --update after PATHS (before them it would take a path for its "
    "value).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="After the run, watch the folders of PATHS and run again the case files of each "
    "destination folder where a file changes (all of them for a change elsewhere), until "
    "Ctrl-C.",
)
@destinations_option
def run_tests_command(
    paths: tuple[Path, ...], as_json: bool, update: UpdateMode | None, watch: bool
) -> None:
    """Run the test cases of destinations: every <destination>/tests/*.yaml under PATHS.

    PATHS are folders (searched for destination folders' tests/*.yaml) or case files;
    the default is destinations/. Each case runs its event through the real engine against a
    mock API (no network) and compares the requests, error, outcome or payload it expects. A
    case without 'expected' fails until --update records it; a mock answer (respond:) that no
    request used fails its case unless it says 'optional: true'.

    Exit codes: 0 every case passed, 1 a case failed or a case file is invalid, 2 a path does
    not exist or holds no case file.

    \b
    Examples:
      actionkit test
      actionkit test destinations/contentstack/tests/events-sync.yaml
      actionkit test destinations/mine --update
      actionkit test destinations/mine --watch
      actionkit test examples/destinations --json
    """
    roots = list(paths) or [DEFAULT_PATH]
    for root in roots:
        if not root.exists():
            click.echo(f"error: there is no file or folder {root}.", err=True)
            sys.exit(EXIT_USAGE)
    files = _case_files(roots)
    if not files:
        shown = ", ".join(str(root) for root in roots)
        click.echo(
            f"error: no test case files under {shown} (they are <destination>/tests/*.yaml).",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    if watch and as_json:
        click.echo("error: --watch prints for a person; use --json without it.", err=True)
        sys.exit(EXIT_USAGE)
    code = run_files(files, as_json=as_json, update=update)
    if watch:
        code = _watch(roots, update, code)
    sys.exit(code)


def _watch(roots: list[Path], update: UpdateMode | None, code: int) -> int:
    """Rerun the cases a change touches until Ctrl-C; the exit code of the last run."""
    from framework.testing.watch import watch_cases, watched_folders

    shown = ", ".join(str(folder) for folder in watched_folders(roots))
    click.echo(f"watching {shown} for changes (Ctrl-C to stop)")
    last = code

    def rerun(files: list[Path], changed: list[Path]) -> None:
        nonlocal last
        click.echo("")
        click.echo(f"changed: {', '.join(str(path) for path in changed)}")
        if not files:
            click.echo("no case files left to run")
            return
        last = run_files(files, as_json=False, update=update)
        click.echo(f"watching {shown} for changes (Ctrl-C to stop)")

    try:
        watch_cases(roots, rerun)
    except KeyboardInterrupt:
        click.echo("")
    return last
