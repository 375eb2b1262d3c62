"""The mapping test harness: run a destination on events with no network, and check requests.

- :func:`make_test_event`: a full Segment event with the defaults of Segment's
  ``createTestEvent``, overrides applied with a shallow spread.
- :class:`DestinationTester`: ``run_action``, ``run_preset`` and ``run_instance`` through the
  real engine and router, against a mock API that records requests and answers as told
  (``respond``); each run returns :class:`ActionResult` objects.
- :func:`assert_request`: compare a request with what was expected, failing with a diff.
- Tests as data: :func:`load_case_file` reads a ``tests/*.yaml`` case file and
  :func:`run_case_file` runs it; the pytest plugin (:mod:`framework.testing.plugin`) collects
  such files and provides the ``actionkit_tester`` and ``test_event`` fixtures.
- ``actionkit test --update`` writes what cases did into their ``expected``
  (:mod:`framework.testing.record`, :mod:`framework.testing.update`); ``--watch`` reruns
  them on file changes (:mod:`framework.testing.watch`).
"""

from framework.testing.cases import Case, CaseFile, Expected, find_case_files, load_case_file
from framework.testing.diff import assert_request, format_request, request_diff
from framework.testing.events import make_test_event
from framework.testing.results import ActionResult, EventResult
from framework.testing.runner import CaseReport, run_case, run_case_file
from framework.testing.tester import TEST_RETRY_POLICY, DestinationTester

__all__ = [
    "TEST_RETRY_POLICY",
    "ActionResult",
    "Case",
    "CaseFile",
    "CaseReport",
    "DestinationTester",
    "EventResult",
    "Expected",
    "assert_request",
    "find_case_files",
    "format_request",
    "load_case_file",
    "make_test_event",
    "request_diff",
    "run_case",
    "run_case_file",
]
