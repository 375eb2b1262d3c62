"""``actionkit destinations list|show``: the installed destinations and what one of them does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "destinations"
CONTENTSTACK = ROOT / "destinations" / "contentstack" / "destination.yaml"


def test_list_shows_the_bundled_and_the_extra_destinations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(FIXTURES))
    result = CliRunner().invoke(cli, ["destinations", "list", "--json"])
    assert result.exit_code == 0, result.output
    entries = {entry["slug"]: entry for entry in json.loads(result.stdout)}
    assert entries["contentstack"]["actions"] == [
        "eventsSync",
        "customAttributesSync",
        "mergeUsers",
        "audienceSync",
        "computedAttributeSync",
        "mergeAnonymousUser",
    ]
    assert entries["contentstack"]["name"] == "Contentstack Personalize"
    assert len(entries["contentstack"]["presets"]) == 10
    assert entries["test-webhook"]["actions"] == ["sendUser"]

    human = CliRunner().invoke(cli, ["destinations", "list"])
    lines = human.stdout.splitlines()
    assert lines[0].split() == ["slug", "name", "actions", "presets", "path"]
    row = next(line for line in lines if line.startswith("contentstack "))
    assert row.split()[-3:] == ["6", "10", str(CONTENTSTACK)]
    assert "\x1b[" not in human.output


def test_list_reports_a_definition_that_does_not_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "destination.yaml").write_text("name: Broken\nslug: broken\n")
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(tmp_path))
    result = CliRunner().invoke(cli, ["destinations", "list", "--json"])
    assert result.exit_code == 1
    broken = next(entry for entry in json.loads(result.stdout) if entry["slug"] == "broken")
    assert broken["error"]["code"] == "DEFINITION_INVALID"
    assert broken["error"]["problems"]
    human = CliRunner().invoke(cli, ["destinations", "list"])
    assert human.exit_code == 1
    assert "broken" in human.stdout
    assert "The destination definition is invalid." in human.stderr


def test_show_json_is_the_definition_as_written() -> None:
    result = CliRunner().invoke(cli, ["destinations", "show", "contentstack", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    written = yaml.safe_load(CONTENTSTACK.read_text())
    written.pop("$schema", None)
    assert shown.pop("path") == str(CONTENTSTACK)
    assert shown == written


def test_show_lists_settings_actions_fields_requests_and_presets() -> None:
    result = CliRunner().invoke(cli, ["destinations", "show", str(FIXTURES / "webhook")])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Test Webhook (test-webhook)\n")
    lines = text.splitlines()
    settings = lines.index("Settings")
    assert lines[settings + 1].split() == ["name", "type", "required", "default", "description"]
    assert lines[settings + 3].split() == ["baseUrl", "string", "yes", "Base", "URL"]
    assert lines[settings + 4].split() == ["apiKey", "password", "yes", "API", "key"]
    assert lines[settings + 5].split() == ["region", "string", "(eu", "|", "us)", '"eu"', "Region"]
    assert "Action sendUser: Send user" in lines
    assert '  trigger   type = "identify"' in lines
    assert (
        "  request   PUT {{settings.baseUrl}}/users/{{payload.userId}}?region={{settings.region}}"
        in lines
    )
    assert "            authorization: Bearer {{settings.apiKey}}" in lines
    tags = next(line for line in lines if line.strip().startswith("tags "))
    assert tags.split()[:3] == ["tags", "string[]", '{"@path":']
    assert "\x1b[" not in result.output


def test_show_an_unknown_destination_exits_1() -> None:
    result = CliRunner().invoke(cli, ["destinations", "show", "no-such-thing", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "DEFINITION_INVALID"
    assert "No destination 'no-such-thing'" in error["message"]


def test_show_says_where_more_headers_the_signature_and_the_batch_size_come_from() -> None:
    webhook = ROOT / "destinations" / "webhook"
    result = CliRunner().invoke(cli, ["destinations", "show", str(webhook)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    send = lines.index("Action send: Send")
    assert "  request   {{settings.method}} {{settings.url}}" in lines[send:]
    assert "            (more headers from {{settings.headers}})" in lines[send:]
    assert (
        "  signed    x-signature: HMAC-SHA1 of the body, key {{settings.sharedSecret}}"
        in lines[send:]
    )
    batch = next(line for line in lines if line.startswith("  batch "))
    assert "up to 1000 events (fewer if {{settings.batchSize}} says)" in batch
