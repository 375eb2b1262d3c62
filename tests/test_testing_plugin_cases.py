"""The pytest plugin runs case files with the new rules: nothing expected, unused answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent

CASES = """\
settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
cases:
  - name: not recorded yet
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
  - name: one answer too many
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    respond: [{status: 200}, {status: 503}]
    expected: {outcome: delivered}
  - name: rate limited then accepted
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    respond: [{status: 429, headers: {retry-after: "1"}}, {status: 200}]
    expected: {outcome: delivered}
"""


def test_pytest_fails_unrecorded_cases_and_unused_answers_with_sentences(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "cs"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "destinations" / "contentstack" / "destination.yaml", folder)
    (folder / "tests" / "cases.yaml").write_text(CASES, encoding="utf-8")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v", "cs")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*cases.yaml::rate limited then accepted PASSED*",
            "*the case expects nothing yet: run `actionkit test --update` to record*",
            "*respond: answer 2 (503) was never used: 1 request reached the mock API.*",
        ]
    )


def test_the_tester_fixture_fails_a_test_that_left_an_answer_unused(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_unused(actionkit_tester):
            tester = actionkit_tester("contentstack")
            tester.respond(503)

        def test_optional(actionkit_tester):
            tester = actionkit_tester("contentstack")
            tester.respond(503, optional=True)

        def test_used(actionkit_tester, test_event):
            settings = {"personalizeProjectId": "p1", "personalizeEdgeApiBaseUrl": "aws-eu"}
            tester = actionkit_tester("contentstack", settings=settings)
            tester.respond(200)
            tester.run_action("eventsSync", test_event(userId="u1"))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*Answers queued with respond() were never used by a request*"
            "DestinationTester('contentstack'): answer 1 (503)*"
        ]
    )
