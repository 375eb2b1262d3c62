"""The tester's mock API: Retry-After honoured without sleeping, and unused answers fail."""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from pathlib import Path

import pytest

from framework.testing import DestinationTester, load_case_file, run_case_file
from framework.testing.clock import JumpingLoop

ROOT = Path(__file__).parent.parent
SETTINGS = {"personalizeProjectId": "p1", "personalizeEdgeApiBaseUrl": "aws-eu"}
EVENT = {"type": "track", "userId": "u1", "event": "Signed Up"}


@pytest.fixture
def tester() -> DestinationTester:
    return DestinationTester("contentstack", settings=SETTINGS)


@pytest.fixture
def tests_folder(tmp_path: Path) -> Path:
    """The tests/ folder of a copy of the contentstack destination."""
    folder = tmp_path / "cs"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "destinations" / "contentstack" / "destination.yaml", folder)
    return folder / "tests"


def _reports(folder: Path, text: str) -> dict[str, list[str]]:
    path = folder / "cases.yaml"
    settings = "settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}\n"
    path.write_text(settings + textwrap.dedent(text), encoding="utf-8")
    return {r.case.name: list(r.failures) for r in run_case_file(load_case_file(path))}


# -- Retry-After ----------------------------------------------------------------------------------


def test_a_429_with_retry_after_then_200_is_delivered(tester: DestinationTester) -> None:
    tester.respond(429, headers={"retry-after": "1"})
    tester.respond(200)
    result = tester.run_action("eventsSync", EVENT)
    assert result.outcome == "delivered"
    assert len(result.requests) == 2


def test_a_retry_after_of_5_minutes_is_waited_on_the_loops_clock(
    tester: DestinationTester,
) -> None:
    # Slept for real, this test would take 5 minutes.
    tester.respond(429, headers={"retry-after": "300"})
    tester.respond(200)
    assert tester.run_action("eventsSync", EVENT).outcome == "delivered"


def test_a_retry_after_past_the_policys_bound_ends_the_retries_as_in_delivery(
    tester: DestinationTester,
) -> None:
    tester.respond(429, headers={"retry-after": "7200"})
    tester.respond(200, optional=True)
    result = tester.run_action("eventsSync", EVENT)
    assert result.outcome == "retryable_failure"
    assert len(result.requests) == 1


def test_the_yaml_case_of_issue_15_passes(tests_folder: Path) -> None:
    failures = _reports(
        tests_folder,
        """\
        cases:
          - name: rate limited, then accepted
            action: eventsSync
            event: {type: track, userId: u1, event: Signed Up}
            respond: [{status: 429, headers: {retry-after: "1"}}, {status: 200}]
            expected: {outcome: delivered}
        """,
    )
    assert failures == {"rate limited, then accepted": []}


def test_the_jumping_loop_skips_waits_and_keeps_time_moving() -> None:
    with asyncio.Runner(loop_factory=JumpingLoop) as runner:
        loop = runner.get_loop()
        before = loop.time()
        runner.run(asyncio.sleep(3600))
        assert loop.time() - before >= 3600
        assert isinstance(loop, JumpingLoop)
        assert loop.skipped > 3599


# -- unused answers -------------------------------------------------------------------------------


def test_an_answer_no_request_used_fails_the_case_with_a_sentence(tests_folder: Path) -> None:
    failures = _reports(
        tests_folder,
        """\
        cases:
          - name: one answer too many
            action: eventsSync
            event: {type: track, userId: u1, event: Signed Up}
            respond: [{status: 200}, {status: 503}]
            expected: {outcome: delivered}
          - name: an invalid event sends nothing
            action: eventsSync
            event: {type: track, event: Signed Up}
            respond: {status: 500}
            expected: {outcome: invalid}
        """,
    )
    assert failures["one answer too many"] == [
        "respond: answer 2 (503) was never used: 1 request reached the mock API. Expect the "
        "request that would use it, remove the answer, or mark it 'optional: true'."
    ]
    assert failures["an invalid event sends nothing"][0].startswith(
        "respond: answer 1 (500) was never used: 0 requests reached"
    )


def test_an_optional_answer_may_go_unused(tests_folder: Path) -> None:
    failures = _reports(
        tests_folder,
        """\
        cases:
          - name: a retry would be answered
            action: eventsSync
            event: {type: track, userId: u1, event: Signed Up}
            respond: [{status: 200}, {status: 200, optional: true}]
            expected: {outcome: delivered}
        """,
    )
    assert failures == {"a retry would be answered": []}


def test_every_answer_used_once_and_the_last_repeating_passes(tester: DestinationTester) -> None:
    tester.respond(503)
    tester.respond(200)
    tester.run_action("eventsSync", EVENT)
    assert tester.unused_answers() == []
    tester.reset()
    tester.respond(200)
    tester.respond(201)
    tester.run_action("eventsSync", EVENT)
    assert tester.unused_answers() == ["answer 2 (201)"]


def test_a_handler_never_called_is_named(tester: DestinationTester) -> None:
    def refuse(request: object) -> object:
        raise AssertionError("not called")

    tester.respond(refuse)  # type: ignore[arg-type]
    tester.run_action("eventsSync", {"type": "track", "event": "no user"})
    assert tester.unused_answers() == ["answer 1 (the handler refuse)"]
