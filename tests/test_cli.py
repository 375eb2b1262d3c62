"""The ``actionkit trigger`` and ``actionkit map`` commands: output, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_EVENT = ROOT / "examples" / "events" / "order-completed.json"
EXAMPLE_MAPPING = ROOT / "examples" / "mappings" / "order-completed.json"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_trigger_reports_match_canonical_form_and_segment_ast(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["trigger", 'type = "track" and properties.total > 100', str(EXAMPLE_EVENT), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["matches"] is True
    assert report["fql"] == 'type = "track" and properties.total > 100'
    assert report["segment_ast"]["children"][1] == {
        "type": "event-property",
        "name": "total",
        "operator": ">",
        "value": 100,
    }
    assert report["lint"] == []


def test_trigger_reads_the_event_from_stdin(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["trigger", 'type = "track"', "-", "--json"], input='{"type": "page"}'
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matches"] is False


def test_trigger_without_event_only_parses(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trigger", 'type = "a" and type = "b" or type = "c"', "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "matches" not in report
    assert report["lint"], "mixing and/or without parentheses must be linted"


def test_trigger_syntax_error_exits_1_with_caret(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trigger", 'type = "track" and'])
    assert result.exit_code == 1
    assert "TRIGGER_SYNTAX" in result.stderr
    lines = result.stderr.splitlines()
    caret = next(line for line in lines if line.strip() == "^")
    expression_line = lines[lines.index(caret) - 1]
    assert expression_line == 'type = "track" and'
    assert caret.index("^") == len('type = "track" and')


def test_trigger_syntax_error_with_json_prints_the_error_document(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trigger", 'type = "track" and', "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "TRIGGER_SYNTAX"
    assert error["problems"][0]["pointer"] == "column 19"


def test_trigger_prints_a_readable_report_with_the_parse_tree(runner: CliRunner) -> None:
    expression = 'type = "track" and (properties.total > 100 or not (event = "x"))'
    result = runner.invoke(cli, ["trigger", expression, str(EXAMPLE_EVENT)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Trigger   {expression}"
    tree = "\n".join(lines[1:8])
    assert tree == (
        "trigger\n"
        "└── and (all of)\n"
        '    ├── type = "track"\n'
        "    └── or (any of)\n"
        "        ├── properties.total > 100\n"
        "        └── not\n"
        '            └── event = "x"'
    )
    assert lines[8].startswith("Segment   ")
    assert any(line.startswith("Lint      warning: ") for line in lines)
    assert lines[-1] == f"Event     matches ({EXAMPLE_EVENT})"
    assert "\x1b[" not in result.output


def test_trigger_report_says_when_segment_cannot_express_it(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trigger", "properties.items[0] = 1"])
    assert result.exit_code == 0, result.output
    assert "Segment   cannot express it: " in result.stdout
    assert "Event" not in result.stdout


def test_trigger_report_says_when_the_event_does_not_match(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["trigger", 'type = "identify"', "-"], input='{"type": "page"}')
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "Event     does not match (-)"
    assert "Lint      no warnings" in result.stdout
    assert "Segment   its condition structure can express it" in result.stdout


def test_trigger_with_unreadable_event_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["trigger", 'type = "track"', str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "Cannot read the event file" in result.stderr


def test_map_resolves_the_bundled_example(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["map", str(EXAMPLE_MAPPING), str(EXAMPLE_EVENT), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["eventKey"] == "Order Completed"
    assert payload["userUid"] == "user_00042"
    assert payload["email"] == "ada.lovelace@example.com"
    assert payload["order"]["skus"] == ["sku-003", "sku-007"]
    assert payload["summary"] == "ord_7c1d2e3f4a: 152.47 GBP"
    assert payload["section"] == "checkout"
    assert payload["coupon"] == "SAVE5"


def test_map_prints_the_payload_as_indented_json_for_people(runner: CliRunner) -> None:
    human = runner.invoke(cli, ["map", str(EXAMPLE_MAPPING), str(EXAMPLE_EVENT)])
    scripted = runner.invoke(cli, ["map", str(EXAMPLE_MAPPING), str(EXAMPLE_EVENT), "--json"])
    assert human.exit_code == 0, human.output
    assert json.loads(human.stdout) == json.loads(scripted.stdout)
    assert human.stdout.splitlines()[1].startswith('  "eventKey": ')
    assert "\x1b[" not in human.stdout


def test_map_lists_every_problem_with_its_pointer(runner: CliRunner, tmp_path: Path) -> None:
    mapping = tmp_path / "bad.json"
    mapping.write_text(json.dumps({"a": {"@path": 5}, "b": {"@nope": 1}}))
    result = runner.invoke(cli, ["map", str(mapping), str(EXAMPLE_EVENT)])
    assert result.exit_code == 1
    assert "MAPPING_INVALID" in result.stderr
    assert "/a/@path" in result.stderr
    assert "/b" in result.stderr


def test_map_problems_with_json_are_one_document_on_stdout(
    runner: CliRunner, tmp_path: Path
) -> None:
    mapping = tmp_path / "bad.json"
    mapping.write_text(json.dumps({"a": {"@path": 5}, "b": {"@nope": 1}}))
    result = runner.invoke(cli, ["map", str(mapping), str(EXAMPLE_EVENT), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "MAPPING_INVALID"
    assert error["source"] == str(mapping)
    assert [problem["pointer"] for problem in error["problems"]][:1] == ["/a/@path"]


def test_map_rejects_an_event_that_is_not_an_object(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["map", str(EXAMPLE_MAPPING), "-"], input="[1, 2]")
    assert result.exit_code == 1
    assert "EVENT_INVALID" in result.stderr


def test_map_reports_bad_json_with_line_and_column(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["map", str(EXAMPLE_MAPPING), "-"], input='{"type": }')
    assert result.exit_code == 2
    assert "line 1, column 10" in result.stderr
