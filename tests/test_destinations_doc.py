"""docs/destinations.md names every key of the two schemas, and its whole examples load.

A ```yaml block whose first line is ``# destination`` is a whole destination definition; one
whose first line is ``# instance`` is a whole instance. Each is written to a temporary folder
and loaded with the real loaders; instances find the doc's destinations by slug through
``ACTIONKIT_DESTINATIONS``, and the bundled ones (``contentstack``) as usual.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework import load_destination, load_instance
from framework.definitions.instance import MAX_MAPPINGS

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "destinations.md"
SCHEMAS = [ROOT / "schemas" / "destination.schema.json", ROOT / "schemas" / "instance.schema.json"]
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", flags=re.DOTALL)


def _schema_names(schema: Any, names: set[str], values: set[str]) -> None:
    """Collect property names (and string enum values) of a schema, at every depth."""
    if isinstance(schema, list):
        for item in schema:
            _schema_names(item, names, values)
        return
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        if keyword in ("properties", "$defs") and isinstance(value, dict):
            if keyword == "properties":
                names.update(value)
            for child in value.values():
                _schema_names(child, names, values)
        elif keyword == "enum" and isinstance(value, list):
            values.update(item for item in value if isinstance(item, str))
        elif isinstance(value, dict | list):
            _schema_names(value, names, values)


def _schema_vocabulary() -> tuple[set[str], set[str]]:
    names: set[str] = set()
    values: set[str] = set()
    for path in SCHEMAS:
        _schema_names(json.loads(path.read_text(encoding="utf-8")), names, values)
    return names, values


NAMES, ENUM_VALUES = _schema_vocabulary()
TEXT = DOC.read_text(encoding="utf-8")
BLOCKS = YAML_BLOCK.findall(TEXT)


def _marked(marker: str) -> list[str]:
    return [block for block in BLOCKS if block.splitlines()[0].strip() == f"# {marker}"]


DESTINATIONS = _marked("destination")
INSTANCES = _marked("instance")


def test_the_schema_walk_finds_keys_at_every_depth() -> None:
    # Top level, $defs, nested request/batch, choice objects, instance mappings and delivery.
    expected = {"integrationNames", "allowNull", "url", "windowMs", "value", "enabled"}
    assert expected | {"connectTimeout", "preset", "$schema"} <= NAMES
    assert {"password", "https-url", "PATCH", "merge"} <= ENUM_VALUES


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_schema_key_is_documented(name: str) -> None:
    assert f"`{name}`" in TEXT, f"docs/destinations.md never mentions `{name}`"


@pytest.mark.parametrize("value", sorted(ENUM_VALUES))
def test_every_type_format_method_and_combine_is_documented(value: str) -> None:
    assert f"`{value}`" in TEXT, f"docs/destinations.md never mentions `{value}`"


def test_the_doc_has_whole_examples_of_both_kinds() -> None:
    assert len(DESTINATIONS) >= 1
    assert len(INSTANCES) >= 2


def test_every_yaml_block_parses() -> None:
    for block in BLOCKS:
        yaml.safe_load(block)


def _write_destinations(folder: Path) -> list[Path]:
    paths = []
    for block in DESTINATIONS:
        slug = yaml.safe_load(block)["slug"]
        path = folder / slug / "destination.yaml"
        path.parent.mkdir()
        path.write_text(block, encoding="utf-8")
        paths.append(path)
    return paths


def test_the_whole_destinations_load(tmp_path: Path) -> None:
    for path in _write_destinations(tmp_path):
        destination = load_destination(path)
        assert destination.slug == path.parent.name
        # Every key it defines made it through: the example is meant to be complete.
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(destination.actions) == set(data["actions"])
        assert set(destination.presets) == set(data.get("presets", {}))


@pytest.mark.parametrize("number", range(len(INSTANCES)))
def test_the_whole_instances_load(
    number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "destinations"
    folder.mkdir()
    _write_destinations(folder)
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(folder))
    block = INSTANCES[number]
    path = tmp_path / "instance.yaml"
    path.write_text(block, encoding="utf-8")
    instance = load_instance(path)
    data = yaml.safe_load(block)
    assert instance.destination.slug == data["destination"]
    assert [s.name for s in instance.subscriptions] == [m["name"] for m in data["mappings"]]
    assert len(instance.subscriptions) <= MAX_MAPPINGS


def test_the_example_crm_instance_resolves_its_alias_and_masks_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_destinations(tmp_path)
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(tmp_path))
    [block] = [block for block in INSTANCES if "example-crm" in block]
    instance = load_instance(yaml.safe_load(block))
    assert instance.settings["apiBaseUrl"] == "https://eu.api.example-crm.com"
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "ann/42",
        "properties": {"order_id": "o-1", "total": 1500, "quantity": "2"},
    }
    ready = {plan.mapping: plan for plan in instance.plan(event) if plan.status == "ready"}
    assert set(ready) == {"Orders", "Large orders"}
    request = ready["Large orders"].request
    assert request is not None
    assert request.url == ("https://eu.api.example-crm.com/v1/sandbox/contacts/ann%2F42/orders")
    assert request.json == [
        {"id": "o-1", "total": 1500, "quantity": 2, "note": "large order of 1500"}
    ]
    assert request.redacted()["headers"]["authorization"] == "Bearer [REDACTED]"
    assert ready["Orders"].batch_key == "ann/42"


def test_a_top_level_schema_key_is_accepted(tmp_path: Path) -> None:
    definition = (ROOT / "destinations" / "contentstack" / "destination.yaml").read_text()
    path = tmp_path / "contentstack" / "destination.yaml"
    path.parent.mkdir()
    path.write_text(f"$schema: ../../schemas/destination.schema.json\n{definition}")
    assert load_destination(path).slug == "contentstack"
    instance = load_instance(
        {
            "$schema": "../schemas/instance.schema.json",
            "destination": str(path),
            "settings": {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": "aws-eu"},
        }
    )
    assert instance.destination.slug == "contentstack"
