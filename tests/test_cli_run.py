"""``actionkit run`` (the main job) and ``actionkit dlq``, end to end on the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from framework.cli.main import cli
from framework.emulators.contentstack import ContentstackEmulator
from framework.emulators.server import Fault

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "examples" / "events.jsonl"
INSTANCE = ROOT / "examples" / "contentstack.yaml"


def run_example(mode: str, store: Path) -> Any:
    """``actionkit run`` on the bundled example in ``mode``; returns the JSON report."""
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(EVENTS), "--instance", str(INSTANCE), mode),
            *("--json", "--dead-letters", str(store)),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.output)


def test_the_main_job_accounts_for_every_line(tmp_path: Path) -> None:
    report = run_example("--emulate", tmp_path / "dl.sqlite")
    lines = [n for n, text in enumerate(EVENTS.read_text().splitlines(), 1) if text.strip()]
    assert sorted({d["line"] for d in report["deliveries"]}) == lines
    outcomes = {d["outcome"] for d in report["deliveries"]}
    assert outcomes <= {"delivered", "not_subscribed", "filtered", "invalid"}
    delivered_events = sum(
        1
        for d in report["deliveries"]
        if d.get("action") == "eventsSync" and d["outcome"] == "delivered"
    )
    users = report["emulator_state"]["projects"]["example-project"]["users"]
    assert sum(len(user["events"]) for user in users.values()) == delivered_events
    not_json = [d for d in report["deliveries"] if d.get("error_code") == "EVENT_JSON_INVALID"]
    assert len(not_json) == 1
    assert not_json[0]["errors"][0]["code"] == "SYNTAX"


def test_dry_run_builds_requests_and_sends_nothing(tmp_path: Path) -> None:
    report = run_example("--dry-run", tmp_path / "dl.sqlite")
    planned = [d for d in report["deliveries"] if d["outcome"] == "dry_run"]
    assert planned
    assert planned[0]["request"]["url"].startswith("https://eu-personalize-edge.contentstack.com/")
    assert not (tmp_path / "dl.sqlite").exists()


def test_dead_letters_can_be_listed_shown_and_replayed(tmp_path: Path) -> None:
    store = tmp_path / "dl.sqlite"
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(
                {"type": "track", "userId": f"u{i}", "event": "Bought", "messageId": f"m{i}"}
            )
            for i in range(2)
        )
    )
    runner = CliRunner()
    with ContentstackEmulator() as emulator:
        instance = tmp_path / "instance.yaml"
        instance.write_text(
            yaml.safe_dump(
                {
                    "destination": "contentstack",
                    "name": "cs",
                    "settings": {
                        "personalizeProjectId": "p",
                        "personalizeEdgeApiBaseUrl": emulator.url,
                    },
                    "mappings": [{"name": "events", "preset": "events-sync"}],
                    "delivery": {"allowLoopback": True},
                }
            )
        )
        emulator.inject(Fault("status", status=400, count=2, path="/events"))
        failed = runner.invoke(
            cli, ["run", str(events), "--instance", str(instance), "--dead-letters", str(store)]
        )
        assert failed.exit_code == 1
        assert "2 deliveries dead-lettered" in failed.stderr
        header, rule, row = failed.stdout.splitlines()[:3]
        assert header.split() == ["action", "dead_lettered"]
        assert set(rule) == {"-"}
        assert row.split() == ["eventsSync", "2"]

        listed = runner.invoke(cli, ["dlq", "list", "--store", str(store), "--json"])
        # Two users' events are delivered concurrently: either may fail first.
        letters = sorted(json.loads(listed.output), key=lambda letter: letter["message_id"])
        assert [letter["message_id"] for letter in letters] == ["m0", "m1"]
        assert {letter["error_code"] for letter in letters} == {"INTEGRATION_ERROR"}

        human = runner.invoke(cli, ["dlq", "list", "--store", str(store)])
        assert human.stdout.splitlines()[0].split()[:3] == ["id", "created", "instance"]
        assert len(human.stdout.splitlines()) == 4

        letter_id = str(letters[0]["id"])
        shown = runner.invoke(cli, ["dlq", "show", "--store", str(store), letter_id, "--json"])
        assert json.loads(shown.stdout)["event"]["userId"] == "u0"
        shown = runner.invoke(cli, ["dlq", "show", "--store", str(store), letter_id])
        assert "error       INTEGRATION_ERROR: " in shown.stdout
        assert '    "userId": "u0",' in shown.stdout

        replayed = runner.invoke(
            cli, ["dlq", "replay", "--store", str(store), "--instance", str(instance), "--json"]
        )
        assert replayed.exit_code == 0, replayed.stderr
        report = json.loads(replayed.stdout)
        assert (report["replayed"], report["still_failing"]) == (2, 0)
        assert {letter["outcome"] for letter in report["letters"]} == {"delivered"}
        users = emulator.state()["projects"]["p"]["users"]
        assert sorted(users) == ["u0", "u1"]
    empty = runner.invoke(cli, ["dlq", "list", "--store", str(store)])
    assert "No dead letters." in empty.output
    missing = runner.invoke(cli, ["dlq", "show", "--store", str(store), "1", "--json"])
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"]["code"] == "NOT_FOUND"


def test_lines_that_are_not_json_are_reported_in_their_place_even_first_and_last() -> None:
    lines = [
        "oops",
        json.dumps({"type": "track", "userId": "u1", "event": "A"}),
        "",
        "{broken",
        json.dumps({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}),
        "[1, 2",
    ]
    result = CliRunner().invoke(
        cli,
        ["run", "-", "--instance", str(INSTANCE), "--dry-run", "--json"],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.stderr
    deliveries = json.loads(result.output)["deliveries"]
    numbers = [d["line"] for d in deliveries]
    assert numbers == sorted(numbers)
    unparsed = [d["line"] for d in deliveries if d.get("error_code") == "EVENT_JSON_INVALID"]
    assert unparsed == [1, 4, 6]
    assert {d["line"] for d in deliveries} == {1, 2, 4, 5, 6}  # the blank line is skipped


# -- the one rule for event JSON, line by line ----------------------------------------------

TRACK = json.dumps({"type": "track", "userId": "u1", "event": "A"}).encode()
IDENTIFY = json.dumps({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}).encode()

BAD_LINES = {
    "NUMBER_TOO_LONG": b'{"type": "track", "userId": "u1", "event": "A", "n": '
    + b"9" * 5000
    + b"}",
    "NOT_UTF8": b'{"type": "track", "userId": "u\xff", "event": "A"}',
    "TOO_DEEP": b"[" * 10_000 + b"]" * 10_000,
    "LONE_SURROGATE": b'{"type": "track", "userId": "\\ud800", "event": "A"}',
    "NON_FINITE_NUMBER": b'{"type": "track", "userId": "u1", "event": "A", "total": NaN}',
    "SYNTAX": b"{broken",
}


def run_bytes(data: bytes, *args: str) -> Any:
    """``actionkit run -`` on ``data`` (bytes on stdin), dry run, with --json; the report."""
    result = CliRunner().invoke(
        cli, ["run", "-", "--instance", str(INSTANCE), "--dry-run", "--json", *args], input=data
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_a_line_breaking_the_json_rule_is_invalid_in_its_place_and_the_run_goes_on(
    reason: str,
) -> None:
    report = run_bytes(b"\n".join([TRACK, BAD_LINES[reason], IDENTIFY]) + b"\n")
    deliveries = report["deliveries"]
    [bad] = [d for d in deliveries if d["line"] == 2]
    assert (bad["outcome"], bad["error_code"]) == ("invalid", "EVENT_JSON_INVALID")
    assert bad["errors"][0]["code"] == reason
    assert {d["line"] for d in deliveries} == {1, 2, 3}
    assert any(d["line"] == 3 and d["outcome"] == "dry_run" for d in deliveries)
    assert report["summary"]["(not JSON)/invalid"] == 1


def test_the_location_of_a_bad_line_is_its_pointer_or_column() -> None:
    report = run_bytes(
        b"\n".join([BAD_LINES["LONE_SURROGATE"], BAD_LINES["NOT_UTF8"], BAD_LINES["TOO_DEEP"]])
    )
    by_line = {d["line"]: d for d in report["deliveries"]}
    assert by_line[1]["errors"][0]["pointer"] == "/userId"
    assert by_line[2]["column"] == BAD_LINES["NOT_UTF8"].index(b"\xff") + 1
    assert by_line[3]["column"] == 65  # the 65th bracket opens one level too many


def test_a_final_line_without_a_newline_is_read() -> None:
    report = run_bytes(TRACK + b"\n" + IDENTIFY)
    assert {d["line"] for d in report["deliveries"] if d["outcome"] == "dry_run"} == {1, 2}


def test_every_bad_line_of_a_file_is_reported_on_stderr_with_its_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([TRACK, *BAD_LINES.values(), IDENTIFY]) + b"\n")
    result = CliRunner().invoke(cli, ["run", str(events), "--instance", str(INSTANCE), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    reported = result.stderr.splitlines()
    assert [line.rsplit(" [", 1)[1].rstrip("]") for line in reported] == list(BAD_LINES)
    assert all(f"line {n}" in text for n, text in enumerate(reported, start=2))
    assert "Traceback" not in result.output + result.stderr
    [row] = [r for r in result.stdout.splitlines() if r.startswith("(not JSON)")]
    assert str(len(BAD_LINES)) in row.split()


def test_a_file_of_bad_lines_through_the_emulator_delivers_the_good_ones(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*BAD_LINES.values(), TRACK]))
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(events), "--instance", str(INSTANCE), "--emulate", "--json"),
            *("--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["(not JSON)/invalid"] == len(BAD_LINES)
    assert report["summary"]["eventsSync/delivered"] == 1
    users = report["emulator_state"]["projects"]["example-project"]["users"]
    assert len(users["u1"]["events"]) == 1


def test_a_real_stdin_of_bad_lines_never_gives_a_traceback(tmp_path: Path) -> None:
    data = b"\n".join([*BAD_LINES.values(), TRACK, IDENTIFY])  # no final newline
    done = subprocess.run(
        [
            *(sys.executable, "-m", "framework", "run", "-", "--instance", str(INSTANCE)),
            *("--emulate", "--json", "--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
        input=data,
        capture_output=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["(not JSON)/invalid"] == len(BAD_LINES)
    users = report["emulator_state"]["projects"]["example-project"]["users"]
    assert len(users["u1"]["events"]) == 1
    assert users["u1"]["attributes"] == {"plan": "pro"}
