"""assert_request: its failures read plainly, and pytest shows the test's frame, not ours."""

from __future__ import annotations

import textwrap

import pytest

from framework.testing import DestinationTester, assert_request
from framework.testing.diff import requests_diff

pytest_plugins = ["pytester"]

SETTINGS = {"personalizeProjectId": "p1", "personalizeEdgeApiBaseUrl": "aws-eu"}
ACTUAL = {
    "method": "POST",
    "url": "https://edge.example/events",
    "headers": {"x-project-uid": "proj-1"},
    "json": [{"type": "EVENT", "eventKey": "Signed Up"}],
}


def _message(actual: object, expected: dict[str, object]) -> str:
    with pytest.raises(AssertionError) as caught:
        assert_request(actual, expected)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_missing_request_is_said_plainly_without_question_marks() -> None:
    message = _message(None, {"json": {"a": 1}})
    assert message.startswith("No request was sent, but this one was expected:")
    assert "? ?" not in message
    assert "(any method) (any URL)" in message


def test_a_differing_request_never_prints_question_marks() -> None:
    message = _message(ACTUAL, {"json": [{"type": "EVENT", "eventKey": "Signed In"}]})
    assert "? ?" not in message
    assert "(any method) (any URL)" in message
    assert "POST https://edge.example/events" in message


def test_a_result_that_sent_nothing_says_why() -> None:
    tester = DestinationTester("contentstack", settings=SETTINGS)
    result = tester.run_action("eventsSync", {"type": "track", "event": "Signed Up"})
    message = _message(result, {"method": "POST"})
    assert message.startswith("The mapping 'eventsSync' (eventsSync) sent no request: invalid.")
    assert "[MISSING_IDENTITY]" in message
    assert "This request was expected:\n    POST (any URL)" in message


def test_a_result_with_one_request_is_compared() -> None:
    tester = DestinationTester("contentstack", settings=SETTINGS)
    result = tester.run_action("eventsSync", {"type": "track", "userId": "u1", "event": "E"})
    assert_request(result, {"method": "POST", "json": [{"type": "EVENT", "eventKey": "E"}]})
    message = _message(result, {"json": [{"type": "EVENT", "eventKey": "F"}]})
    assert 'json/0/eventKey: expected "F", got "E"' in message


def test_a_request_not_sent_is_named_in_a_list_of_requests() -> None:
    lines = requests_diff([], [{"json": {"a": 1}}])
    assert lines == [
        "expected 1 request(s), but 0 were sent",
        'request 1: not sent: (any method) (any URL) {"a": 1}',
    ]


def test_pytest_shows_the_tests_line_and_hides_assert_requests_frames(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """\
            from framework.testing import assert_request

            def test_it():
                assert_request({"method": "POST"}, {"method": "PUT"})
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--tb=long")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert 'assert_request({"method": "POST"}, {"method": "PUT"})' in text
    assert 'method: expected "PUT", got "POST"' in text
    assert "diff.py" not in text
    assert "raise AssertionError" not in text
