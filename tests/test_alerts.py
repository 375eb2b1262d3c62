"""Alerts on sync runs: one webhook message per change of health, and one on recovery.

The webhook is a real HTTP server on loopback (the emulator server with a receiver that
keeps what it is posted); the alert state is a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.emulators.server import EmulatorServer, Fault, Request, Response
from framework.errors import DefinitionError
from framework.sync.alerts import AlertConfig, notify_run, run_health
from framework.sync.history import RunHistory
from framework.sync.runner import SyncResult


class _Receiver:
    """A webhook that answers 200 "ok", as Slack's incoming webhooks do."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def handle(self, request: Request) -> Response:
        self.messages.append(request.json())
        return Response(200, "ok")

    def state(self) -> dict[str, Any]:
        return {"messages": list(self.messages)}

    def reset(self) -> None:
        self.messages.clear()


@pytest.fixture
def webhook() -> Iterator[tuple[EmulatorServer, _Receiver]]:
    receiver = _Receiver()
    with EmulatorServer(receiver) as server:
        yield server, receiver


def _run(status: str, rejected: int = 0, run_id: int = 1, **extra: Any) -> dict[str, Any]:
    return {"sync": "users", "status": status, "rejected": rejected, "run_id": run_id, **extra}


def test_a_first_run_that_is_ok_sends_nothing(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    outcome = notify_run(_run("succeeded"), config, tmp_path / "alerts.sqlite")
    assert (outcome.status, outcome.previous, outcome.sent) == ("ok", None, False)
    assert receiver.messages == []


def test_failure_alerts_once_then_recovery_alerts_once(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    state = tmp_path / "alerts.sqlite"
    runs = [
        _run("succeeded", run_id=1),
        _run("failed", run_id=2, error="The source cannot be read."),
        _run("failed", run_id=3, error="The source cannot be read."),
        _run("succeeded", run_id=4),
        _run("succeeded", run_id=5),
    ]
    sent = [notify_run(run, config, state).sent for run in runs]
    assert sent == [False, True, False, True, False]
    first, second = receiver.messages
    assert first["text"].startswith(":rotating_light: Sync users failed (run 2)")
    assert "The source cannot be read." in first["text"]
    assert first["actionkit"]["status"] == "failed"
    assert first["actionkit"]["previous_status"] == "ok"
    assert second["text"].startswith(":white_check_mark: Sync users recovered: run 4")
    assert second["actionkit"]["previous_status"] == "failed"


def test_rejected_rows_alert_only_over_the_threshold(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook", max_rejected=10)
    state = tmp_path / "alerts.sqlite"
    assert not notify_run(_run("partial", rejected=10, run_id=1), config, state).sent
    outcome = notify_run(_run("partial", rejected=11, run_id=2), config, state)
    assert outcome.sent
    assert outcome.status == "rejected"
    assert receiver.messages[0]["actionkit"]["rejected"] == 11
    assert "rejected 11 rows in run 2 (more than 10)" in receiver.messages[0]["text"]
    # A change from rejected to failed is a change of status: it alerts too.
    assert notify_run(_run("failed", run_id=3), config, state).sent
    assert [m["actionkit"]["status"] for m in receiver.messages] == ["rejected", "failed"]


def test_each_sync_has_its_own_status(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    state = tmp_path / "alerts.sqlite"
    assert notify_run(_run("failed"), config, state).sent
    assert notify_run({**_run("failed"), "sync": "orders"}, config, state).sent
    assert [m["actionkit"]["sync"] for m in receiver.messages] == ["users", "orders"]


def test_dry_runs_and_running_runs_are_ignored(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    state = tmp_path / "alerts.sqlite"
    assert notify_run(_run("failed", dry_run=True), config, state).status is None
    assert notify_run(_run("running"), config, state).status is None
    assert receiver.messages == []


def test_an_alert_the_webhook_refused_is_posted_after_the_next_run(
    webhook: Any, tmp_path: Path
) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    state = tmp_path / "alerts.sqlite"
    server.inject(Fault("status", status=500))
    refused = notify_run(_run("failed", run_id=1), config, state)
    assert (refused.sent, refused.error) == (False, "The alert webhook answered HTTP 500.")
    retried = notify_run(_run("failed", run_id=2), config, state)
    assert retried.sent
    assert [m["actionkit"]["run_id"] for m in receiver.messages] == [2]


def test_a_sync_result_and_a_history_record_both_work(webhook: Any, tmp_path: Path) -> None:
    server, receiver = webhook
    config = AlertConfig(f"{server.url}/hook")
    result = SyncResult("users", "update", False, status="partial", run_id=7)
    result.counts["rejected"] = 3
    result.sample.append({"traits": {"email": "someone@example.com"}})
    assert notify_run(result, config, tmp_path / "a.sqlite").status == "rejected"
    message = receiver.messages[0]
    assert message["actionkit"]["run"]["rejected"] == 3
    assert "someone@example.com" not in str(message)  # row samples never leave
    with RunHistory(tmp_path / "history.sqlite") as history:
        run_id = history.start_run("orders", "update")
        history.finish_run(run_id, "failed", {"queried": 5}, error="Boom.")
        record = history.get_run(run_id)
    assert record is not None
    assert run_health(record, 0) == "failed"
    assert notify_run(record, config, tmp_path / "a.sqlite").sent
    assert receiver.messages[1]["actionkit"]["run"]["queried"] == 5


def test_the_webhook_url_must_be_https_and_stays_out_of_reprs() -> None:
    with pytest.raises(DefinitionError) as caught:
        AlertConfig("http://hooks.example.com/T000/B000/secret")
    assert caught.value.problems[0].pointer == "/webhookUrl"
    config = AlertConfig("https://hooks.example.com/T000/B000/secret")
    assert "secret" not in repr(config)


def test_the_config_reads_the_url_from_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERT_HOOK", "https://hooks.example.com/x")
    config = AlertConfig.from_mapping({"webhookUrlEnv": "ALERT_HOOK", "maxRejected": 5})
    assert (config.webhook_url, config.max_rejected) == ("https://hooks.example.com/x", 5)
    with pytest.raises(DefinitionError) as caught:
        AlertConfig.from_mapping({"webhookUrlEnv": "NOT_SET_ANYWHERE"})
    assert caught.value.problems[0].code == "MISSING_VALUE"
    with pytest.raises(DefinitionError):
        AlertConfig.from_mapping({"webhookUrl": "https://h.example.com", "maxRejected": -1})


def test_a_sync_with_alerts_posts_on_rejected_rows_and_on_recovery(
    webhook: Any, tmp_path: Path
) -> None:
    from sync_fixtures import instance_file, sync_document, user, write_sqlite

    from framework.emulators import ContentstackEmulator
    from framework.sync.config import load_sync_config
    from framework.sync.runner import run_sync

    server, receiver = webhook
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 4)])
    with ContentstackEmulator(project_uid="proj") as api:
        instance_file(tmp_path, api.url)
        source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users"}
        alerts = {"webhookUrl": server.url, "state": "alerts.sqlite"}
        config = load_sync_config(sync_document(tmp_path, source, alerts=alerts), base_dir=tmp_path)
        api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
        assert run_sync(config).status == "partial"
        assert run_sync(config).status == "succeeded"
    statuses = [message["actionkit"]["status"] for message in receiver.messages]
    assert statuses == ["rejected", "ok"]
    assert (tmp_path / "alerts.sqlite").exists()


def test_a_sync_with_a_bad_alert_url_is_refused_at_load(tmp_path: Path) -> None:
    from sync_fixtures import instance_file, sync_document

    from framework.sync.config import load_sync_config

    instance_file(tmp_path, "http://127.0.0.1:9")
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT 1"}
    document = sync_document(tmp_path, source, alerts={"webhookUrl": "ftp://x"})
    with pytest.raises(DefinitionError) as caught:
        load_sync_config(document, base_dir=tmp_path)
    assert [p.pointer for p in caught.value.problems] == ["/alerts/webhookUrl"]
