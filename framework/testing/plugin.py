"""The actionkit pytest plugin (entry point ``pytest11``): fixtures, and case files as tests.

Fixtures:

- ``actionkit_tester``: a factory, ``actionkit_tester("contentstack", settings={...})``,
  returning a :class:`~framework.testing.DestinationTester`; an answer queued with
  ``respond`` that no request used fails the test at teardown (unless ``optional=True``).
- ``test_event``: :func:`~framework.testing.make_test_event`, as a fixture.

Collection: every ``<destination folder>/tests/*.yaml`` (a folder holding
``destination.yaml``) is collected as a file of test items, one per case, so
``pytest destinations/`` runs every destination's cases. A failing case reports the
differences (requests by JSON pointer) and what happened; a broken case file is a collection
error naming the file, the JSON pointer and the line.

The framework is imported only when a fixture or a case file needs it, so the plugin costs
nothing to a pytest run that does not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from framework.testing.cases import Case
    from framework.testing.runner import CaseReport
    from framework.testing.tester import DestinationTester


class CaseFailedError(Exception):
    """A case's expectations did not hold; carries its report."""

    def __init__(self, report: CaseReport) -> None:
        super().__init__(report.case.name)
        self.report = report


@pytest.fixture(name="actionkit_tester")
def _actionkit_tester() -> Iterator[Callable[..., DestinationTester]]:
    """A factory of testers: ``actionkit_tester(slug_or_path, settings=..., retry=...)``.

    At teardown, an answer queued with ``respond`` that no request used fails the test (as
    pytest-httpx does with its responses), unless it was queued with ``optional=True``.
    """
    from framework.testing.tester import DestinationTester

    made: list[DestinationTester] = []

    def make(*args: Any, **kwargs: Any) -> DestinationTester:
        tester = DestinationTester(*args, **kwargs)
        made.append(tester)
        return tester

    yield make
    unused = [
        f"{tester!r}: {', '.join(answers)}"
        for tester in made
        if (answers := tester.unused_answers())
    ]
    if unused:
        pytest.fail(
            "Answers queued with respond() were never used by a request (queue them with "
            "optional=True if they may be): " + "; ".join(unused),
            pytrace=False,
        )


@pytest.fixture(name="test_event")
def _test_event() -> Callable[..., dict[str, Any]]:
    """``make_test_event``: ``test_event(type="identify", traits={...})``."""
    from framework.testing.events import make_test_event

    return make_test_event


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``<destination folder>/tests/*.yaml`` as case files."""
    from framework.testing.cases import is_case_file

    if is_case_file(file_path):
        collector: CaseFileCollector = CaseFileCollector.from_parent(parent, path=file_path)
        return collector
    return None


class CaseFileCollector(pytest.File):
    """A case file: yields one :class:`CaseItem` per case."""

    tester: DestinationTester | None = None

    def collect(self) -> Iterator[CaseItem]:
        """Load and check the file (every problem is reported at once), then its cases."""
        from framework.testing.cases import load_case_file
        from framework.testing.tester import DestinationTester

        case_file = load_case_file(self.path)
        self.tester = DestinationTester(case_file.destination, settings=case_file.settings)
        for case in case_file.cases:
            yield CaseItem.from_parent(self, name=case.name, case=case)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str:
        """A broken case file: its problems, each with pointer and line."""
        from framework.errors import DefinitionError

        if isinstance(excinfo.value, DefinitionError):
            return _problems_text(excinfo.value)
        return str(super().repr_failure(excinfo))


def _problems_text(error: Any) -> str:
    lines = [f"{error.source}: {error.message}" if error.source else error.message]
    for problem in error.problems:
        where = f"line {problem.line}, " if problem.line is not None else ""
        lines.append(f"  {where}{problem.pointer or '/'}: {problem.message} [{problem.code}]")
    return "\n".join(lines)


class CaseItem(pytest.Item):
    """One case of a case file."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        """Run the case; raise :class:`CaseFailedError` with the report when it fails."""
        from framework.testing.runner import run_case

        parent = self.parent
        tester = parent.tester if isinstance(parent, CaseFileCollector) else None
        if tester is None:  # pragma: no cover - collect() sets it before any item exists
            raise RuntimeError("the case file was not collected")
        report = run_case(self.case, tester)
        if not report.passed:
            raise CaseFailedError(report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The case's differences and what happened, instead of a traceback."""
        error = excinfo.value
        if isinstance(error, CaseFailedError):
            report = error.report
            head = f"case '{self.case.name}' ({self.case.location}) failed:"
            return head + "\n" + "\n".join(f"  {line}" for line in report.explain().splitlines())
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the case is: its file and line, and its name."""
        line = self.case.line - 1 if self.case.line is not None else None
        return self.path, line, f"case: {self.case.name}"
