"""``actionkit try``: every mapping's decision, payload, errors and request, with no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "examples" / "contentstack.yaml"
ORDER = ROOT / "examples" / "events" / "order-completed.json"
WEBHOOK = ROOT / "tests" / "fixtures" / "destinations" / "webhook"
API_KEY = "sk-live-0123456789"


def invoke(*args: str, event: Any = None) -> Result:
    stdin = None if event is None else json.dumps(event)
    return CliRunner().invoke(cli, ["try", *args], input=stdin)


@pytest.fixture
def webhook_instance(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "destination": str(WEBHOOK),
                "name": "hook",
                "settings": {"baseUrl": "https://api.example.com", "apiKey": API_KEY},
                "mappings": [
                    {"name": "Users", "action": "sendUser"},
                    {"name": "Off", "action": "sendUser", "enabled": False},
                ],
            }
        )
    )
    return path


def test_json_report_gives_each_mappings_decision_and_request() -> None:
    result = invoke(str(INSTANCE), str(ORDER), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["instance"], report["destination"]) == ("personalize-example", "contentstack")
    by_name = {entry["mapping"]: entry for entry in report["mappings"]}
    assert list(by_name) == ["Events", "Attributes", "Page views", "Merge on alias"]
    events = by_name["Events"]
    assert (events["status"], events["matched"], events["trigger"]) == (
        "ready",
        True,
        'type = "track"',
    )
    assert events["payload"] == {"userId": "user_00042", "event": "Order Completed"}
    assert events["request"]["method"] == "POST"
    assert events["request"]["url"] == "https://eu-personalize-edge.contentstack.com/events"
    assert events["request"]["headers"]["x-cs-personalize-user-uid"] == "user_00042"
    assert events["request"]["json"] == [{"type": "EVENT", "eventKey": "Order Completed"}]
    assert by_name["Merge on alias"]["status"] == "not_subscribed"
    assert by_name["Merge on alias"]["request"] is None


def test_human_report_reads_mapping_by_mapping() -> None:
    result = invoke(str(INSTANCE), str(ORDER))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Instance personalize-example (contentstack), 4 mappings\n")
    assert "Events (eventsSync): ready\n" in text
    assert "  request  POST https://eu-personalize-edge.contentstack.com/events\n" in text
    assert "           x-cs-personalize-user-uid: user_00042\n" in text
    assert '        "eventKey": "Order Completed"\n' in text
    assert "Merge on alias (mergeUsers): not subscribed\n" in text
    assert "  the trigger does not match this event.\n" in text
    assert "\x1b[" not in result.output


def test_passwords_are_masked_and_disabled_mappings_listed(webhook_instance: Path) -> None:
    event = {"type": "identify", "userId": "u1", "traits": {"age": 42}}
    human = invoke(str(webhook_instance), "-", event=event)
    scripted = invoke(str(webhook_instance), "-", "--json", event=event)
    assert human.exit_code == scripted.exit_code == 0, human.output + scripted.output
    for output in (human.output, scripted.output):
        assert API_KEY not in output
        assert "[REDACTED]" in output
    report = json.loads(scripted.stdout)
    users, off = report["mappings"]
    assert users["request"]["headers"]["authorization"] == "Bearer [REDACTED]"
    assert users["request"]["json"]["key_hint"] == "key=[REDACTED]"
    assert (off["status"], off["matched"], off["payload"]) == ("disabled", None, None)
    assert "Off (sendUser): disabled\n" in human.stdout
    assert "authorization: Bearer [REDACTED]" in human.stdout


def test_an_invalid_payload_exits_1_with_its_errors(webhook_instance: Path) -> None:
    event = {"type": "identify", "anonymousId": "a1", "traits": {"age": "old"}}
    result = invoke(str(webhook_instance), "-", "--json", event=event)
    assert result.exit_code == 1
    users = json.loads(result.stdout)["mappings"][0]
    assert users["status"] == "invalid"
    assert {error["pointer"] for error in users["errors"]} >= {"/age"}
    assert users["request"] is None
    human = invoke(str(webhook_instance), "-", event=event)
    assert human.exit_code == 1
    assert "Users (sendUser): invalid\n" in human.stdout
    assert "  error    /age: " in human.stdout


def test_filtered_by_the_integrations_object_says_why() -> None:
    event = {"type": "track", "userId": "u1", "event": "X", "integrations": {"All": False}}
    result = invoke(str(INSTANCE), "-", "--json", event=event)
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)["mappings"][0]
    assert (events["status"], events["matched"]) == ("filtered", True)
    assert events["reason"]
    human = invoke(str(INSTANCE), "-", event=event)
    assert f"  {events['reason']}.\n" in human.stdout


def test_an_event_that_is_not_a_segment_event_exits_1() -> None:
    result = invoke(str(INSTANCE), "-", "--json", event={"userId": "u1"})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "EVENT_INVALID"
    assert "EVENT_INVALID" in result.stderr


def test_an_invalid_instance_exits_1_with_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("destination: contentstack\nsettings: {}\nmappings: []\n")
    result = invoke(str(bad), str(ORDER))
    assert result.exit_code == 1
    assert "/settings" in result.stderr


def test_an_unreadable_event_file_exits_2(tmp_path: Path) -> None:
    result = invoke(str(INSTANCE), str(tmp_path / "missing.json"), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Cannot read the event file" in result.stderr
