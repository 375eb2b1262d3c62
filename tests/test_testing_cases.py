"""Tests as data: case files, their runner, the pytest collection, and ``actionkit test``."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli.main import cli
from framework.errors import DefinitionError
from framework.testing import find_case_files, load_case_file, run_case_file

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
CONTENTSTACK_TESTS = ROOT / "destinations" / "contentstack" / "tests"
CASE_FILES = find_case_files(CONTENTSTACK_TESTS)

SETTINGS = "settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}\n"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    """A copy of the contentstack destination, with an empty tests/ folder."""
    folder = tmp_path / "cs"
    folder.mkdir()
    shutil.copy(ROOT / "destinations" / "contentstack" / "destination.yaml", folder)
    (folder / "tests").mkdir()
    return folder


FAILING = (
    SETTINGS
    + """\
cases:
  - name: right
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    expected:
      requests: [{json: [{type: EVENT, eventKey: Signed Up}]}]
  - name: wrong key
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    expected:
      requests: [{json: [{type: EVENT, eventKey: Signed In}]}]
"""
)


# -- the contentstack destination's own cases ------------------------------------------------------


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.name for p in CASE_FILES])
def test_every_contentstack_case_passes(path: Path) -> None:
    reports = run_case_file(load_case_file(path))
    assert reports
    assert [r.case.name for r in reports if not r.passed] == []


def test_the_contentstack_cases_cover_each_action_and_bad_events() -> None:
    cases = [case for path in CASE_FILES for case in load_case_file(path).cases]
    targets = {case.target for case in cases if case.kind in ("action", "preset")}
    assert {"eventsSync", "customAttributesSync", "mergeUsers", "page-events"} <= targets
    assert any(case.kind == "instance" for case in cases)
    errors = {(c.expected.error or {}).get("code") for c in cases}
    assert {"MISSING_IDENTITY", "PAYLOAD_REQUIRED_FIELD_MISSING", "UNKNOWN_TYPE"} <= errors
    outcomes = {c.expected.outcome for c in cases if isinstance(c.expected.outcome, str)}
    assert {"not_subscribed", "filtered", "invalid"} <= outcomes


# -- running cases -------------------------------------------------------------------------------


def test_a_failing_case_reports_a_readable_diff(destination: Path) -> None:
    path = _write(destination, "tests/events.yaml", FAILING)
    right, wrong = run_case_file(load_case_file(path))
    assert right.passed
    assert not wrong.passed
    assert wrong.failures == ('request 1: json/0/eventKey: expected "Signed In", got "Signed Up"',)
    explained = wrong.explain()
    assert "what happened:" in explained
    assert "eventsSync (eventsSync): delivered" in explained
    assert "POST https://eu-personalize-edge.contentstack.com/events" in explained


def test_an_expected_error_that_does_not_come_lists_the_problems_found(destination: Path) -> None:
    path = _write(
        destination,
        "tests/errors.yaml",
        SETTINGS
        + textwrap.dedent(
            """\
        cases:
          - name: no error at all
            action: eventsSync
            event: {type: track, userId: u1, event: X}
            expected: {error: {code: MISSING_IDENTITY, pointer: /userId}}
          - name: another error
            action: eventsSync
            event: {type: track, anonymousId: a, event: X}
            expected: {error: {code: MISSING_IDENTITY, pointer: /userId}}
          - name: wrong message text
            action: eventsSync
            event: {type: track, anonymousId: a, event: X}
            expected:
              error: {code: PAYLOAD_REQUIRED_FIELD_MISSING, pointer: /userId, message: nonsense}
        """
        ),
    )
    first, second, third = run_case_file(load_case_file(path))
    assert first.failures == (
        "expected the error MISSING_IDENTITY at /userId, but no problem was reported",
    )
    assert second.failures == (
        "expected the error MISSING_IDENTITY at /userId, but the problems were: "
        "PAYLOAD_REQUIRED_FIELD_MISSING at /userId",
    )
    assert not third.passed


def test_outcomes_by_mapping_and_payloads_are_compared(destination: Path) -> None:
    path = _write(
        destination,
        "tests/outcomes.yaml",
        SETTINGS
        + textwrap.dedent(
            """\
        cases:
          - name: by mapping
            instance:
              mappings: [{name: Events, preset: events-sync}, {name: Merge, preset: merge-users}]
            event: {type: track, userId: u1, event: X}
            expected: {outcome: {Events: not_subscribed, Merge: not_subscribed, Other: delivered}}
          - name: payload
            action: eventsSync
            event: {type: track, userId: u1, event: X}
            expected: {payload: {userId: u2, event: X}}
        """
        ),
    )
    by_mapping, payload = run_case_file(load_case_file(path))
    assert by_mapping.failures == (
        "outcome of Events: expected not_subscribed, got delivered",
        "outcome: there is no enabled mapping 'Other' (there are: Events, Merge)",
    )
    assert payload.failures == ('payload/userId: expected "u2", got "u1"',)


def test_a_case_that_cannot_run_says_why(destination: Path) -> None:
    path = _write(
        destination,
        "tests/broken-run.yaml",
        """\
        - name: settings missing
          action: eventsSync
          expected: {outcome: delivered}
        """,
    )
    [report] = run_case_file(load_case_file(path))
    assert report.failures[0].startswith("the case could not run:")
    assert {p.pointer for p in report.problems} == {
        "/settings/personalizeEdgeApiBaseUrl",
        "/settings/personalizeProjectId",
    }


# -- broken case files -----------------------------------------------------------------------------


def _problems(path: Path) -> list[tuple[str, str, int | None]]:
    with pytest.raises(DefinitionError) as caught:
        load_case_file(path)
    assert caught.value.source == str(path)
    return [(p.pointer, p.code, p.line) for p in caught.value.problems]


def test_yaml_that_does_not_parse_is_reported_with_its_line(destination: Path) -> None:
    path = _write(destination, "tests/bad.yaml", "cases:\n  - name: x\n    event: {a: [}\n")
    [(pointer, code, line)] = _problems(path)
    assert (pointer, code, line) == ("", "SYNTAX", 3)


def test_every_problem_of_a_case_file_is_reported_at_its_pointer(destination: Path) -> None:
    path = _write(
        destination,
        "tests/bad.yaml",
        SETTINGS
        + textwrap.dedent(
            """\
        cases:
          - name: unknown action
            action: eventSync
            expected: {outcome: delivered}
          - name: two targets
            action: eventsSync
            preset: page-events
            expected: {outcome: delivered}
          - name: missing file
            action: eventsSync
            eventFile: nowhere.json
            expected: {outcome: delivered}
          - name: unknown action
            preset: nope
            expected: {outcome: sent}
            extra: 1
        """
        ),
    )
    assert _problems(path) == [
        ("/cases/3", "SCHEMA", 14),
        ("/cases/3/expected/outcome", "SCHEMA", 16),
    ]
    path.write_text(path.read_text().replace("    extra: 1\n", "").replace("sent", "delivered"))
    assert _problems(path) == [
        ("/cases/0/action", "UNKNOWN_ACTION", 4),
        ("/cases/1", "CASE_TARGET", 6),
        ("/cases/2/eventFile", "UNREADABLE", 12),
        ("/cases/3/name", "DUPLICATE_NAME", 14),
        ("/cases/3/preset", "UNKNOWN_PRESET", 15),
    ]


def test_a_list_file_has_pointers_without_cases(destination: Path) -> None:
    path = _write(
        destination,
        "tests/list.yaml",
        "- name: x\n  action: nope\n  expected: {outcome: invalid}\n",
    )
    assert _problems(path) == [("/0/action", "UNKNOWN_ACTION", 2)]


def test_a_file_outside_a_destination_must_name_one(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "cases.yaml", "- name: x\n  action: eventsSync\n  expected: {outcome: invalid}\n"
    )
    assert _problems(path) == [("", "NO_DESTINATION", 1)]
    path.write_text("destination: contentstack\ncases:\n" + textwrap.indent(path.read_text(), "  "))
    assert [case.name for case in load_case_file(path).cases] == ["x"]


# -- pytest collection -----------------------------------------------------------------------------


def test_pytest_collects_one_item_per_case_and_shows_the_diff(
    pytester: pytest.Pytester, destination: Path
) -> None:
    folder = pytester.path / "destinations" / "cs"
    shutil.copytree(destination, folder)
    _write(folder, "tests/events.yaml", FAILING)
    _write(folder, "tests/events/not-a-case.json", "{}")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v", "destinations")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*events.yaml::right PASSED*",
            "*events.yaml::wrong key FAILED*",
            "*case 'wrong key' (*events.yaml:8) failed:*",
            '*request 1: json/0/eventKey: expected "Signed In", got "Signed Up"*',
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_pytest_reports_a_broken_case_file_with_pointer_and_line(
    pytester: pytest.Pytester, destination: Path
) -> None:
    folder = pytester.path / "cs"
    shutil.copytree(destination, folder)
    _write(
        folder, "tests/broken.yaml", "- name: x\n  action: nope\n  expected: {outcome: invalid}\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "cs")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*line 2, /0/action: The destination 'contentstack' has no action 'nope'*"]
    )


def test_yaml_outside_a_destinations_tests_folder_is_not_collected(
    pytester: pytest.Pytester,
) -> None:
    _write(pytester.path, "tests/thing.yaml", "- name: x\n")
    _write(pytester.path, "other/tests/thing.yaml", "- name: x\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


# -- actionkit test ------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["test", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_runs_every_contentstack_case() -> None:
    code, out, _ = _cli(str(ROOT / "destinations" / "contentstack"))
    assert code == 0
    count = sum(len(load_case_file(path).cases) for path in CASE_FILES)
    assert out.count("  PASS  ") == count
    assert out.rstrip().endswith(f"{count} passed, 0 failed")


def test_the_command_prints_failures_with_their_diff_and_exits_1(destination: Path) -> None:
    _write(destination, "tests/events.yaml", FAILING)
    code, out, _ = _cli(str(destination))
    assert code == 1
    assert "  PASS  right" in out
    assert "  FAIL  wrong key" in out
    assert 'request 1: json/0/eventKey: expected "Signed In", got "Signed Up"' in out
    assert out.rstrip().endswith("1 passed, 1 failed")


def test_the_command_reports_json_for_scripts(destination: Path) -> None:
    _write(destination, "tests/events.yaml", FAILING)
    _write(
        destination,
        "tests/broken.yaml",
        "- name: x\n  action: nope\n  expected: {outcome: invalid}\n",
    )
    code, out, _ = _cli(str(destination), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"] == {"passed": 1, "failed": 1, "invalid_files": 1}
    [broken] = [f for f in report["files"] if "error" in f]
    assert broken["problems"][0]["pointer"] == "/0/action"
    assert [(c["name"], c["passed"]) for c in report["cases"]] == [
        ("right", True),
        ("wrong key", False),
    ]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_the_command_exits_2_without_case_files(tmp_path: Path, make: str) -> None:
    target = tmp_path / "nothing"
    if make == "empty":
        target.mkdir()
    code, _, err = _cli(str(target))
    assert code == 2
    assert str(target) in err


def test_the_shell_commands_of_the_getting_started_page_work(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    commands = [
        shlex.split(line)
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
        for line in block.splitlines()
        if line.strip()
    ]
    assert [command[:2] for command in commands] == [
        ["actionkit", "validate"],
        ["actionkit", "test"],
        ["pytest", "-q"],
        ["actionkit", "run"],
    ]
    monkeypatch.chdir(ROOT)
    for command in commands:
        if command[0] == "actionkit":
            result = CliRunner().invoke(cli, command[1:])
            assert result.exit_code == 0, (command, result.output)
        else:
            args = [str(ROOT / arg) if "/" in arg else arg for arg in command[1:]]
            pytester.runpytest("-p", "no:cacheprovider", *args).assert_outcomes(passed=5)
