"""What ``actionkit run`` says at its end, and how the commands treat a file they cannot read."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli._run_summary import (
    MAX_DISTINCT_REASONS,
    OTHER_REASONS,
    SHOWN_USERS,
    ReasonTally,
    reason_of,
)
from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "examples" / "events.jsonl"
INSTANCE = ROOT / "examples" / "contentstack.yaml"
EVENT = ROOT / "examples" / "events" / "order-completed.json"


@pytest.mark.parametrize(
    "args",
    [
        ["try", "{missing}", str(EVENT)],
        ["try", "{missing}", str(EVENT), "--json"],
        ["run", str(EVENTS), "--instance", "{missing}"],
        ["run", str(EVENTS), "--instance", "{missing}", "--json"],
        ["run", str(EVENTS), "--instance", "{directory}"],
    ],
)
def test_an_unreadable_instance_is_a_usage_error_said_once(tmp_path: Path, args: list[str]) -> None:
    names = {"missing": str(tmp_path / "nope.yaml"), "directory": str(tmp_path)}
    result = CliRunner().invoke(cli, [arg.format(**names) for arg in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("Cannot read") == 1, result.stderr
    assert result.stderr.startswith("Error: Cannot read ")


def _dry_run(*extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["run", str(EVENTS), "--instance", str(INSTANCE), "--dry-run", *extra]
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_json_report_counts_every_reason_for_what_was_not_sent() -> None:
    code, out, _ = _dry_run("--json")
    assert code == 0
    report = json.loads(out)
    expected: Counter[tuple[str, str]] = Counter()
    for delivery in report["deliveries"]:
        if delivery["outcome"] in {"invalid", "filtered", "dead_lettered"}:
            expected[(delivery["outcome"], delivery.get("action") or "(event)")] += 1
    counted: Counter[tuple[str, str]] = Counter()
    for row in report["reasons"]:
        action = "(event)" if row["action"] == "(not JSON)" else row["action"]
        counted[(row["outcome"], action)] += row["count"]
    assert counted == expected
    missing_user = [
        row
        for row in report["reasons"]
        if row["action"] == "eventsSync" and row["reason"].startswith("/userId: ")
    ]
    invalid_events = sum(
        1
        for d in report["deliveries"]
        if d.get("action") == "eventsSync" and d["outcome"] == "invalid"
    )
    assert [row["count"] for row in missing_user] == [invalid_events]
    assert missing_user[0]["reason"] == (
        "/userId: The payload is missing the required field 'userId'. "
        "[PAYLOAD_REQUIRED_FIELD_MISSING]"
    )


def test_the_summary_on_a_terminal_lists_the_commonest_reasons() -> None:
    code, out, _ = _dry_run()
    assert code == 0
    assert "Why events were not sent" in out
    lines = [line for line in out.splitlines() if line.startswith(("invalid ", "filtered "))]
    assert any("eventsSync" in line and "/userId: " in line for line in lines)
    assert any("integrations[" in line for line in lines if line.startswith("filtered"))


def test_reasons_name_the_first_problem_or_the_filter_or_the_error() -> None:
    problems = [
        {"pointer": "/a", "message": "A is wrong.", "code": "X"},
        {"pointer": "/b", "message": "B too.", "code": "Y"},
    ]
    assert (
        reason_of({"outcome": "invalid", "errors": problems}) == "/a: A is wrong. [X] (and 1 more)"
    )
    assert reason_of({"outcome": "filtered", "reason": "integrations.All is false"}) == (
        "integrations.All is false"
    )
    assert reason_of(
        {"outcome": "dead_lettered", "error_message": "Answered 400.", "error_code": "HTTP_400"}
    ) == ("Answered 400. [HTTP_400]")


def test_the_tally_keeps_a_bounded_number_of_reasons_and_loses_no_count() -> None:
    tally = ReasonTally()
    total = MAX_DISTINCT_REASONS + 250
    for n in range(total):
        tally.add("a", {"outcome": "invalid", "error_message": f"value {n} is wrong"})
    tally.add("a", {"outcome": "delivered"})
    rows = tally.rows()
    assert len(rows) == MAX_DISTINCT_REASONS + 1
    assert sum(row["count"] for row in rows) == total
    assert rows[0] == {"outcome": "invalid", "action": "a", "reason": OTHER_REASONS, "count": 250}


def test_an_emulator_state_of_many_users_is_summarised_and_whole_in_json(tmp_path: Path) -> None:
    users = SHOWN_USERS + 7
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"type": "track", "event": "Viewed", "userId": f"u{n:03d}"}) + "\n"
            for n in range(users)
        )
    )
    base = ["run", str(events), "--instance", str(INSTANCE), "--emulate"]
    base += ["--dead-letters", str(tmp_path / "dl.sqlite")]
    text = CliRunner().invoke(cli, base)
    assert text.exit_code == 0, text.stderr
    shown = [line for line in text.stdout.splitlines() if line.strip().startswith("u0")]
    assert len(shown) == SHOWN_USERS
    assert f"... and {users - SHOWN_USERS} more users (the whole state: --json)" in text.stdout
    assert f"{users} users, {users} events" in text.stdout
    whole = CliRunner().invoke(cli, [*base, "--json"])
    assert whole.exit_code == 0, whole.stderr
    state = json.loads(whole.stdout)["emulator_state"]
    assert len(state["projects"]["example-project"]["users"]) == users


def test_try_says_the_payload_where_the_json_keeps_segment_s_sentence(tmp_path: Path) -> None:
    event = tmp_path / "anonymous.json"
    event.write_text(json.dumps({"type": "track", "anonymousId": "a-1", "event": "X"}))
    human = CliRunner().invoke(cli, ["try", str(INSTANCE), str(event)])
    assert "/userId: The payload is missing the required field 'userId'." in human.stdout
    as_json = CliRunner().invoke(cli, ["try", str(INSTANCE), str(event), "--json"])
    messages = [
        error["message"]
        for entry in json.loads(as_json.stdout)["mappings"]
        for error in entry["errors"]
    ]
    assert "The root value is missing the required field 'userId'." in messages
