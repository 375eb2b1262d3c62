"""Asked to (``actionkit sync`` does), a sync run collects young garbage less often while it
lasts and puts the threshold back; by default the host's collector is left alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_fixtures import instance_file, sync_document, user, write_sqlite

from framework.emulators import ContentstackEmulator
from framework.errors import SourceError
from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.runner import YOUNG_COLLECTION, SyncResult, run_sync


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid="proj") as emulator:
        yield emulator


@pytest.fixture
def threshold() -> Iterator[tuple[int, int, int]]:
    """The interpreter's thresholds, restored after the test whatever it set."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)
    gc.enable()


def make_config(folder: Path, api: ContentstackEmulator, query: str) -> SyncConfig:
    write_sqlite(folder / "warehouse.sqlite", [user(i) for i in range(1, 4)])
    instance_file(folder, api.url)
    source = {"url": "sqlite:///warehouse.sqlite", "query": query}
    return load_sync_config(sync_document(folder, source), base_dir=folder)


def test_the_threshold_is_raised_during_a_run_and_put_back(
    tmp_path: Path, api: ContentstackEmulator, threshold: tuple[int, int, int]
) -> None:
    gc.set_threshold(700, 10, 10)
    seen: list[tuple[int, int, int]] = []

    def progress(_: SyncResult) -> None:
        seen.append(gc.get_threshold())

    config = make_config(tmp_path, api, "SELECT * FROM users")
    assert run_sync(config, progress=progress, fewer_collections=True).counts["succeeded"] == 3
    assert seen
    assert set(seen) == {(YOUNG_COLLECTION, 10, 10)}
    assert gc.get_threshold() == (700, 10, 10)


def test_the_threshold_is_put_back_when_the_run_fails(
    tmp_path: Path, api: ContentstackEmulator, threshold: tuple[int, int, int]
) -> None:
    gc.set_threshold(700, 10, 10)
    config = make_config(tmp_path, api, "SELECT * FROM no_such_table")
    with pytest.raises(SourceError):
        run_sync(config, fewer_collections=True)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("young", [0, YOUNG_COLLECTION * 2])
def test_a_threshold_already_higher_or_off_is_left_alone(
    tmp_path: Path, api: ContentstackEmulator, threshold: tuple[int, int, int], young: int
) -> None:
    gc.set_threshold(young, 10, 10)
    seen: list[tuple[int, int, int]] = []
    config = make_config(tmp_path, api, "SELECT * FROM users")
    run_sync(config, progress=lambda _: seen.append(gc.get_threshold()), fewer_collections=True)
    assert set(seen) == {(young, 10, 10)}


def test_a_switched_off_collector_stays_off(
    tmp_path: Path, api: ContentstackEmulator, threshold: tuple[int, int, int]
) -> None:
    gc.disable()
    seen: list[bool] = []
    config = make_config(tmp_path, api, "SELECT * FROM users")
    run_sync(config, progress=lambda _: seen.append(gc.isenabled()), fewer_collections=True)
    assert seen == [False] * len(seen)
    assert seen
    assert not gc.isenabled()


def test_by_default_a_run_leaves_the_host_s_collector_alone(
    tmp_path: Path, api: ContentstackEmulator, threshold: tuple[int, int, int]
) -> None:
    gc.set_threshold(700, 10, 10)
    seen: list[tuple[int, int, int]] = []
    config = make_config(tmp_path, api, "SELECT * FROM users")
    assert (
        run_sync(config, progress=lambda _: seen.append(gc.get_threshold())).counts["succeeded"]
        == 3
    )
    assert seen
    assert set(seen) == {(700, 10, 10)}
