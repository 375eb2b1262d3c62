"""Header names that a setting chooses: ``"{{settings.userHeader}}": "{{payload.userId}}"``.

A name is an RFC 9110 token, or a template over settings only. Its literal text is checked when
the destination loads; the name it renders is checked when an instance loads (empty, not a
token, or the name of another header of the request refuse the instance at the setting), and
every request then carries the header under that name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from framework import DefinitionError, load_destination, load_instance
from framework.definitions.instance import Instance

DESTINATION = """
name: Header names
slug: header-names
settings:
  userHeader:
    label: User header
    type: string
    default: x-user-id
    choices: [x-user-id, x-other-user, x-fixed]
  freeHeader:
    label: A header name given freely
    type: string
actions:
  send:
    title: Send
    defaultTrigger: type = "track"
    fields:
      userId: {label: User, type: string, required: true, default: {"@path": "$.userId"}}
    request:
      method: POST
      url: https://api.example.com/events
      headers:
        "{{settings.userHeader}}": "{{payload.userId}}"
        "x-fixed": "1"
        "x-{{ settings.freeHeader }}-name": "2"
      body: [{"@path": "$.payload.userId"}]
    batch:
      key: "{{payload.userId}}"
      combine: concat
"""


def _folder(tmp_path: Path, headers: str | None = None) -> Path:
    folder = tmp_path / "header-names"
    folder.mkdir(exist_ok=True)
    text = DESTINATION
    if headers is not None:
        start = text.index("      headers:")
        end = text.index("      body:")
        text = text[:start] + headers + text[end:]
    (folder / "destination.yaml").write_text(text, encoding="utf-8")
    return folder


def _instance(tmp_path: Path, **settings: Any) -> Instance:
    _folder(tmp_path)
    path = tmp_path / "instance.yaml"
    document = {
        "destination": "./header-names",
        "settings": {"freeHeader": "free", **settings},
        "mappings": [{"name": "Send", "action": "send"}],
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_instance(path)


def _headers(instance: Instance) -> dict[str, str]:
    [plan] = instance.plan({"type": "track", "event": "E", "userId": "ann"})
    assert plan.status == "ready", plan.errors
    assert plan.request is not None
    return dict(plan.request.headers)


def test_the_default_of_the_setting_names_the_header(tmp_path: Path) -> None:
    assert _headers(_instance(tmp_path)) == {
        "x-user-id": "ann",
        "x-fixed": "1",
        "x-free-name": "2",
    }


def test_another_choice_sends_the_value_under_that_name_lowercased(tmp_path: Path) -> None:
    headers = _headers(_instance(tmp_path, userHeader="x-other-user", freeHeader="Mixed-Case"))
    assert headers == {"x-other-user": "ann", "x-fixed": "1", "x-mixed-case-name": "2"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("has space", "renders as 'x-has space-name'"),
        ("", "has no value"),
        ("caf\u00e9", "a header name must be a token"),
        ("a:b", "a header name must be a token"),
    ],
)
def test_a_setting_that_makes_no_token_refuses_the_instance(
    tmp_path: Path, value: str, words: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        _instance(tmp_path, freeHeader=value)
    problems = [(p.pointer, p.code) for p in caught.value.problems]
    assert ("/settings/freeHeader", "HEADER_NAME_INVALID") in problems
    assert words in str(caught.value)


def test_a_missing_setting_in_a_name_refuses_the_instance(tmp_path: Path) -> None:
    _folder(tmp_path)
    path = tmp_path / "instance.yaml"
    path.write_text(
        "destination: ./header-names\nsettings: {}\nmappings: [{name: Send, action: send}]\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as caught:
        load_instance(path)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [
        ("/settings/freeHeader", "HEADER_NAME_INVALID")
    ]
    assert "has no value" in str(caught.value)


def test_a_name_that_another_header_already_has_refuses_the_instance(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        _instance(tmp_path, userHeader="x-fixed")
    assert [(p.pointer, p.code) for p in caught.value.problems] == [
        ("/settings/userHeader", "HEADER_NAME_INVALID")
    ]
    assert "already sends ('x-fixed')" in str(caught.value)


def test_a_choice_outside_the_settings_choices_is_refused_as_any_choice_is(
    tmp_path: Path,
) -> None:
    with pytest.raises(DefinitionError) as caught:
        _instance(tmp_path, userHeader="x-unlisted")
    assert "/settings/userHeader" in {p.pointer for p in caught.value.problems}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("x-{{payload.userId}}", "may take settings ({{settings.<key>}}) but not the payload"),
        ("x user {{settings.freeHeader}}", "'x user ' is not valid"),
        ("x-{{settings.freeHeader", "unbalanced"),
        ("{{settings.free Header}}", "must be a path"),
    ],
)
def test_a_name_template_is_checked_when_the_destination_loads(
    tmp_path: Path, name: str, words: str
) -> None:
    folder = _folder(tmp_path, f'      headers:\n        "{name}": "1"\n')
    with pytest.raises(DefinitionError) as caught:
        load_destination(folder)
    codes = {p.code for p in caught.value.problems}
    assert codes <= {"HEADER_NAME_INVALID", "TEMPLATE_INVALID"}, caught.value.problems
    assert words in str(caught.value)


def test_a_name_template_combines_a_batch_as_a_fixed_name_does(tmp_path: Path) -> None:
    instance = _instance(tmp_path, userHeader="x-other-user")
    plans = [instance.plan({"type": "track", "event": name, "userId": "ann"})[0] for name in "ab"]
    builder = instance.subscriptions[0].action.request
    requests = [plan.request for plan in plans if plan.request is not None]
    assert builder.runs(requests) == [[0, 1]]
    assert dict(builder.combine(requests).headers)["x-other-user"] == "ann"
