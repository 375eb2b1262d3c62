"""``actionkit check contentstack``: project events and attributes vs what can be sent.

Against the Management API emulator on loopback (real HTTP), through the real command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from framework.checks.contentstack import MANAGEMENT_REGIONS, management_url
from framework.checks.keys import instance_keys, literal_values, sync_keys
from framework.cli.main import cli
from framework.definitions.instance import load_instance
from framework.emulators.management import ManagementEmulator
from framework.errors import DefinitionError
from framework.fql import parse_trigger

TOKEN = "secret-token-123"
PROJECT = "proj-1"


def _instance(tmp_path: Path, mappings: list[dict[str, Any]], edge: str = "aws-eu") -> Path:
    path = tmp_path / "instance.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "destination": "contentstack",
                "name": "check-test",
                "settings": {
                    "personalizeProjectId": PROJECT,
                    "personalizeEdgeApiBaseUrl": edge,
                },
                "mappings": mappings,
            }
        )
    )
    return path


MAPPINGS: list[dict[str, Any]] = [
    {
        "name": "Orders",
        "preset": "events-sync",
        "trigger": 'type = "track" and event in ("Order Completed", "Signed Up")',
    },
    {
        "name": "Fixed",
        "action": "eventsSync",
        "trigger": 'type = "page"',
        "mapping": {"event": "Page Viewed"},
    },
    {
        "name": "Traits",
        "action": "customAttributesSync",
        "trigger": 'type = "identify"',
        "mapping": {"traits": {"plan": {"@path": "$.traits.plan"}, "age": 3}},
    },
    {"name": "Everything", "preset": "custom-attributes-sync"},
]


@pytest.fixture
def api() -> Iterator[ManagementEmulator]:
    with ManagementEmulator(
        project_uid=PROJECT,
        tokens=[TOKEN],
        events=["Order Completed", "Page Viewed"],
        attributes=["plan"],
    ) as server:
        yield server


def _check(api: ManagementEmulator, instance: Path, *extra: str, token: str | None = TOKEN) -> Any:
    env = {"PERSONALIZE_MANAGEMENT_TOKEN": token} if token is not None else {}
    return CliRunner().invoke(
        cli,
        ["check", "contentstack", "--instance", str(instance), "--management-url", api.url, *extra],
        env=env,
        catch_exceptions=False,
    )


# The emulator


def test_the_emulator_refuses_a_request_without_a_token(api: ManagementEmulator) -> None:
    answer = httpx.get(f"{api.url}/attributes", headers={"x-project-uid": PROJECT})
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"


def test_the_emulator_takes_an_authtoken_or_an_oauth_bearer(api: ManagementEmulator) -> None:
    for auth in ({"authtoken": TOKEN}, {"authorization": f"Bearer {TOKEN}"}):
        answer = httpx.get(f"{api.url}/events", headers={"x-project-uid": PROJECT, **auth})
        assert answer.status_code == 200
        assert [event["key"] for event in answer.json()] == ["Order Completed", "Page Viewed"]
    wrong = httpx.get(f"{api.url}/events", headers={"x-project-uid": PROJECT, "authtoken": "x"})
    assert wrong.status_code == 401


def test_the_emulator_needs_the_project_it_serves(api: ManagementEmulator) -> None:
    missing = httpx.get(f"{api.url}/events", headers={"authtoken": TOKEN})
    other = httpx.get(f"{api.url}/events", headers={"authtoken": TOKEN, "x-project-uid": "p2"})
    assert (missing.status_code, missing.json()["code"]) == (400, "MISSING_PROJECT_UID")
    assert (other.status_code, other.json()["code"]) == (403, "UNKNOWN_PROJECT")


def test_the_emulator_creates_an_attribute_once(api: ManagementEmulator) -> None:
    headers = {"authtoken": TOKEN, "x-project-uid": PROJECT}
    body = {"name": "Age", "key": "age", "description": "Age of the visitor"}
    created = httpx.post(f"{api.url}/attributes", headers=headers, json=body)
    assert created.status_code == 201
    assert created.json()["key"] == "age"
    assert created.json()["uid"]
    again = httpx.post(f"{api.url}/attributes", headers=headers, json=body)
    assert (again.status_code, again.json()["code"]) == (409, "DUPLICATE_KEY")
    bad = httpx.post(f"{api.url}/attributes", headers=headers, json={"name": "x", "key": "1 x"})
    assert (bad.status_code, bad.json()["errors"][0]["pointer"]) == (400, "/key")
    listed = httpx.get(f"{api.url}/attributes", headers=headers).json()
    assert [item["key"] for item in listed] == ["plan", "age"]


# Which keys a definition can send


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ('event = "A"', {"A"}),
        ('type = "track" and event in ("A", "B")', {"A", "B"}),
        ('event = "A" or event = "B"', {"A", "B"}),
        ('event in ("A", "B") and event = "B"', {"B"}),
        ('type = "track"', None),
        ('event = "A" or type = "page"', None),
        ('not (event = "A")', None),
        ('event != "A"', None),
        ('event not in ("A")', None),
    ],
)
def test_literal_event_names_come_from_the_trigger(trigger: str, expected: set[str] | None) -> None:
    values = literal_values(parse_trigger(trigger).tree, ("event",))
    assert (None if values is None else set(values)) == expected


def test_instance_keys_lists_literal_keys_and_what_cannot_be_listed(tmp_path: Path) -> None:
    keys = instance_keys(load_instance(_instance(tmp_path, MAPPINGS)))
    assert keys.events == {
        "Order Completed": ["mapping 'Orders'"],
        "Signed Up": ["mapping 'Orders'"],
        "Page Viewed": ["mapping 'Fixed'"],
    }
    assert keys.attributes == {"plan": ["mapping 'Traits'"], "age": ["mapping 'Traits'"]}
    assert [(o.kind, o.origin) for o in keys.open] == [("attribute", "mapping 'Everything'")]


def test_sync_keys_are_field_names_and_literal_mapping_keys() -> None:
    keys = sync_keys("users", ["plan", "ltv"], {"tier": {"@path": "$.row.tier"}})
    assert set(keys.attributes) == {"plan", "ltv", "tier"}
    directive = sync_keys("users", [], {"@path": "$.row"})
    assert [o.kind for o in directive.open] == ["attribute"]


def test_the_management_url_comes_from_a_region_or_the_edge_url() -> None:
    assert management_url("aws-na") == "https://personalize-api.contentstack.com"
    assert (
        management_url(None, "https://eu-personalize-edge.contentstack.com")
        == (MANAGEMENT_REGIONS["aws-eu"])
    )
    assert (
        management_url(None, "https://personalize-edge.contentstack.com")
        == (MANAGEMENT_REGIONS["aws-na"])
    )
    assert management_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"
    with pytest.raises(DefinitionError):
        management_url("http://example.com")
    with pytest.raises(DefinitionError):
        management_url(None, "http://127.0.0.1:8787")


# The command


def test_check_reports_every_missing_event_and_attribute(
    api: ManagementEmulator, tmp_path: Path
) -> None:
    result = _check(api, _instance(tmp_path, MAPPINGS), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["missing"] == {
        "events": {"Signed Up": ["mapping 'Orders'"]},
        "attributes": {"age": ["mapping 'Traits'"]},
    }
    assert report["defined"]["attributes"] == ["plan"]
    assert report["open"][0]["origin"] == "mapping 'Everything'"
    assert api.state()["attributes"] == [
        {"uid": "attr000003", "name": "plan", "key": "plan", "description": ""}
    ]


def test_check_sends_the_token_and_the_project_and_never_prints_the_token(
    api: ManagementEmulator, tmp_path: Path
) -> None:
    result = _check(api, _instance(tmp_path, MAPPINGS), "--token-type", "oauth")
    assert result.exit_code == 1
    assert "missing event 'Signed Up' (sent by mapping 'Orders')" in result.stdout
    assert TOKEN not in result.output
    request = api.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-project-uid"] == PROJECT


def test_create_missing_creates_attributes_but_not_events(
    api: ManagementEmulator, tmp_path: Path
) -> None:
    result = _check(api, _instance(tmp_path, MAPPINGS), "--create-missing", "--json")
    report = json.loads(result.stdout)
    assert report["created"] == {"attributes": ["age"]}
    assert report["missing"]["attributes"] == {}
    assert [a["key"] for a in api.state()["attributes"]] == ["plan", "age"]
    # The event is still missing, so the check still fails.
    assert result.exit_code == 1
    assert report["missing"]["events"] == {"Signed Up": ["mapping 'Orders'"]}


def test_check_passes_when_every_key_is_defined(api: ManagementEmulator, tmp_path: Path) -> None:
    mappings = [MAPPINGS[1], {**MAPPINGS[2], "mapping": {"traits": {"plan": "pro"}}}]
    result = _check(api, _instance(tmp_path, mappings))
    assert result.exit_code == 0, result.output
    assert "Every checked key is defined." in result.stdout


def test_check_adds_the_attributes_a_sync_sets(api: ManagementEmulator, tmp_path: Path) -> None:
    instance = _instance(tmp_path, [MAPPINGS[1]])
    sync = tmp_path / "users.sync.yaml"
    sync.write_text(
        yaml.safe_dump(
            {
                "name": "users",
                "source": {"csv": "users.csv"},
                "primaryKey": "id",
                "userUid": "uid",
                "fields": {"plan": "plan", "lifetime_value": {"column": "ltv", "type": "number"}},
                "destination": "instance.yaml",
            }
        )
    )
    result = _check(api, instance, "--sync", str(sync), "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["missing"]["attributes"] == {
        "lifetime_value": ["sync 'users'"]
    }


def test_a_refused_token_is_an_authentication_error(
    api: ManagementEmulator, tmp_path: Path
) -> None:
    result = _check(api, _instance(tmp_path, MAPPINGS), "--json", token="wrong-token")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_AUTHENTICATION"
    assert "wrong-token" not in result.output


def test_a_missing_token_is_a_usage_error(api: ManagementEmulator, tmp_path: Path) -> None:
    result = _check(api, _instance(tmp_path, MAPPINGS), token=None)
    assert result.exit_code == 2
    assert "PERSONALIZE_MANAGEMENT_TOKEN" in result.output
    assert api.requests == []


def _args(tmp_path: Path) -> list[str]:
    return ["check", "contentstack", "--instance", str(_instance(tmp_path, MAPPINGS))]


def test_an_unreachable_api_is_reported(tmp_path: Path) -> None:
    with ManagementEmulator(project_uid=PROJECT) as api:
        url = api.url
    result = CliRunner().invoke(
        cli,
        [*_args(tmp_path), "--management-url", url, "--json"],
        env={"PERSONALIZE_MANAGEMENT_TOKEN": TOKEN},
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "CONNECTION_FAILED"


def test_a_management_url_that_is_not_https_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [*_args(tmp_path), "--management-url", "http://example.com"],
        env={"PERSONALIZE_MANAGEMENT_TOKEN": TOKEN},
    )
    assert result.exit_code == 2
    assert "--management-url" in result.output
