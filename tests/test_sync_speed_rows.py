"""A mapped row is the same after the speed work: its values, its JSON and so its hash.

The state stores each row's hash; a row mapped faster but hashed differently would be sent
again by the next run. These tests pin the hash of known rows and compare :func:`map_row`
with a plain reading of what it must do (every value made JSON-ready, each attribute checked,
the JSON of ``json.dumps(..., sort_keys=True, separators=(",", ":"))``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.diff import digest, map_row
from framework.sync.values import check_value, jsonable
from tests.sync_fixtures import instance_file, sync_document


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SyncConfig:
    folder = tmp_path_factory.mktemp("sync")
    instance_file(folder, "http://127.0.0.1:9")
    source = {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users"}
    return load_sync_config(sync_document(folder, source), base_dir=folder)


def reference(config: SyncConfig, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The attributes and the JSON sent, the plain way (for rows with a key and a UID)."""
    values = {name: jsonable(value) for name, value in row.items()}
    attributes: dict[str, Any] = {}
    for field in config.fields:
        assert field.column is not None
        converted, problem = check_value(
            field.name, field.type, values[field.column], nullable=field.nullable
        )
        if problem is not None:
            return None, ""
        attributes[field.name] = converted
    uid = str(values[config.user_uid])
    return attributes, json.dumps([uid, attributes], sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize(
    ("row", "hashed"),
    [
        (
            {
                "id": 7,
                "user_uid": "user-7",
                "plan": "pro",
                "ltv": 10.5,
                "is_active": 1,
                "audiences": "newsletter, beta",
            },
            "da73af85d502a9e4290ab638711ca0cc",
        ),
        (
            {
                "id": "k",
                "user_uid": "ü-✓",
                "plan": "ünï",
                "ltv": "3",
                "is_active": None,
                "audiences": "",
            },
            "f817c147db2a18a69bae5158bd406604",
        ),
    ],
)
def test_known_rows_keep_the_hash_a_state_holds(
    config: SyncConfig, row: dict[str, Any], hashed: str
) -> None:
    mapped = map_row(config, row, 1)
    assert mapped.digest == hashed


cells = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.text(alphabet=" ,ab1", max_size=12)
)


@given(
    key=st.integers(1, 10**6) | st.text(min_size=1, max_size=6),
    uid=st.integers(1, 10**6) | st.text(max_size=6),
    plan=cells,
    ltv=cells,
    active=cells,
    audiences=cells,
)
def test_map_row_matches_the_plain_reading(
    config: SyncConfig, key: Any, uid: Any, plan: Any, ltv: Any, active: Any, audiences: Any
) -> None:
    row = {
        "id": key,
        "user_uid": uid,
        "plan": plan,
        "ltv": ltv,
        "is_active": active,
        "audiences": audiences,
    }
    mapped = map_row(config, row, 1)
    if isinstance(uid, str) and not uid:
        assert mapped.error_code == "USER_UID_MISSING"
        return
    assert mapped.key == str(jsonable(key))
    attributes, sent = reference(config, row)
    if attributes is None:
        assert mapped.error_code == "ATTRIBUTE_TYPE_MISMATCH"
        return
    assert (mapped.attributes, mapped.sent, mapped.digest) == (attributes, sent, digest(sent))


@given(st.text(alphabet=" ,\t\nab1é", max_size=20))
def test_comma_separated_text_is_read_as_before(text: Any) -> None:
    if text.strip().startswith("["):
        return
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    assert check_value("a", "list", text) == (wanted, None)


@given(st.text())
def test_text_for_a_string_attribute_is_taken_as_it_is(text: str) -> None:
    assert check_value("a", "string", text) == (text, None)


def test_the_reference_covers_every_field_of_the_fixture(config: SyncConfig) -> None:
    assert [field.column for field in config.fields] == ["plan", "ltv", "is_active", "audiences"]
