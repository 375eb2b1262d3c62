"""``actionkit run`` (the main job) and ``actionkit dlq``, end to end on the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    not_json = [d for d in report["deliveries"] if "error" in d]
    assert len(not_json) == 1
    assert "not JSON" in not_json[0]["error"]


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
    unparsed = [d["line"] for d in deliveries if "error" in d]
    assert unparsed == [1, 4, 6]
    assert {d["line"] for d in deliveries} == {1, 2, 4, 5, 6}  # the blank line is skipped
