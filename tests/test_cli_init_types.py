"""``actionkit init`` writes a destination whose files validate and whose tests pass as
written; ``actionkit types`` writes typed models of a destination's settings and payloads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from framework import load_destination
from framework.cli.main import cli
from framework.definitions.scaffold import Names, action_yaml, destination_yaml, insert_action
from framework.definitions.typed_models import render_types

ROOT = Path(__file__).resolve().parents[1]


def _init(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["init", *args, "--dir", str(tmp_path / "destinations")])


def test_init_writes_a_destination_that_validates_and_whose_tests_pass(tmp_path: Path) -> None:
    made = _init(tmp_path, "my-crm")
    assert made.exit_code == 0, made.output
    home = tmp_path / "destinations" / "my-crm"
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()) == [
        "destination.yaml",
        "instance.yaml",
        "tests/send-event.yaml",
        "tests/test_my_crm.py",
    ]
    destination = load_destination(home)
    assert (destination.slug, list(destination.actions)) == ("my-crm", ["sendEvent"])
    checked = CliRunner().invoke(cli, ["validate", str(home / "instance.yaml")])
    assert checked.exit_code == 0, checked.output
    tested = CliRunner().invoke(cli, ["test", str(home)])
    assert tested.exit_code == 0, tested.output
    assert "2 passed, 0 failed" in tested.output
    pytested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(home)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert pytested.returncode == 0, pytested.stdout + pytested.stderr
    assert "4 passed" in pytested.stdout  # two YAML cases and two Python tests


def test_init_action_adds_an_action_keeping_every_other_line(tmp_path: Path) -> None:
    assert _init(tmp_path, "my-crm").exit_code == 0
    path = tmp_path / "destinations" / "my-crm" / "destination.yaml"
    before = path.read_text()
    added = _init(tmp_path, "my-crm", "--action", "updateContact")
    assert added.exit_code == 0, added.output
    after = path.read_text()
    assert after.replace(action_yaml("updateContact"), "", 1) == before
    assert list(load_destination(path).actions) == ["sendEvent", "updateContact"]
    assert (path.parent / "tests" / "update-contact.yaml").is_file()
    tested = CliRunner().invoke(cli, ["test", str(path.parent)])
    assert "4 passed, 0 failed" in tested.output
    again = _init(tmp_path, "my-crm", "--action", "updateContact")
    assert again.exit_code == 2
    assert "already has an action 'updateContact'" in again.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["My_Crm"], "lower-case words joined by hyphens"),
        (["my-crm", "--action", "Update"], "camelCase"),
        (["nope", "--action", "update"], "There is no destination at"),
    ],
)
def test_init_refuses_what_it_cannot_write(tmp_path: Path, args: list[str], says: str) -> None:
    result = _init(tmp_path, *args)
    assert result.exit_code == 2
    assert says in result.output


def test_init_never_overwrites_a_destination(tmp_path: Path) -> None:
    assert _init(tmp_path, "my-crm").exit_code == 0
    again = _init(tmp_path, "my-crm")
    assert again.exit_code == 2
    assert "already holds a destination" in again.output


def test_an_action_is_added_before_the_comments_of_the_next_key() -> None:
    text = destination_yaml(Names("a-b"), "sendEvent", "../schemas")
    updated = insert_action(text, "other")
    assert updated.index("  other:\n") < updated.index("# Ready-made mappings")
    assert yaml.safe_load(updated)["actions"]["other"]["request"]["method"] == "POST"


def test_every_docs_link_in_the_generated_files_names_a_real_section(tmp_path: Path) -> None:
    assert _init(tmp_path, "my-crm").exit_code == 0
    home = tmp_path / "destinations" / "my-crm"
    text = "".join(p.read_text() for p in home.rglob("*") if p.is_file())
    links = set(re.findall(r"docs/([a-z-]+\.md)(?:#([a-z0-9-]+))?", text))
    assert links
    for page, anchor in links:
        doc = (ROOT / "docs" / page).read_text()
        if anchor:
            headings = {
                re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in doc.splitlines()
                if line.startswith("#")
            }
            assert anchor in headings, (page, anchor)


def _module(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "types.py", "exec", dont_inherit=True), namespace)
    return namespace


def test_types_of_the_bundled_destination_match_its_fields() -> None:
    destination = load_destination("contentstack")
    module = _module(render_types(destination))
    for key, action in destination.actions.items():
        payload = module["PAYLOADS"][key]
        required = {name for name, spec in action.definition.fields.items() if spec.required}
        assert payload.__required_keys__ == required
        assert payload.__optional_keys__ == set(action.definition.fields) - required
    assert set(module["Settings"].__annotations__) == set(destination.definition.settings)


def test_types_cover_nested_objects_choices_lists_and_nulls(tmp_path: Path) -> None:
    text = destination_yaml(Names("shop"), "sendEvent", "../schemas")
    document = yaml.safe_load(text)
    fields = document["actions"]["sendEvent"]["fields"]
    fields["address"] = {
        "label": "Address",
        "type": "object",
        "required": True,
        "properties": {"city": {"label": "City", "type": "string", "required": True}},
    }
    fields["plan"] = {"label": "Plan", "type": "string", "choices": ["free", "pro"]}
    fields["tags"] = {"label": "Tags", "type": "string", "multiple": True, "allowNull": True}
    path = tmp_path / "shop" / "destination.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(document))
    source = render_types(load_destination(path))
    module = _module(source)
    payload = module["SendEventPayload"]
    assert {"userId", "event", "address"} == payload.__required_keys__
    assert module["SendEventPayloadAddress"].__required_keys__ == {"city"}
    assert 'Literal["free", "pro"]' in source
    assert "list[str] | None" in source
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if Path(ruff).exists():
        written = tmp_path / "types_out.py"
        written.write_text(source)
        assert (
            subprocess.run([ruff, "format", "--check", str(written)], check=False).returncode == 0
        )
        linted = subprocess.run(
            [
                ruff,
                "check",
                "--isolated",
                "--line-length",
                "100",
                "--select",
                "E,F,W,UP",
                str(written),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert linted.returncode == 0, linted.stdout


def test_types_check_tells_a_stale_file_from_a_current_one(tmp_path: Path) -> None:
    out = tmp_path / "types.py"
    written = CliRunner().invoke(cli, ["types", "contentstack", "--output", str(out)])
    assert written.exit_code == 0, written.output
    current = CliRunner().invoke(cli, ["types", "contentstack", "-o", str(out), "--check"])
    assert (current.exit_code, current.output.strip()) == (0, f"{out} is current.")
    out.write_text(out.read_text().replace("Required[str]", "str", 1))
    stale = CliRunner().invoke(cli, ["types", "contentstack", "-o", str(out), "--check"])
    assert stale.exit_code == 1
    assert "is not current: run `actionkit types contentstack --output" in stale.stderr
    assert "-    personalizeProjectId: str" in stale.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_documented_completion_scripts_exist(shell: str) -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    assert f"_ACTIONKIT_COMPLETE={shell}_source actionkit" in page
    script = subprocess.run(
        [str(Path(sys.executable).with_name("actionkit"))],
        env={"_ACTIONKIT_COMPLETE": f"{shell}_source", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert "_ACTIONKIT_COMPLETE" in script.stdout


def test_init_and_types_answer_json_for_scripts(tmp_path: Path) -> None:
    made = CliRunner().invoke(cli, ["init", "shop", "--dir", str(tmp_path), "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert report["destination"] == str(tmp_path / "shop")
    assert len(report["written"]) == 4
    assert report["updated"] == []
    module = CliRunner().invoke(cli, ["types", str(tmp_path / "shop"), "--json"])
    assert "class SendEventPayload(TypedDict" in json.loads(module.stdout)["module"]
    out = tmp_path / "t.py"
    CliRunner().invoke(cli, ["types", str(tmp_path / "shop"), "-o", str(out)])
    checked = CliRunner().invoke(
        cli, ["types", str(tmp_path / "shop"), "-o", str(out), "--check", "--json"]
    )
    assert json.loads(checked.stdout) == {"path": str(out), "current": True}


def test_the_bundled_destination_s_types_are_current() -> None:
    module = ROOT / "framework" / "destination_types" / "contentstack.py"
    checked = CliRunner().invoke(cli, ["types", "contentstack", "-o", str(module), "--check"])
    assert checked.exit_code == 0, (
        f"{checked.stderr}\nRegenerate: actionkit types contentstack --output "
        "framework/destination_types/contentstack.py"
    )
    from framework.destination_types.contentstack import PAYLOADS, EventsSyncPayload

    assert PAYLOADS["eventsSync"] is EventsSyncPayload
    assert EventsSyncPayload.__required_keys__ == {"userId", "event"}
