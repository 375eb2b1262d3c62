"""Run history rows: each row's operation and status, filters, paging, and old files migrated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sync_fixtures import instance_file, sync_document, user, write_old_history, write_sqlite

from framework.emulators import ContentstackEmulator, Fault
from framework.sync.config import load_sync_config
from framework.sync.history import CallRecord, RunBatch, RunHistory
from framework.sync.runner import run_sync


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid="proj") as emulator:
        yield emulator


def _sync_file(folder: Path, api: ContentstackEmulator, **extra: object) -> Path:
    instance_file(folder, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users ORDER BY id"}
    path = folder / "users.sync.yaml"
    path.write_text(yaml.safe_dump(sync_document(folder, source, **extra)))
    return path


def _summary(history: RunHistory, run_id: int) -> list[tuple[str, str | None, str]]:
    page = history.rows(run_id, limit=None)
    return [(row.primary_key, row.operation, row.status) for row in page.items]


def test_a_run_records_each_row_sent_refused_or_removed_and_counts_the_unchanged(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(i) for i in range(1, 5)])
    config = load_sync_config(_sync_file(tmp_path, api))
    first = run_sync(config).run_id or 0
    # Second run: 1 changed, 2 unchanged, 3 gone, 5 new with a value of the wrong type, 6 new
    # and refused by the API.
    rows = [user(1, plan="enterprise"), user(2), user(4), user(5, ltv="many"), user(6)]
    write_sqlite(tmp_path / "warehouse.sqlite", rows)
    api.inject(Fault("status", status=400, count=1, path="/user-attributes"))
    second = run_sync(config).run_id or 0
    with RunHistory(config.history) as history:
        assert _summary(history, first) == [(str(i), "added", "succeeded") for i in range(1, 5)]
        assert sorted(_summary(history, second)) == [
            ("1", "changed", "rejected"),  # the injected 400 met the first request
            ("3", "removed", "skipped"),
            ("5", None, "rejected"),
            ("6", "added", "succeeded"),
        ]
        run = history.get_run(second)
        assert run is not None
        assert run.rows_recorded
        assert (run.counts["unchanged"], run.counts["removed"]) == (2, 1)
        [refused] = history.rows(second, status="rejected", operation="changed").items
        assert refused.error_code is not None
        assert refused.call_id is not None
        call = history.get_call(refused.call_id)
        assert call is not None
        assert call.status == 400
        [typed] = history.rows(second, primary_key="5").items
        assert (typed.error_code, typed.call_id) == ("ATTRIBUTE_TYPE_MISMATCH", None)
        # A row whose successful call was kept links to it.
        [added] = history.rows(second, operation="added").items
        assert added.call_id is not None
        assert history.get_call(added.call_id) is not None


def test_mode_all_lists_the_unchanged_rows_it_sends(
    tmp_path: Path, api: ContentstackEmulator
) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1), user(2)])
    config = load_sync_config(_sync_file(tmp_path, api, mode="all"))
    run_sync(config)
    second = run_sync(config).run_id or 0
    with RunHistory(config.history) as history:
        assert _summary(history, second) == [
            ("1", "unchanged", "succeeded"),
            ("2", "unchanged", "succeeded"),
        ]


def test_a_dry_run_records_no_rows(tmp_path: Path, api: ContentstackEmulator) -> None:
    write_sqlite(tmp_path / "warehouse.sqlite", [user(1)])
    config = load_sync_config(_sync_file(tmp_path, api))
    run_sync(config, dry_run=True)
    assert not config.history.exists()  # a dry run records nothing, rows included


def _many_rows(history: RunHistory) -> int:
    """A run of 25 rows: 10 added (2 rejected), 10 changed, 5 removed; 3 calls kept."""
    run_id = history.start_run("s", "update")
    batch = RunBatch(
        calls=[
            CallRecord((f"a{i}",), "permanent_failure" if i < 2 else "delivered", 1)
            for i in range(3)
        ]
    )
    for i in range(10):
        status = "rejected" if i < 2 else "succeeded"
        code, error = ("E", "refused") if i < 2 else (None, None)
        batch.rows.append((f"a{i}", "added", status, i if i < 3 else None, code, error))
    batch.rows.extend((f"c{i}", "changed", "succeeded", None, None, None) for i in range(10))
    batch.rows.extend((f"r{i}", "removed", "skipped", None, None, None) for i in range(5))
    history.record(run_id, batch)
    history.finish_run(run_id, "partial", {"queried": 20, "added": 10, "changed": 10})
    return run_id


def test_rows_are_filtered_by_status_and_operation_and_paged(tmp_path: Path) -> None:
    with RunHistory(tmp_path / "h.sqlite") as history:
        run_id = _many_rows(history)
        page = history.rows(run_id, limit=10, offset=20)
        assert (page.total, page.offset) == (25, 20)
        assert [row.primary_key for row in page.items] == [f"r{i}" for i in range(5)]
        assert history.rows(run_id, status="rejected").total == 2
        assert history.rows(run_id, status="succeeded", operation="added").total == 8
        assert history.rows(run_id, operation="removed", status="succeeded").total == 0
        skipped = history.rows(run_id, status="skipped", limit=2, offset=1)
        assert [row.primary_key for row in skipped.items] == ["r1", "r2"]
        assert skipped.total == 5
        [found] = history.rows(run_id, primary_key="a1").items
        assert (found.status, found.error, found.call_id is not None) == (
            "rejected",
            "refused",
            True,
        )
        assert history.rows(run_id, primary_key="nobody").items == []
        assert history.rows(run_id + 1).total == 0


def test_calls_are_paged_and_searched_by_primary_key(tmp_path: Path) -> None:
    with RunHistory(tmp_path / "h.sqlite") as history:
        run_id = history.start_run("s", "update")
        calls = [CallRecord((f"k{i}", "shared"), "delivered", 1) for i in range(7)]
        history.record(run_id, RunBatch(calls=calls))
        assert history.count_calls(run_id) == 7
        page = history.calls(run_id, limit=3, offset=3)
        assert [call.primary_keys[0] for call in page] == ["k3", "k4", "k5"]
        assert [c.primary_keys[0] for c in history.calls(run_id, primary_key="k6")] == ["k6"]
        assert history.count_calls(run_id, primary_key="shared") == 7
        assert history.count_calls(run_id, primary_key="k") == 0
        summary = page[0].summary()
        assert "request" not in summary
        assert summary["primary_keys"] == ["k3", "shared"]


# Files written by older versions (tests/sync_fixtures.py writes them)

"""The history as the first version wrote it: no host or pid, no rows, one partial run."""


@pytest.mark.parametrize("with_process", [False, True])
def test_an_old_history_opens_and_its_runs_list_their_rejected_rows(
    tmp_path: Path, with_process: bool
) -> None:
    path = tmp_path / "old.sqlite"
    write_old_history(path, with_process=with_process)
    with RunHistory(path) as history:
        [old] = history.list_runs()
        assert (old.status, old.counts["rejected"], old.rows_recorded) == ("partial", 2, False)
        page = history.rows(old.id)
        assert page.total == 2
        assert [(r.primary_key, r.operation, r.status) for r in page.items] == [
            ("u1", None, "rejected"),
            ("u2", None, "rejected"),
        ]
        assert page.items[0].call_id == 1
        assert history.rows(old.id, status="succeeded").total == 0
        assert history.rows(old.id, operation="added").total == 0
        assert [r.primary_key for r in history.rows(old.id, primary_key="u2").items] == ["u2"]
        assert [r.primary_key for r in history.rows(old.id, limit=1, offset=1).items] == ["u2"]
        # A new run in the migrated file records its rows.
        new = history.start_run("users", "update")
        history.record(new, RunBatch(rows=[("u3", "added", "succeeded", None, None, None)]))
        history.finish_run(new, "succeeded", {"queried": 1, "added": 1, "succeeded": 1})
        run = history.get_run(new)
        assert run is not None
        assert run.rows_recorded
        assert history.rows(new).total == 1
    # Opened again: nothing left to migrate, the old run is still an old run.
    with RunHistory(path) as history:
        assert [run.rows_recorded for run in history.list_runs()] == [True, False]


def test_a_search_by_primary_key_finds_that_key_only(tmp_path: Path) -> None:
    keys = ["1", "11", 'b", "c', "c", "é", "x\\y"]
    with RunHistory(tmp_path / "h.sqlite") as history:
        run_id = history.start_run("s", "update")
        rows = [(key, "added", "succeeded", None, None, None) for key in keys]
        history.record(run_id, RunBatch(rows=rows))
        history.record(run_id, RunBatch(rows=[("c", "changed", "rejected", None, "E", "no")]))
        for key in keys:
            found = history.rows(run_id, primary_key=key).items
            assert {row.primary_key for row in found} == {key}
        # "c" is in both batches; the quoted "c" inside 'b", "c' is not "c".
        assert [row.operation for row in history.rows(run_id, primary_key="c").items] == [
            "added",
            "changed",
        ]
        assert history.rows(run_id, primary_key="c", status="rejected").total == 1
        assert history.rows(run_id, primary_key="c", offset=1).items[0].error == "no"


def test_rows_of_a_batch_are_grouped_by_operation_and_status_in_the_order_they_came(
    tmp_path: Path,
) -> None:
    with RunHistory(tmp_path / "h.sqlite") as history:
        run_id = history.start_run("s", "update")
        batch = RunBatch(calls=[CallRecord(("k2",), "permanent_failure", 1)])
        batch.rows.extend(
            [
                ("k1", "added", "succeeded", None, None, None),
                ("k2", "changed", "rejected", 0, "INTEGRATION_ERROR", "refused"),
                ("k3", "added", "succeeded", None, None, None),
                ("k4", None, "rejected", None, "ATTRIBUTE_TYPE_MISMATCH", "not a number"),
            ]
        )
        history.record(run_id, batch)
        history.record(run_id, RunBatch(rows=[("k5", "added", "succeeded", None, None, None)]))
        page = history.rows(run_id, limit=None)
        assert [row.primary_key for row in page.items] == ["k1", "k3", "k2", "k4", "k5"]
        assert [row.primary_key for row in history.rows(run_id, limit=2, offset=1).items] == [
            "k3",
            "k2",
        ]
        refused = page.items[2]
        assert (refused.error_code, refused.error) == ("INTEGRATION_ERROR", "refused")
        assert refused.call_id == history.calls(run_id)[0].id
        assert (page.items[0].call_id, page.items[0].error_code) == (None, None)
        # A page past the end is empty, and still says how many there are.
        assert (history.rows(run_id, offset=9).items, history.rows(run_id, offset=9).total) == (
            [],
            5,
        )
