"""``actionkit validate``: every kind of file, inline triggers, and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "destinations" / "contentstack" / "tests"


def validate(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(cli, ["validate", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_each_kind_of_file_is_detected_and_checked(tmp_path: Path) -> None:
    trigger = tmp_path / "orders.fql"
    trigger.write_text('event = "Order Completed"\n')
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text('order: {"@path": "$.properties.order_id"}\n')
    code, report = validate(
        str(ROOT / "destinations" / "contentstack"),
        str(ROOT / "examples" / "contentstack.yaml"),
        str(sorted(CASES.glob("*.yaml"))[0]),
        str(trigger),
        str(mapping),
    )
    assert code == 0, report
    kinds = [entry["kind"] for entry in report]
    assert kinds == ["destination", "instance", "test cases", "trigger", "mapping"]
    assert all(entry["valid"] and entry["problems"] == [] for entry in report)


def test_a_bad_mapping_has_every_problem_with_pointer_and_line(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text('a: {"@path": 5}\nb:\n  c: {"@nope": 1}\n')
    code, [entry] = validate(str(mapping))
    assert code == 1
    assert entry["kind"] == "mapping"
    assert entry["valid"] is False
    found = {(problem["pointer"], problem["line"]) for problem in entry["problems"]}  # type: ignore[union-attr]
    assert ("/a/@path", 1) in found
    assert any(pointer.startswith("/b/c") and line == 3 for pointer, line in found)


def test_a_bad_trigger_file_reports_its_column(tmp_path: Path) -> None:
    trigger = tmp_path / "bad.fql"
    trigger.write_text('type = "track" and\n')
    code, [entry] = validate(str(trigger))
    assert code == 1
    assert entry["problems"][0]["code"] == "TRIGGER_SYNTAX"  # type: ignore[index]
    assert entry["problems"][0]["pointer"] == "column 19"  # type: ignore[index]


def test_inline_triggers_are_checked_beside_files() -> None:
    code, report = validate(
        str(ROOT / "examples" / "mappings" / "order-completed.json"),
        "--trigger",
        'type = "track"',
        "--trigger",
        "type = ",
    )
    assert code == 1
    assert [(entry["kind"], entry["valid"]) for entry in report] == [
        ("mapping", True),
        ("trigger", True),
        ("trigger", False),
    ]
    assert report[2]["expression"] == "type = "
    assert report[2]["path"] is None


def test_human_output_puts_ok_on_stdout_and_problems_on_stderr(tmp_path: Path) -> None:
    trigger = tmp_path / "bad.fql"
    trigger.write_text("type = \n")
    result = CliRunner().invoke(
        cli, ["validate", str(ROOT / "examples" / "contentstack.yaml"), str(trigger)]
    )
    assert result.exit_code == 1
    assert result.stdout == f"ok      {ROOT / 'examples' / 'contentstack.yaml'} (instance)\n"
    assert f"invalid {trigger} (trigger)" in result.stderr
    assert f"  {trigger}: column 7: " in result.stderr
    assert "[TRIGGER_SYNTAX]" in result.stderr


def test_a_bad_test_case_file_is_refused_with_its_pointer(tmp_path: Path) -> None:
    folder = tmp_path / "dest"
    (folder / "tests").mkdir(parents=True)
    (folder / "destination.yaml").write_text(
        (ROOT / "destinations" / "contentstack" / "destination.yaml").read_text()
    )
    cases = folder / "tests" / "bad.yaml"
    cases.write_text("- name: no such action\n  action: nope\n  event: {type: track}\n")
    code, [entry] = validate(str(cases))
    assert code == 1
    assert entry["kind"] == "test cases"
    assert entry["problems"]


def test_nothing_to_check_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Give at least one PATH or --trigger EXPR" in result.stderr


def test_a_trigger_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    trigger = tmp_path / "orders.fql"
    trigger.write_bytes(b'type = "track"\n and event = "caf\xe9"\n')
    code, report = validate(str(trigger))
    assert code == 1
    assert [(p["code"], p["line"]) for p in report[0]["problems"]] == [("NOT_UTF8", 2)]
    assert report[0]["kind"] == "trigger"
