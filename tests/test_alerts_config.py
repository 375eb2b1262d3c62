"""The ``alerts`` block: channels, thresholds and secrets, and each mistake at its pointer.

Mistakes are checked twice: through the sync loader (the schema speaks first) and through
``AlertConfig.from_mapping`` (for scripts that build the block themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sync_fixtures import instance_file, sync_document, user, write_sqlite

from framework.emulators import ContentstackEmulator
from framework.emulators.server import EmulatorServer, Fault, Request, Response
from framework.errors import DefinitionError
from framework.sync.alert_channels import PagerDutyChannel, SlackChannel, WebhookChannel
from framework.sync.alert_email import EmailChannel
from framework.sync.alerts import AlertConfig
from framework.sync.config import load_sync_config
from framework.sync.runner import run_sync

SOURCE = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users"}


def _problems(alerts: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(DefinitionError) as caught:
        AlertConfig.from_mapping(alerts)
    return [(p.pointer, p.code, p.message) for p in caught.value.problems]


def _load_problems(tmp_path: Path, alerts: dict[str, Any]) -> list[tuple[str, str]]:
    instance_file(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(DefinitionError) as caught:
        load_sync_config(sync_document(tmp_path, SOURCE, alerts=alerts), base_dir=tmp_path)
    return [(p.pointer, p.message) for p in caught.value.problems]


def test_every_channel_type_from_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T/B/secret")
    monkeypatch.setenv("PD_KEY", "k" * 32)
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    config = AlertConfig.from_mapping(
        {
            "maxRejectedShare": 0.05,
            "timeout": 3,
            "channels": [
                {"type": "slack", "webhookUrlEnv": "SLACK_URL"},
                {"type": "pagerduty", "routingKeyEnv": "PD_KEY", "severity": "error"},
                {
                    "type": "email",
                    "host": "smtp.example.com",
                    "from": "etl@example.com",
                    "to": "data@example.com",
                    "username": "etl",
                    "passwordEnv": "SMTP_PASSWORD",
                },
                {"type": "webhook", "webhookUrl": "https://example.com/a", "name": "ops"},
            ],
        }
    )
    slack, pagerduty, email, webhook = config.all_channels()
    assert isinstance(slack, SlackChannel)
    assert slack.url.endswith("/secret")
    assert isinstance(pagerduty, PagerDutyChannel)
    assert (pagerduty.routing_key, pagerduty.failed_severity) == ("k" * 32, "error")
    assert pagerduty.url == "https://events.pagerduty.com/v2/enqueue"
    assert isinstance(email, EmailChannel)
    assert (email.to, email.security, email.password, email.timeout) == (
        ("data@example.com",),
        "starttls",
        "pw",
        3.0,
    )
    assert isinstance(webhook, WebhookChannel)
    assert webhook.name == "ops"
    assert (config.max_rejected, config.max_rejected_share, config.count_limit) == (
        None,
        0.05,
        None,
    )
    for secret in ("secret", "k" * 32, "'pw'"):
        assert secret not in repr(config)


def test_the_old_single_webhook_is_a_webhook_channel() -> None:
    config = AlertConfig.from_mapping({"webhookUrl": "https://example.com/x", "maxRejected": 3})
    (channel,) = config.all_channels()
    assert isinstance(channel, WebhookChannel)
    assert (channel.name, channel.url, config.count_limit) == ("webhook", config.webhook_url, 3)


def test_mistakes_in_the_block_are_named_with_a_suggestion() -> None:
    problems = _problems(
        {
            "maxRejectedShare": 5,
            "chanels": [],
            "channels": [
                {"type": "slak", "webhookUrl": "https://x.example.com"},
                {"type": "pagerduty"},
                {"type": "email", "host": "smtp", "from": "a@b", "to": "c@d", "secruity": "ssl"},
                {"type": "webhook", "webhookUrl": "http://example.com/plain"},
                {"type": "pagerduty", "routingKey": "k", "severity": "fatal"},
            ],
        }
    )
    by_pointer = {pointer: (code, message) for pointer, code, message in problems}
    assert by_pointer["/chanels"][0] == "UNKNOWN_KEY"
    assert "Did you mean 'channels'?" in by_pointer["/chanels"][1]
    assert by_pointer["/channels/0/type"] == (
        "UNKNOWN_CHANNEL",
        "Unknown channel type 'slak'; the types are: webhook, slack, pagerduty, email. "
        "Did you mean 'slack'?",
    )
    assert by_pointer["/channels/1"] == (
        "MISSING_VALUE",
        "Give routingKey or routingKeyEnv (the name of a variable holding it).",
    )
    assert "Did you mean 'security'?" in by_pointer["/channels/2/secruity"][1]
    assert by_pointer["/channels/3/webhookUrl"][0] == "INVALID_URL"
    assert "Did you mean" not in by_pointer["/channels/4/severity"][1]
    assert (
        "the choices are: critical, error, warning, info" in by_pointer["/channels/4/severity"][1]
    )
    # The share is checked when the block is otherwise right.
    [(pointer, code, message)] = _problems(
        {"maxRejectedShare": 5, "channels": [{"type": "webhook", "webhookUrl": "https://x.io"}]}
    )
    assert (pointer, code) == ("/maxRejectedShare", "OUT_OF_RANGE")
    assert "from 0 to 1 (0.05 for 5%)" in message


def test_more_mistakes_each_at_its_pointer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    hook = {"type": "webhook", "webhookUrl": "https://x.example.com"}
    assert [p[:2] for p in _problems({"channels": [hook, hook]})] == [
        ("/channels/1/name", "DUPLICATE_NAME")
    ]
    assert [p[:2] for p in _problems({"webhookUrl": "https://x.io", "channels": [hook]})] == [
        ("/webhookUrl", "CONFLICT")
    ]
    assert [p[:2] for p in _problems({"maxRejected": 3})] == [("", "MISSING_VALUE")]
    unset = {"type": "slack", "webhookUrlEnv": "NOT_SET_ANYWHERE"}
    [(pointer, code, message)] = _problems({"channels": [unset]})
    assert (pointer, code) == ("/channels/0/webhookUrlEnv", "MISSING_VALUE")
    assert message == "Set the environment variable NOT_SET_ANYWHERE (it holds the webhookUrl)."
    email = {"type": "email", "host": "h", "from": "a@b", "to": [], "password": "pw"}
    found = {p[0]: p[1] for p in _problems({"channels": [email]})}
    assert found == {"/channels/0/to": "TYPE", "/channels/0/username": "MISSING_VALUE"}
    assert all("pw" not in p[2] for p in _problems({"channels": [email]}))


def test_the_sync_loader_reports_alert_mistakes_at_their_pointer(tmp_path: Path) -> None:
    problems = _load_problems(
        tmp_path,
        {
            "maxRejectedShare": 1.5,
            "channels": [
                {"type": "slak", "webhookUrl": "https://x.example.com"},
                {"type": "pagerduty", "routingKey": "k", "serverity": "error"},
                {"type": "email", "host": "smtp.example.com", "from": "a@example.com"},
                {"type": "pagerduty"},
            ],
        },
    )
    by_pointer = dict(problems)
    assert "Did you mean 'slack'?" in by_pointer["/alerts/channels/0/type"]
    assert "Did you mean 'severity'?" in by_pointer["/alerts/channels/1"]
    assert by_pointer["/alerts/channels/2"] == "The required key 'to' is missing."
    assert by_pointer["/alerts/channels/3"] == (
        "One of the keys 'routingKey' or 'routingKeyEnv' is needed here; there is none."
    )
    assert by_pointer["/alerts/maxRejectedShare"] == "1.5 is greater than the maximum of 1."
    for _, message in problems:
        assert "is not valid under" not in message


def test_a_sync_with_channels_alerts_each_and_a_failing_one_never_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts: list[tuple[str, Any]] = []

    class _Receiver:
        def handle(self, request: Request) -> Response:
            posts.append((request.path, request.json()))
            return Response(202 if request.path.startswith("/pd") else 200, "{}")

        def state(self) -> dict[str, Any]:
            return {}

        def reset(self) -> None:
            posts.clear()

    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 4)])
    with EmulatorServer(_Receiver()) as hooks, ContentstackEmulator(project_uid="proj") as api:
        monkeypatch.setenv("PD_ROUTING_KEY", "p" * 32)
        instance_file(tmp_path, api.url)
        alerts = {
            "state": "alerts.sqlite",
            "maxRejectedShare": 0.2,
            "channels": [
                {"type": "slack", "webhookUrl": f"{hooks.url}/slack"},
                {"type": "pagerduty", "routingKeyEnv": "PD_ROUTING_KEY", "url": f"{hooks.url}/pd"},
            ],
        }
        document = sync_document(tmp_path, SOURCE, alerts=alerts)
        config = load_sync_config(document, base_dir=tmp_path)
        api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
        hooks.inject(Fault("status", status=500, count=1, path="/slack"))
        assert run_sync(config).status == "partial"  # 1 of 3 rejected: 33% > 20%
        api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
        assert run_sync(config, full_resync=True).status == "partial"
        assert run_sync(config).status == "succeeded"
    # Run 1: PagerDuty triggered, Slack refused; run 2 (still rejecting): Slack is told now;
    # run 3: both hear of the recovery.
    told = [(path, body.get("event_action")) for path, body in posts]
    assert told[:2] == [("/pd", "trigger"), ("/slack", None)]
    assert sorted(told[2:], key=str) == [("/pd", "resolve"), ("/slack", None)]  # at once
    slack = [body["text"] for path, body in posts if path == "/slack"]
    assert slack[0].startswith(":warning: Sync users rejected 1 rows in run 2")
    assert slack[1].startswith(":white_check_mark: Sync users recovered: run 3")
