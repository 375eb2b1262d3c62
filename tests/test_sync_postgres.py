"""Syncs from a real PostgreSQL warehouse, with the diff state kept in PostgreSQL too."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres_server import postgres_server
from sync_fixtures import attributes, instance_file, sync_document

from framework.emulators import ContentstackEmulator
from framework.errors import SourceError
from framework.sync.config import load_sync_config
from framework.sync.runner import run_sync
from framework.sync.sources import iter_batches, redact_url


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def warehouse(pg_url: str) -> Iterator[Any]:
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS users")
        db.execute("DROP TABLE IF EXISTS sync_state")
        db.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, user_uid text, plan text, "
            "ltv numeric(10, 2), is_active boolean, audiences text[], signed_up date)"
        )
        yield db


def insert(db: Any, rows: list[tuple[Any, ...]]) -> None:
    db.cursor().executemany("INSERT INTO users VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def row(index: int, plan: str = "pro") -> tuple[Any, ...]:
    return (
        index,
        f"user-{index}",
        plan,
        decimal.Decimal(f"{index}.25"),
        index % 2 == 0,
        ["newsletter", f"cohort-{index % 3}"],
        datetime.date(2024, 1, index % 28 + 1),
    )


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid="proj") as emulator:
        yield emulator


def test_postgres_rows_are_added_changed_and_removed_with_state_in_postgres(
    tmp_path: Path, pg_url: str, warehouse: Any, api: ContentstackEmulator
) -> None:
    insert(warehouse, [row(i) for i in range(1, 31)])
    instance_file(tmp_path, api.url)
    document = sync_document(
        tmp_path,
        {"url": pg_url, "query": "SELECT * FROM users ORDER BY id"},
        state=pg_url,
        batchSize=7,
        concurrency=8,
    )
    document["fields"]["signedUp"] = {"column": "signed_up", "type": "string"}
    config = load_sync_config(document, base_dir=tmp_path)
    first = run_sync(config)
    assert (first.counts["added"], first.counts["succeeded"]) == (30, 30)
    assert attributes(api.state())["user-4"] == {
        "plan": "pro",
        "ltv": 4.25,
        "active": True,
        "audiences": ["newsletter", "cohort-1"],
        "signedUp": "2024-01-05",
    }
    warehouse.execute("UPDATE users SET plan = 'gold' WHERE id IN (3, 9)")
    warehouse.execute("DELETE FROM users WHERE id = 30")
    insert(warehouse, [row(31)])
    second = run_sync(config)
    assert (second.counts["added"], second.counts["changed"]) == (1, 2)
    assert (second.counts["unchanged"], second.counts["removed"]) == (27, 1)
    assert second.removed_sample == ["30"]
    assert attributes(api.state())["user-9"]["plan"] == "gold"
    (kept,) = warehouse.execute("SELECT count(*) FROM sync_state").fetchone()
    assert kept == 30


def test_postgres_source_streams_through_a_server_side_cursor(pg_url: str, warehouse: Any) -> None:
    insert(warehouse, [row(i) for i in range(1, 26)])
    batches = list(iter_batches(url=pg_url, query="SELECT id FROM users ORDER BY id", size=10))
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert batches[2][-1] == {"id": 25}


def test_a_postgres_query_that_fails_names_the_database_without_its_password(
    pg_url: str,
) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret@")
    with pytest.raises(SourceError) as caught:
        list(iter_batches(url=url, query="SELECT * FROM missing_table", size=10))
    assert "missing_table" in caught.value.message
    assert "s3cret" not in caught.value.message
    assert redact_url(url) in caught.value.message
