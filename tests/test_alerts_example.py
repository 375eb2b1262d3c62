"""The shipped alerts example (examples/sync/alerts/) loads and validates once its secrets are
set, and says which variable is missing when one is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from framework.cli.main import cli
from framework.sync.config import load_sync_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sync" / "alerts"
SYNC = EXAMPLE / "users-alerts.sync.yaml"
SECRETS = {
    "SLACK_ALERTS_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
    "SMTP_PASSWORD": "example-password",
}


def test_the_alerts_example_loads_with_its_three_channels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = load_sync_config(SYNC)
    assert config.alerts is not None
    kinds = [channel.kind for channel in config.alerts.all_channels()]
    assert kinds == ["slack", "pagerduty", "email"]
    assert (config.alerts.max_rejected, config.alerts.max_rejected_share) == (100, 0.05)
    result = CliRunner().invoke(cli, ["validate", str(SYNC), "--json"])
    assert result.exit_code == 0, result.output
    for value in SECRETS.values():
        assert value not in result.output


def test_the_alerts_example_names_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY")
    result = CliRunner().invoke(cli, ["validate", str(SYNC), "--json"])
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)
    problems = [(p["pointer"], p["code"], p["message"]) for p in entry["problems"]]
    assert problems == [
        (
            "/alerts/channels/1/routingKeyEnv",
            "MISSING_VALUE",
            "Set the environment variable PAGERDUTY_ROUTING_KEY (it holds the routingKey).",
        )
    ]
