"""Engage audiences, computed traits and group calls reach the Contentstack emulator.

``actionkit run --emulate`` with the audience-sync, computed-attribute-sync and
group-attributes presets: an audience entered (identify) and exited (track), a computed trait
and a group call end as the user's attributes in the emulator's state.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from framework.cli.main import cli

INSTANCE = {
    "destination": "contentstack",
    "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": "aws-eu"},
    "mappings": [
        {"name": "Audiences", "preset": "audience-sync"},
        {"name": "Computed", "preset": "computed-attribute-sync", "trigger": 'type = "identify"'},
        {"name": "Groups", "preset": "group-attributes"},
    ],
}
EVENTS = [
    {"type": "identify", "userId": "u1", "traits": {"vip": True}},
    {
        "type": "track",
        "userId": "u1",
        "event": "Audience Exited",
        "properties": {"audience_key": "vip", "vip": False},
    },
    {"type": "identify", "userId": "u2", "traits": {"lifetime_orders": 12}},
    {"type": "group", "userId": "u2", "groupId": "acme", "traits": {"name": "Acme", "size": 4}},
]


def test_audiences_computed_traits_and_groups_become_attributes(tmp_path: Path) -> None:
    instance = tmp_path / "instance.yaml"
    instance.write_text(yaml.safe_dump(INSTANCE), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event) + "\n" for event in EVENTS), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["run", str(events), "--instance", str(instance), "--emulate", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["audienceSync/delivered"] == 3
    assert report["summary"]["computedAttributeSync/delivered"] == 2
    assert report["summary"]["customAttributesSync/delivered"] == 1
    users = report["emulator_state"]["projects"]["proj"]["users"]
    assert users["u1"]["attributes"] == {"vip": False, "audience_key": "vip"}
    assert users["u2"]["attributes"] == {
        "lifetime_orders": 12,
        "groupId": "acme",
        "groupName": "Acme",
    }
