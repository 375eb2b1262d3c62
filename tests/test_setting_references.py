"""A request template's ``{{settings.<key>}}`` must name a setting the destination declares,
of a type its place can take: caught when the destination loads, at the placeholder's pointer.

Before, an unknown setting in a URL made every event ``invalid`` at planning, and one in a
whole-setting form (a method, ``headersFrom``, ``maxCountFrom``) was reported only when an
instance loaded, at a ``/settings/<key>`` the instance's author could not fix.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework.definitions.loader import load_destination
from framework.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK: dict[str, Any] = yaml.safe_load(
    (ROOT / "destinations" / "webhook" / "destination.yaml").read_text("utf-8")
)

Change = Callable[[dict[str, Any]], None]


def _request(action: str, key: str, value: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        document["actions"][action]["request"][key] = value

    return change


def _header(name: str, value: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        document["actions"]["send"]["request"]["headers"][name] = value

    return change


def _batch(value: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        document["actions"]["sendBatch"]["batch"]["maxCountFrom"] = value

    return change


def _secret(value: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        document["actions"]["send"]["request"]["sign"]["secret"] = value

    return change


CASES = [
    (_request("send", "url", "{{settings.ur}}/x"), "/actions/send/request/url", "SETTING_UNKNOWN"),
    (_header("x-a", "{{settings.nope}}"), "/actions/send/request/headers/x-a", "SETTING_UNKNOWN"),
    (
        _header("{{settings.nope}}", "1"),
        "/actions/send/request/headers/{{settings.nope}}",
        "SETTING_UNKNOWN",
    ),
    (_secret("{{settings.shared}}"), "/actions/send/request/sign/secret", "SETTING_UNKNOWN"),
    (
        _request("send", "method", "{{settings.verb}}"),
        "/actions/send/request/method",
        "SETTING_UNKNOWN",
    ),
    (
        _request("send", "method", "{{settings.batchSize}}"),
        "/actions/send/request/method",
        "SETTING_TYPE_MISMATCH",
    ),
    (
        _request("send", "headersFrom", "{{settings.url}}"),
        "/actions/send/request/headersFrom",
        "SETTING_TYPE_MISMATCH",
    ),
    (
        _request("send", "headersFrom", "{{settings.header}}"),
        "/actions/send/request/headersFrom",
        "SETTING_UNKNOWN",
    ),
    (_batch("{{settings.url}}"), "/actions/sendBatch/batch/maxCountFrom", "SETTING_TYPE_MISMATCH"),
    (_batch("{{settings.size}}"), "/actions/sendBatch/batch/maxCountFrom", "SETTING_UNKNOWN"),
]


@pytest.mark.parametrize(("change", "pointer", "code"), CASES)
def test_a_setting_the_destination_lacks_or_cannot_fill_the_place_is_refused(
    tmp_path: Path, change: Change, pointer: str, code: str
) -> None:
    document = copy.deepcopy(WEBHOOK)
    change(document)
    (tmp_path / "destination.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_destination(tmp_path)
    found = [(problem.pointer, problem.code) for problem in caught.value.problems]
    assert (pointer, code) in found, caught.value.problems
    (problem,) = [p for p in caught.value.problems if p.pointer == pointer]
    assert "{{settings." in problem.message


def test_a_near_miss_is_suggested(tmp_path: Path) -> None:
    document = copy.deepcopy(WEBHOOK)
    _header("x-a", "{{settings.sharedSecrets}}")(document)
    (tmp_path / "destination.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_destination(tmp_path)
    # The YAML's anchors share these headers among the four actions: each says so.
    assert len(caught.value.problems) == 4
    for problem in caught.value.problems:
        assert problem.message.endswith("Did you mean 'sharedSecret'?")


def test_the_shipped_destinations_name_only_their_own_settings() -> None:
    for slug in ("webhook", "contentstack"):
        assert load_destination(slug).actions
