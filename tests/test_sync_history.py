"""Run history: what a run records, search by primary key, exports; and the sync/runs commands."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sync_fixtures import attributes, instance_file, sync_document, user, write_sqlite

from framework.cli.main import cli
from framework.emulators import ContentstackEmulator, Fault
from framework.sync.config import load_sync_config
from framework.sync.history import CallRecord, RunBatch, RunHistory
from framework.sync.runner import run_sync


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid="proj") as emulator:
        yield emulator


def write_sync(folder: Path, api: ContentstackEmulator, **extra: object) -> Path:
    instance_file(folder, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users ORDER BY id"}
    path = folder / "users.sync.yaml"
    path.write_text(yaml.safe_dump(sync_document(folder, source, **extra)))
    return path


def test_a_run_records_counts_rejected_rows_and_their_calls(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 5)])
    write_sqlite_bad = [user(i) for i in range(1, 5)] + [user(5, ltv="many")]
    write_sqlite(tmp_path / "warehouse.sqlite", write_sqlite_bad)
    config = load_sync_config(write_sync(tmp_path, api))
    api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
    result = run_sync(config)
    with RunHistory(config.history) as history:
        run = history.get_run(result.run_id or 0)
        assert run is not None
        assert (run.status, run.sync, run.mode, run.dry_run) == (
            "partial",
            "users",
            "update",
            False,
        )
        assert run.counts["queried"] == 5
        assert (run.counts["succeeded"], run.counts["rejected"]) == (3, 2)
        assert run.ended_at is not None
        assert run.ended_at >= run.started_at
        rejected = {row.primary_key: row for row in history.rejected_rows(run.id)}
        assert set(rejected) == {"1", "5"}
        assert rejected["5"].error_code == "ATTRIBUTE_TYPE_MISMATCH"
        assert rejected["5"].call is None
        call = rejected["1"].call
        assert call is not None
        assert (call.status, call.method, call.outcome) == (400, "PATCH", "permanent_failure")
        assert call.request is not None
        assert call.request["json"]["plan"] == "pro"
        assert call.response is not None
        assert json.loads(call.response)["status"] == 400
        assert [row.primary_key for row in history.rejected_rows(run.id, "1")] == ["1"]
        assert [row.run_id for row in history.find_primary_key("1", sync="users")] == [run.id]
        calls = history.calls(run.id)
        assert len(calls) == 4  # three accepted, one refused; the type error made no call
        assert [c.primary_keys for c in history.calls(run.id, primary_key="2")] == [("2",)]
        assert history.latest_run("users") == run


def test_history_keeps_only_the_first_successful_calls_but_every_failure(tmp_path: Path) -> None:
    with RunHistory(tmp_path / "h.sqlite") as history:
        run_id = history.start_run("s", "update")
        batch = RunBatch(
            calls=[CallRecord(("1",), "delivered", 1), CallRecord(("2",), "dead_lettered", 5)],
            rejected=[("2", "RETRYABLE_ERROR", "The API answered 503.", 1)],
        )
        history.record(run_id, batch)
        history.finish_run(run_id, "partial", {"queried": 2, "succeeded": 1, "rejected": 1})
        [row] = list(history.iter_rejected(run_id, page=1))
        assert row.call is not None
        assert row.call.outcome == "dead_lettered"
        assert history.list_runs("other") == []
        assert [r.id for r in history.list_runs()] == [run_id]
        assert history.get_run(run_id + 1) is None


def test_keep_calls_limits_the_successful_calls_kept(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 11)])
    config = load_sync_config(write_sync(tmp_path, api, keepCalls=3))
    result = run_sync(config)
    with RunHistory(config.history) as history:
        assert len(history.calls(result.run_id or 0)) == 3


def test_export_writes_rejected_rows_as_csv_and_json(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1), user(2, ltv="x"), user(3, ltv="y")])
    config = load_sync_config(write_sync(tmp_path, api))
    run_id = run_sync(config).run_id or 0
    with RunHistory(config.history) as history:
        text = io.StringIO()
        assert history.export(run_id, "csv", text) == 2
        rows = list(csv.DictReader(io.StringIO(text.getvalue())))
        assert [row["primary_key"] for row in rows] == ["2", "3"]
        assert rows[0]["error_code"] == "ATTRIBUTE_TYPE_MISMATCH"
        data = io.StringIO()
        history.export(run_id, "json", data, primary_key="3")
        exported = json.loads(data.getvalue())
        assert exported["run"]["id"] == run_id
        assert [row["primary_key"] for row in exported["rejected"]] == ["3"]


def test_cli_sync_dry_run_then_run_then_runs_list_and_show(
    tmp_path: Path, api: ContentstackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1), user(2), user(3, ltv="?")])
    sync_file = write_sync(tmp_path, api)
    runner = CliRunner()
    dry = runner.invoke(cli, ["sync", str(sync_file), "--dry-run"])
    assert dry.exit_code == 1, dry.output  # a row would be rejected
    assert "added 3" not in dry.output  # the bad row is rejected, not added
    assert "added 2" in dry.output
    assert "would send 2 rows" in dry.output
    assert "x-cs-personalize-user-uid" not in dry.output
    assert "PATCH" in dry.output
    assert api.requests == []
    run = runner.invoke(cli, ["sync", str(sync_file), "--json"])
    assert run.exit_code == 1  # a row was rejected
    report = json.loads(run.output)
    assert report["counts"]["succeeded"] == 2
    assert set(attributes(api.state())) == {"user-1", "user-2"}
    listed = runner.invoke(cli, ["runs", str(sync_file), "--json"])
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.output)
    assert (entry["id"], entry["status"], entry["rejected"]) == (report["run_id"], "partial", 1)
    by_name = runner.invoke(cli, ["runs", "users", "--history", "history.sqlite"])
    assert by_name.exit_code == 0
    assert "partial" in by_name.output
    shown = runner.invoke(
        cli, ["runs", "show", str(entry["id"]), "--history", "history.sqlite", "--primary-key", "3"]
    )
    assert shown.exit_code == 0, shown.output
    assert "rejected row 3: [ATTRIBUTE_TYPE_MISMATCH]" in shown.output
    exported = runner.invoke(
        cli,
        [
            "runs",
            "show",
            str(entry["id"]),
            "--history",
            "history.sqlite",
            "--export",
            "csv",
            "--output",
            "out.csv",
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "ATTRIBUTE_TYPE_MISMATCH" in (tmp_path / "out.csv").read_text()
    missing = runner.invoke(cli, ["runs", "show", "99", "--history", "history.sqlite"])
    assert missing.exit_code == 2


def test_cli_sync_refuses_an_invalid_sync_file_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.sync.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bad name",
                "source": {"csv": "x.csv"},
                "primaryKey": "id",
                "userUid": "uid",
                "fields": {"a": {"column": "a", "type": "date"}},
                "destination": "nope.yaml",
            }
        )
    )
    result = CliRunner().invoke(cli, ["sync", str(path)])
    assert result.exit_code == 1
    assert "/name" in result.output
    assert "/fields/a/type" in result.output


def test_cli_sync_names_sources_and_fields_given_the_wrong_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.sync.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "source": {"csv": "x.csv", "query": "SELECT 1"},
                "primaryKey": "id",
                "userUid": "uid",
                "fields": {"a": {"column": "a", "mapping": "b"}, "b": {"type": "list"}},
                "destination": "nope.yaml",
            }
        )
    )
    result = CliRunner().invoke(cli, ["sync", str(path)])
    assert result.exit_code == 1
    assert "/source: A source is either" in result.output
    assert "/fields/a: The field 'a' needs exactly one" in result.output
    assert "/fields/b: The field 'b' needs exactly one" in result.output


def test_cli_runs_without_history_lists_no_runs_and_show_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["runs"])
    assert result.exit_code == 0
    assert "No runs yet (there is no run history at " in result.output
    as_json = CliRunner().invoke(cli, ["runs", "--json"])
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    shown = CliRunner().invoke(cli, ["runs", "show", "1"])
    assert shown.exit_code == 2
    assert "There is no run history" in shown.stderr


def test_the_example_csv_sync_runs_against_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).parent.parent / "examples" / "sync" / "users-csv.sync.yaml"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sync", str(example), "--emulate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"]["succeeded"] == report["counts"]["queried"] == 20
    assert (tmp_path / ".actionkit" / "sync-history.sqlite").is_file()
    assert load_sync_config(example.with_name("users.sync.yaml")).name == "users"
