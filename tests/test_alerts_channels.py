"""Alert channels over HTTP (generic webhook, Slack, PagerDuty), several per sync.

One real HTTP server on loopback (the emulator server) plays all three receivers, by path;
the alert state is a real SQLite file. Every threshold, every recovery path and a failing
channel; secrets (webhook URLs, routing keys) never in messages, errors, reprs or logs.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.emulators.server import EmulatorServer, Fault, Request, Response
from framework.sync.alert_channels import PagerDutyChannel, SlackChannel, WebhookChannel
from framework.sync.alerts import AlertConfig, notify_run, run_health

ROUTING_KEY = "R0UT1NGKEY0000000000000000000042"
SLACK_TOKEN = "xoxb-slack-secret"


class _Receivers:
    """Slack (200 "ok"), PagerDuty (202 with a JSON answer) and a webhook, by path."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []

    def handle(self, request: Request) -> Response:
        self.posts.append((request.path, request.json()))
        if request.path.startswith("/pagerduty"):
            return Response(202, '{"status": "success", "message": "Event processed"}')
        return Response(200, "ok")

    def at(self, prefix: str) -> list[Any]:
        return [body for path, body in self.posts if path.startswith(prefix)]

    def state(self) -> dict[str, Any]:
        return {"posts": list(self.posts)}

    def reset(self) -> None:
        self.posts.clear()


@pytest.fixture
def receivers() -> Iterator[tuple[EmulatorServer, _Receivers]]:
    handler = _Receivers()
    with EmulatorServer(handler) as server:
        yield server, handler


def _channels(url: str) -> tuple[SlackChannel, PagerDutyChannel, WebhookChannel]:
    return (
        SlackChannel(f"{url}/slack/{SLACK_TOKEN}"),
        PagerDutyChannel(ROUTING_KEY, url=f"{url}/pagerduty/v2/enqueue", source="etl-host"),
        WebhookChannel(f"{url}/hook"),
    )


def _run(status: str, run_id: int, rejected: int = 0, succeeded: int = 100, **extra: Any) -> dict:
    return {
        "sync": "users",
        "status": status,
        "run_id": run_id,
        "counts": {"rejected": rejected, "succeeded": succeeded},
        **extra,
    }


def test_slack_gets_text_and_blocks_for_a_failure_and_its_recovery(
    receivers: Any, tmp_path: Path
) -> None:
    server, handler = receivers
    slack = SlackChannel(f"{server.url}/slack/{SLACK_TOKEN}")
    config = AlertConfig(channels=(slack,))
    state = tmp_path / "alerts.sqlite"
    error = "The source cannot be read: <table> & more."
    assert notify_run(_run("failed", 1, error=error), config, state).sent
    assert notify_run(_run("succeeded", 2), config, state).sent
    failure, recovery = handler.at("/slack")
    assert failure["text"].startswith(":rotating_light: Sync users failed (run 1)")
    assert "&lt;table&gt; &amp; more." in failure["text"]  # mrkdwn's three escapes
    section, fields, context = failure["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": failure["text"]}}
    assert {"type": "mrkdwn", "text": "*Status*\nfailed (was unknown)"} in fields["fields"]
    assert context["elements"][0]["text"] == "`actionkit runs show 1`"
    assert recovery["text"] == (
        ":white_check_mark: Sync users recovered: run 2 succeeded (was failed)."
    )
    assert len(recovery["blocks"]) == 2


def test_pagerduty_triggers_then_resolves_with_one_dedup_key(
    receivers: Any, tmp_path: Path
) -> None:
    server, handler = receivers
    _, pagerduty, _ = _channels(server.url)
    config = AlertConfig(max_rejected=5, channels=(pagerduty,))
    state = tmp_path / "alerts.sqlite"
    sent = [
        notify_run(_run("partial", 1, rejected=6), config, state).sent,
        notify_run(_run("partial", 2, rejected=7), config, state).sent,  # unchanged
        notify_run(_run("failed", 3, error="Boom."), config, state).sent,
        notify_run(_run("succeeded", 4), config, state).sent,
    ]
    assert sent == [True, False, True, True]
    rejected, failed, resolved = handler.at("/pagerduty")
    assert rejected["routing_key"] == ROUTING_KEY
    assert rejected["event_action"] == failed["event_action"] == "trigger"
    assert rejected["dedup_key"] == failed["dedup_key"] == resolved["dedup_key"]
    assert rejected["dedup_key"] == "actionkit-sync:users"
    assert rejected["payload"]["severity"] == "warning"
    assert failed["payload"]["severity"] == "critical"
    assert failed["payload"]["summary"] == "Sync users failed (run 3): Boom."
    assert failed["payload"]["source"] == "etl-host"
    assert failed["payload"]["custom_details"]["status"] == "failed"
    assert resolved == {
        "routing_key": ROUTING_KEY,
        "dedup_key": "actionkit-sync:users",
        "event_action": "resolve",
    }


def test_every_channel_gets_one_alert_per_change(receivers: Any, tmp_path: Path) -> None:
    server, handler = receivers
    config = AlertConfig(channels=_channels(server.url))
    state = tmp_path / "alerts.sqlite"
    assert not notify_run(_run("succeeded", 1), config, state).sent  # a first ok run
    outcome = notify_run(_run("failed", 2), config, state)
    assert [(c.name, c.kind, c.sent) for c in outcome.channels] == [
        ("slack", "slack", True),
        ("pagerduty", "pagerduty", True),
        ("webhook", "webhook", True),
    ]
    assert [c.previous for c in outcome.channels] == ["ok", "ok", "ok"]
    assert len(handler.posts) == 3
    webhook = handler.at("/hook")[0]
    assert webhook["actionkit"]["status"] == "failed"
    assert webhook["text"].startswith(":rotating_light: Sync users failed (run 2)")


def test_a_failing_channel_stops_neither_the_others_nor_is_forgotten(
    receivers: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, handler = receivers
    config = AlertConfig(channels=_channels(server.url))
    state = tmp_path / "alerts.sqlite"
    server.inject(Fault("status", status=503, count=1, path=f"/slack/{SLACK_TOKEN}"))
    with caplog.at_level(logging.DEBUG):  # httpx logs each request's URL at INFO
        first = notify_run(_run("failed", 1), config, state)
    assert not first.sent
    assert first.error == "The Slack webhook answered HTTP 503."
    assert [c.sent for c in first.channels] == [False, True, True]
    assert "on channel slack will be sent after its next run" in caplog.text
    assert f"POST {server.url}/…" in caplog.text  # httpx's line, the token hidden
    # The next run still fails: only Slack, which missed it, is told now.
    with caplog.at_level(logging.DEBUG):
        second = notify_run(_run("failed", 2), config, state)
    assert [c.sent for c in second.channels] == [True, False, False]
    told = [path.split("/")[1] for path, _ in handler.posts]
    assert (sorted(told[:2]), told[2:]) == (["hook", "pagerduty"], ["slack"])
    # A recovery reaches every channel.
    third = notify_run(_run("succeeded", 3), config, state)
    assert [c.sent for c in third.channels] == [True, True, True]
    for text in (caplog.text, repr(first), repr(second), repr(third), repr(config)):
        assert ROUTING_KEY not in text
        assert SLACK_TOKEN not in text


def test_a_channel_that_cannot_be_reached(tmp_path: Path) -> None:
    slack = SlackChannel(f"http://127.0.0.1:9/slack/{SLACK_TOKEN}")
    outcome = notify_run(_run("failed", 1), AlertConfig(channels=(slack,)), tmp_path / "s")
    assert outcome.error == "The Slack webhook could not be reached (ConnectError)."


@pytest.mark.parametrize(
    ("settings", "rejected", "succeeded", "health"),
    [
        ({}, 0, 100, "ok"),
        ({}, 1, 99, "rejected"),
        ({"max_rejected": 10}, 10, 90, "ok"),
        ({"max_rejected": 10}, 11, 89, "rejected"),
        ({"max_rejected_share": 0.05}, 5, 95, "ok"),
        ({"max_rejected_share": 0.05}, 6, 94, "rejected"),
        ({"max_rejected_share": 0.05}, 40, 960, "ok"),  # 4%: the count alone does not alert
        ({"max_rejected_share": 0.0}, 1, 10_000, "rejected"),
        ({"max_rejected": 50, "max_rejected_share": 0.05}, 51, 10_000, "rejected"),
        ({"max_rejected": 50, "max_rejected_share": 0.05}, 6, 94, "rejected"),
        ({"max_rejected": 50, "max_rejected_share": 0.05}, 5, 95, "ok"),
    ],
)
def test_thresholds(settings: dict[str, Any], rejected: int, succeeded: int, health: str) -> None:
    config = AlertConfig("https://hooks.example.com/x", **settings)
    run = _run("partial", 1, rejected=rejected, succeeded=succeeded)
    assert run_health(run, config.count_limit, config.max_rejected_share) == health


def test_the_share_threshold_alerts_and_says_so(receivers: Any, tmp_path: Path) -> None:
    server, handler = receivers
    config = AlertConfig(f"{server.url}/hook", max_rejected_share=0.05)
    state = tmp_path / "alerts.sqlite"
    assert not notify_run(_run("partial", 1, rejected=4, succeeded=96), config, state).sent
    assert notify_run(_run("partial", 2, rejected=8, succeeded=92), config, state).sent
    details = handler.at("/hook")[0]["actionkit"]
    assert details["rejected_share"] == 0.08
    assert details["max_rejected_share"] == 0.05
    assert details["max_rejected"] is None
    assert "more than 5.00% of the rows sent" in handler.at("/hook")[0]["text"]
    assert "8.00% of the 100 rows sent" in handler.at("/hook")[0]["text"]


def test_a_state_file_from_before_channels_carries_on(receivers: Any, tmp_path: Path) -> None:
    """The old table's status is the old single webhook's: its recovery is still sent."""
    server, handler = receivers
    state = tmp_path / "alerts.sqlite"
    with sqlite3.connect(state) as db:
        db.execute(
            "CREATE TABLE alert_state (sync TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "run_id INTEGER, changed_at TEXT NOT NULL)"
        )
        db.execute("INSERT INTO alert_state VALUES ('users', 'failed', 4, '2026-12-01')")
    db.close()
    legacy = AlertConfig(f"{server.url}/hook")
    outcome = notify_run(_run("succeeded", 5), legacy, state)
    assert (outcome.previous, outcome.sent) == ("failed", True)
    assert handler.at("/hook")[0]["actionkit"]["previous_status"] == "failed"
    # A channel added later starts afresh (a first ok run: nothing to say).
    slack = SlackChannel(f"{server.url}/slack/x", name="team")
    both = AlertConfig(f"{server.url}/hook", channels=(slack,))
    assert not notify_run(_run("succeeded", 6), both, state).sent
    assert handler.at("/slack") == []
