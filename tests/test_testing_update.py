"""``actionkit test --update``: cases record what they did, the file keeps everything else."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli.main import cli
from framework.testing import load_case_file, run_case_file
from framework.testing.runner import NOTHING_EXPECTED
from framework.testing.update import update_case_file

ROOT = Path(__file__).parent.parent
EXAMPLE_INSTANCE = ROOT / "examples" / "contentstack.yaml"

CASES = """\
# My destination's cases.
settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
cases:
  # a comment above the first case
  - name: a track event
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}   # a comment after a value

  - name: written by hand
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    expected:
      outcome: delivered  # kept
      requests: [{json: [{type: EVENT, eventKey: Signed In}]}]
      # a comment at the end of expected

  # a comment above an invalid event
  - name: an event without a user
    action: eventsSync
    event: {type: track, event: Signed Up}

  - name: retried
    action: mergeUsers
    event: {type: alias, userId: u1, previousId: anon-7}
    respond: [{status: 503}, {status: 200}]
"""


@pytest.fixture
def tests_folder(tmp_path: Path) -> Path:
    """The tests/ folder of a copy of the contentstack destination."""
    folder = tmp_path / "cs"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "destinations" / "contentstack" / "destination.yaml", folder)
    return folder / "tests"


def _write(folder: Path, text: str, name: str = "cases.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _failures(path: Path) -> dict[str, list[str]]:
    return {r.case.name: list(r.failures) for r in run_case_file(load_case_file(path))}


def _update(path: Path, mode: str = "missing") -> str:
    update = update_case_file(path, run_case_file(load_case_file(path)), mode)  # type: ignore[arg-type]
    return "" if update is None else update.diff()


def test_a_case_without_expectations_fails_and_says_how_to_record_them(
    tests_folder: Path,
) -> None:
    path = _write(tests_folder, CASES)
    failures = _failures(path)
    assert failures["a track event"] == [NOTHING_EXPECTED]
    assert "actionkit test --update" in NOTHING_EXPECTED


def test_update_records_what_each_case_did_and_a_second_run_passes_unchanged(
    tests_folder: Path,
) -> None:
    path = _write(tests_folder, CASES)
    _update(path)
    recorded = load_case_file(path)
    track = recorded.cases[0].expected
    assert track.outcome == "delivered"
    assert track.payload == {"userId": "u1", "event": "Signed Up"}
    assert track.requests == (
        {
            "method": "POST",
            "url": "https://eu-personalize-edge.contentstack.com/events",
            "headers": {
                "x-project-uid": "p1",
                "x-cs-personalize-user-uid": "u1",
                "content-type": "application/json",
            },
            "json": [{"type": "EVENT", "eventKey": "Signed Up"}],
        },
    )
    invalid = recorded.cases[2].expected
    assert invalid.error == {"code": "MISSING_IDENTITY", "pointer": "/userId"}
    assert (invalid.outcome, invalid.requests) == ("invalid", ())
    retried = recorded.cases[3].expected
    assert retried.requests is not None
    assert len(retried.requests) == 2
    failures = _failures(path)
    assert {name for name, lines in failures.items() if lines} == {"written by hand"}
    text = path.read_text(encoding="utf-8")
    assert _update(path) == ""
    assert path.read_text(encoding="utf-8") == text


def test_update_changes_no_line_but_the_new_expectations(tests_folder: Path) -> None:
    path = _write(tests_folder, CASES)
    _update(path)
    after = path.read_text(encoding="utf-8").splitlines()
    # Every line of the file is still there, in order, byte for byte.
    remaining = iter(after)
    assert all(any(line == other for other in remaining) for line in CASES.splitlines())
    # The new block sits under its case, before the blank line and the next case's comment.
    invalid = after.index("  - name: an event without a user")
    assert after[invalid - 2 : invalid] == ["", "  # a comment above an invalid event"]
    block = after[invalid + 3 : invalid + 7]
    assert block == [
        "    expected:",
        "      error: {code: MISSING_IDENTITY, pointer: /userId}",
        "      outcome: invalid",
        "      requests: []",
    ]
    assert after[invalid + 7] == ""
    first = after.index("  - name: a track event")
    assert after[first + 3] == "    expected:"


def test_update_all_replaces_only_the_parts_that_failed(tests_folder: Path) -> None:
    path = _write(tests_folder, CASES)
    _update(path)
    before = path.read_text(encoding="utf-8")
    diff = _update(path, "all")
    after = path.read_text(encoding="utf-8")
    assert "-      requests: [{json: [{type: EVENT, eventKey: Signed In}]}]" in diff
    assert "      outcome: delivered  # kept" in after
    assert "      # a comment at the end of expected" in after
    removed = [line for line in diff.splitlines() if line.startswith("-") and "---" not in line]
    assert removed == ["-      requests: [{json: [{type: EVENT, eventKey: Signed In}]}]"]
    assert before.count("\n") < after.count("\n")
    assert all(not lines for lines in _failures(path).values())
    assert _update(path, "all") == ""


def test_update_all_rewrites_an_inline_expected_in_its_order(tests_folder: Path) -> None:
    path = _write(
        tests_folder,
        """\
        - name: wrong outcome, right requests
          action: eventsSync
          settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
          event: {type: track, userId: u1, event: E}
          expected: {requests: [{json: [{type: EVENT, eventKey: E}]}], outcome: invalid}
        """,
    )
    _update(path, "all")
    after = path.read_text(encoding="utf-8")
    assert "  expected:\n    requests: [{json: [{type: EVENT, eventKey: E}]}]\n" in after
    assert "    outcome: delivered\n" in after
    assert all(not lines for lines in _failures(path).values())


def test_update_all_records_the_error_of_a_case_that_cannot_run(tests_folder: Path) -> None:
    path = _write(
        tests_folder,
        """\
        settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
        cases:
          - name: a field the action does not have
            action: eventsSync
            mapping: {eventName: {"@path": "$.event"}}
            expected: {outcome: delivered}
        """,
    )
    _update(path, "all")
    [case] = load_case_file(path).cases
    assert case.expected.error == {"code": "UNKNOWN_FIELD", "pointer": "/mapping/eventName"}
    assert case.expected.given == ("error",)


def test_update_records_an_instances_outcomes_by_mapping(tests_folder: Path) -> None:
    path = _write(
        tests_folder,
        f"""\
        settings: {{personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}}
        cases:
          - name: an identify
            instance: {EXAMPLE_INSTANCE}
            event: {{type: identify, userId: u1, traits: {{plan: pro}}}}
        """,
    )
    _update(path)
    [case] = load_case_file(path).cases
    assert isinstance(case.expected.outcome, dict)
    assert case.expected.outcome["Attributes"] == "delivered"
    assert not case.expected.has_payload
    assert all(not lines for lines in _failures(path).values())


def test_the_command_shows_the_diff_then_runs_the_recorded_cases(tests_folder: Path) -> None:
    path = _write(tests_folder, CASES)
    result = CliRunner().invoke(cli, ["test", str(path), "--update"])
    assert "recorded 3 case(s) in" in result.output
    assert "+    expected:" in result.output
    assert "3 passed, 1 failed" in result.output
    assert result.exit_code == 1
    result = CliRunner().invoke(cli, ["test", str(path), "--update=all", "--json"])
    document = json.loads(result.output)
    assert document["files"][0]["recorded"] == ["written by hand"]
    assert document["files"][0]["diff"].startswith("---")
    assert document["summary"] == {"passed": 4, "failed": 0, "invalid_files": 0}
    assert result.exit_code == 0
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert result.exit_code == 0


def test_the_help_says_what_update_and_update_all_record() -> None:
    result = CliRunner().invoke(cli, ["test", "--help"])
    text = " ".join(result.output.split())
    assert "--update=all" in text
    assert "the cases with no 'expected'" in text
    assert "each failing case's parts of 'expected' that did not hold" in text


def test_a_case_written_inline_is_refused_with_its_line(tests_folder: Path) -> None:
    path = _write(
        tests_folder,
        """\
        settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
        cases:
          - {name: inline, action: eventsSync, event: {type: track, userId: u1, event: E}}
        """,
    )
    before = path.read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(path), "--update"])
    assert result.exit_code == 1
    assert "line 3, /cases/0: The case is written inline" in result.output
    assert path.read_text(encoding="utf-8") == before
