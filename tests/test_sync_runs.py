"""Sync runs against the Contentstack emulator: diffing, retries, dry runs, resyncs, modes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from sync_fixtures import attributes, instance_file, sync_document, user, write_sqlite

from framework.cli.main import cli
from framework.debugger import create_app as create_debugger
from framework.emulators import ContentstackEmulator, Fault
from framework.errors import SourceError
from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.history import RunHistory
from framework.sync.runner import run_sync
from tests.server_helpers import serving, wait_until


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid="proj") as emulator:
        yield emulator


def make_config(folder: Path, api: ContentstackEmulator, **extra: Any) -> SyncConfig:
    instance_file(folder, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users ORDER BY id"}
    return load_sync_config(sync_document(folder, source, **extra), base_dir=folder)


def test_first_run_sends_every_row_and_sets_typed_attributes(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 7)])
    result = run_sync(make_config(tmp_path, api))
    assert result.status == "succeeded"
    assert result.counts == {
        "queried": 6,
        "added": 6,
        "changed": 0,
        "unchanged": 0,
        "removed": 0,
        "succeeded": 6,
        "rejected": 0,
    }
    assert attributes(api.state())["user-3"] == {
        "plan": "pro",
        "ltv": 4.5,
        "active": True,
        "audiences": ["newsletter", "beta"],
    }
    assert all(r.method == "PATCH" and r.path == "/user-attributes" for r in api.requests)


def test_second_run_sends_only_added_and_changed_rows_and_reports_removed(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 6)])
    config = make_config(tmp_path, api)
    run_sync(config)
    sent_before = len(api.requests)
    rows = [user(1), user(2, plan="enterprise"), user(3), user(5), user(6)]
    write_sqlite(tmp_path / "warehouse.sqlite", rows)
    result = run_sync(config)
    assert result.counts["added"] == 1
    assert result.counts["changed"] == 1
    assert result.counts["unchanged"] == 3
    assert result.counts["removed"] == 1
    assert result.removed_sample == ["4"]
    sent = api.requests[sent_before:]
    assert sorted(r.headers["x-cs-personalize-user-uid"] for r in sent) == ["user-2", "user-6"]
    assert attributes(api.state())["user-2"]["plan"] == "enterprise"
    # Personalize has no delete: the removed row's user keeps its attributes.
    assert attributes(api.state())["user-4"]["plan"] == "free"
    third = run_sync(config)
    assert third.counts["unchanged"] == 5
    assert third.counts["removed"] == 0


def test_a_row_that_failed_is_sent_again_next_run_until_it_succeeds(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 4)])
    config = make_config(tmp_path, api)
    api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
    first = run_sync(config)
    assert first.status == "partial"
    assert (first.counts["succeeded"], first.counts["rejected"]) == (2, 1)
    [failed] = first.rejected_sample
    assert failed["primary_key"] == "1"
    assert failed["code"] == "INTEGRATION_ERROR"
    second = run_sync(config)
    assert second.status == "succeeded"
    assert (second.counts["added"], second.counts["unchanged"]) == (1, 2)
    assert second.counts["succeeded"] == 1
    assert "user-1" in attributes(api.state())
    assert run_sync(config).counts["unchanged"] == 3


def test_a_failed_change_keeps_the_last_successful_values_and_is_retried(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1)])
    config = make_config(tmp_path, api)
    run_sync(config)
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1, plan="gold")])
    api.inject(Fault("status", status=422, count=1, path="/user-attributes"))
    assert run_sync(config).counts["rejected"] == 1
    retried = run_sync(config)
    assert (retried.counts["changed"], retried.counts["succeeded"]) == (1, 1)
    assert attributes(api.state())["user-1"]["plan"] == "gold"


def test_dry_run_counts_and_shows_requests_and_keeps_nothing(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 9)])
    config = make_config(tmp_path, api)
    result = run_sync(config, dry_run=True)
    assert result.counts["added"] == 8
    assert result.run_id is None
    assert len(result.sample) == 5
    request = result.sample[0]["request"]
    assert request["method"] == "PATCH"
    assert request["headers"]["x-cs-personalize-user-uid"] == "user-1"
    assert request["json"] == user_attributes(1)
    assert api.requests == []
    assert not (tmp_path / "history.sqlite").exists()
    assert run_sync(config).counts["added"] == 8  # the dry run saved no state


def test_dry_run_after_a_run_reports_removed_rows_without_forgetting_them(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1), user(2)])
    config = make_config(tmp_path, api)
    run_sync(config)
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1)])
    assert run_sync(config, dry_run=True).counts["removed"] == 1
    assert run_sync(config).counts["removed"] == 1


def test_full_resync_sends_every_row_again(tmp_path: Path, api: ContentstackEmulator) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 5)])
    config = make_config(tmp_path, api)
    run_sync(config)
    assert run_sync(config, dry_run=True, full_resync=True).counts["added"] == 4
    before = len(api.requests)
    result = run_sync(config, full_resync=True)
    assert (result.counts["added"], result.counts["succeeded"]) == (4, 4)
    assert len(api.requests) - before == 4


def test_mode_all_sends_unchanged_rows_too(tmp_path: Path, api: ContentstackEmulator) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 4)])
    config = make_config(tmp_path, api, mode="all")
    run_sync(config)
    before = len(api.requests)
    result = run_sync(config)
    assert (result.counts["unchanged"], result.counts["succeeded"]) == (3, 3)
    assert len(api.requests) - before == 3


def test_values_of_the_wrong_type_reject_their_row_with_a_clear_error(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    rows = [user(1), user(2, ltv="lots", is_active=7), user(3, user_uid=None), user(4)]
    write_sqlite(tmp_path / "warehouse.sqlite", rows)
    result = run_sync(make_config(tmp_path, api))
    assert result.status == "partial"
    assert (result.counts["succeeded"], result.counts["rejected"]) == (2, 2)
    by_key = {item["primary_key"]: item for item in result.rejected_sample}
    assert by_key["2"]["code"] == "ATTRIBUTE_TYPE_MISMATCH"
    assert "'ltv' must be a number" in by_key["2"]["error"]
    assert "'active' must be a boolean" in by_key["2"]["error"]
    assert "lots" not in by_key["2"]["error"]  # values never appear in messages
    assert by_key["3"]["code"] == "USER_UID_MISSING"
    assert set(attributes(api.state())) == {"user-1", "user-4"}


def test_fields_may_be_mappings_over_the_row(tmp_path: Path, api: ContentstackEmulator) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(2)])
    fields = {
        "label": {"mapping": {"@template": "{{row.plan}}-{{row.id}}"}, "type": "string"},
        "tier": {"mapping": {"@if": {"exists": {"@path": "$.row.nope"}, "then": "x"}}},
    }
    config = make_config(tmp_path, api, fields=fields, mapping={"source": "warehouse"})
    run_sync(config)
    assert attributes(api.state())["user-2"] == {"label": "free-2", "source": "warehouse"}


def test_a_csv_source_streams_its_rows(tmp_path: Path, api: ContentstackEmulator) -> None:
    lines = ["id,user_uid,plan,ltv,is_active,audiences"]
    lines += [f'{i},user-{i},pro,{i}.5,true,"a,b"' for i in range(1, 8)]
    (tmp_path / "users.csv").write_text("\n".join(lines) + "\n")
    instance_file(tmp_path, api.url)
    document = sync_document(tmp_path, {"csv": "users.csv"}, batchSize=3)
    result = run_sync(load_sync_config(document, base_dir=tmp_path))
    assert result.counts["succeeded"] == 7
    assert attributes(api.state())["user-7"] == {
        "plan": "pro",
        "ltv": 7.5,
        "active": True,
        "audiences": ["a", "b"],
    }


def test_a_query_that_fails_records_a_failed_run(tmp_path: Path, api: ContentstackEmulator) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1)])
    instance_file(tmp_path, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM no_such_table"}
    config = load_sync_config(sync_document(tmp_path, source), base_dir=tmp_path)
    with pytest.raises(SourceError, match="query failed"):
        run_sync(config)
    with RunHistory(tmp_path / "history.sqlite") as history:
        [run] = history.list_runs("users")
    assert run.status == "failed"
    assert run.error is not None
    assert "no_such_table" in run.error


def test_many_rows_stream_in_batches_and_the_state_keeps_the_sent_values(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 251)])
    config = make_config(tmp_path, api, batchSize=40, concurrency=16)
    assert run_sync(config).counts["succeeded"] == 250
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM sync_state").fetchone()
        (sent,) = db.execute("SELECT sent FROM sync_state WHERE pk = '7'").fetchone()
    db.close()
    assert count == 250
    assert json.loads(sent) == ["user-7", user_attributes(7)]


def user_attributes(index: int) -> dict[str, Any]:
    row = user(index)
    return {
        "plan": row["plan"],
        "ltv": row["ltv"],
        "active": bool(row["is_active"]),
        "audiences": row["audiences"].split(","),
    }


def _statuses(history: Path) -> list[str]:
    if not history.exists():
        return []
    with RunHistory(history) as store:
        return [run.status for run in store.list_runs("users")]


def test_a_sync_killed_with_kill_9_is_shown_interrupted_not_running(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 21)])
    instance_file(tmp_path, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users ORDER BY id"}
    sync_file = tmp_path / "users.sync.yaml"
    sync_file.write_text(yaml.safe_dump(sync_document(tmp_path, source)), encoding="utf-8")
    # The first request hangs: the run is surely in the middle when it is killed.
    api.inject(Fault("delay", seconds=120, count=1, status=200))
    history = tmp_path / "history.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "sync", str(sync_file)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _statuses(history) == ["running"], seconds=60)
        assert process.poll() is None
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    runner = CliRunner()
    listed = runner.invoke(cli, ["runs", "users", "--history", str(history), "--json"])
    assert listed.exit_code == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert run["status"] == "interrupted"
    assert run["ended_at"] is not None
    assert "stopped before the end" in run["error"]
    shown = runner.invoke(cli, ["runs", "show", str(run["id"]), "--history", str(history)])
    assert f"run {run['id']} of users (update): interrupted" in shown.stdout
    human = runner.invoke(cli, ["runs", "--history", str(history)])
    assert human.stdout.splitlines()[1].split()[2] == "interrupted"
    with serving(create_debugger(history)) as url:
        [seen] = httpx.get(f"{url}/api/runs").json()["runs"]
    assert seen["status"] == "interrupted"

    # The next run starts and ends normally; the interrupted one stays as it was.
    api.reset()
    assert run_sync(load_sync_config(sync_file)).status == "succeeded"
    assert _statuses(history) == ["succeeded", "interrupted"]


def test_a_run_of_a_live_process_stays_running(tmp_path: Path) -> None:
    with RunHistory(tmp_path / "history.sqlite") as history:
        run_id = history.start_run("users", "update")
    with RunHistory(tmp_path / "history.sqlite") as history:
        run = history.get_run(run_id)
        assert run is not None
        assert run.status == "running"
        assert history.settle_interrupted() == []
