"""Where a destination slug is found: --destinations, ACTIONKIT_DESTINATIONS, ./destinations,
then the bundled destinations; a slug two user folders define is an error, a user folder may
shadow a bundled slug."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from framework import load_destination
from framework.cli.main import cli
from framework.definitions.resources import (
    bundled_destinations,
    destination_folders,
    load_schema,
    searching,
)
from framework.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK = ROOT / "tests" / "fixtures" / "destinations" / "webhook" / "destination.yaml"
CONTENTSTACK = ROOT / "destinations" / "contentstack" / "destination.yaml"

# Every command that looks a destination up by slug (directly, or through an instance, a
# case file or a sync or server configuration).
SEARCHING_COMMANDS = [
    ("destinations", "list"),
    ("destinations", "show"),
    ("validate",),
    ("test",),
    ("try",),
    ("run",),
    ("serve",),
    ("worker",),
    ("dlq", "replay"),
    ("check", "contentstack"),
    ("sync",),
    ("runs",),
    ("runs", "show"),
]


def _webhook_in(folder: Path, slug: str = "test-webhook") -> Path:
    """A copy of the test webhook destination as ``folder/<slug>/destination.yaml``."""
    target = folder / slug / "destination.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(WEBHOOK, target)
    return target


@pytest.fixture(autouse=True)
def _no_extra_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from an empty working directory and no ACTIONKIT_DESTINATIONS."""
    monkeypatch.delenv("ACTIONKIT_DESTINATIONS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.commands.get(name)
        assert found is not None, path
        command = found
    return command


@pytest.mark.parametrize("path", SEARCHING_COMMANDS, ids=" ".join)
def test_every_command_that_looks_a_slug_up_takes_destinations(path: tuple[str, ...]) -> None:
    options = {
        opt: param
        for param in _command(path).params
        if isinstance(param, click.Option)
        for opt in param.opts
    }
    assert "--destinations" in options
    assert options["--destinations"].multiple


def test_the_bundled_files_come_from_the_checkout_when_running_from_it() -> None:
    # No framework/_bundled in the checkout: the top-level folders are read in place.
    assert not (ROOT / "framework" / "_bundled").exists()
    assert Path(str(files("framework"))).parent == ROOT
    assert bundled_destinations() == ROOT / "destinations"
    assert load_schema("destination.schema.json")["$schema"]
    assert load_destination("contentstack").path == CONTENTSTACK


def test_the_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    option, environment = tmp_path / "option", tmp_path / "environment"
    option.mkdir()
    environment.mkdir()
    (Path.cwd() / "destinations").mkdir()
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(environment))
    with searching([option]):
        folders = [(folder.origin, folder.path) for folder in destination_folders()]
    assert folders == [
        ("option", option),
        ("environment", environment),
        ("working-directory", Path.cwd() / "destinations"),
        ("bundled", ROOT / "destinations"),
    ]
    assert destination_folders()[0].origin == "environment"


@pytest.mark.parametrize("where", ["option", "environment", "working-directory"])
def test_a_user_folder_is_searched(
    where: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = Path.cwd() / "destinations" if where == "working-directory" else tmp_path / where
    path = _webhook_in(folder)
    arguments = ["destinations", "show", "test-webhook", "--json"]
    if where == "option":
        arguments += ["--destinations", str(folder)]
    if where == "environment":
        monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(folder))
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(path)
    # The option counts only for the command it is given to.
    if where == "option":
        with pytest.raises(DefinitionError):
            load_destination("test-webhook")


def test_a_slug_in_two_user_folders_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = _webhook_in(tmp_path / "one")
    second = _webhook_in(tmp_path / "two")
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(tmp_path / "two"))
    with searching([tmp_path / "one"]), pytest.raises(DefinitionError) as caught:
        load_destination("test-webhook")
    [problem] = caught.value.problems
    assert problem.code == "DUPLICATE_DESTINATION"
    assert str(first) in problem.message
    assert str(second) in problem.message

    runner = CliRunner()
    option = ["--destinations", str(tmp_path / "one")]
    shown = runner.invoke(cli, ["destinations", "show", "test-webhook", "--json", *option])
    assert shown.exit_code == 1
    error = json.loads(shown.stdout)["error"]
    assert [p["code"] for p in error["problems"]] == ["DUPLICATE_DESTINATION"]

    listed = runner.invoke(cli, ["destinations", "list", "--json", *option])
    assert listed.exit_code == 1
    entries = {entry["slug"]: entry for entry in json.loads(listed.stdout)}
    codes = [p["code"] for p in entries["test-webhook"]["error"]["problems"]]
    assert codes == ["DUPLICATE_DESTINATION"]
    assert "error" not in entries["contentstack"]

    # An instance naming the slug reports it at its /destination.
    instance = tmp_path / "instance.yaml"
    instance.write_text(
        "destination: test-webhook\n"
        "settings: {baseUrl: 'https://api.example.com', apiKey: k}\n"
        "mappings: []\n"
    )
    checked = runner.invoke(cli, ["validate", str(instance), "--json", *option])
    assert checked.exit_code == 1
    problems = json.loads(checked.stdout)[0]["problems"]
    assert {"/destination"} == {p["pointer"] for p in problems}
    assert "DUPLICATE_DESTINATION" in {p["code"] for p in problems}


def test_the_same_folder_twice_is_searched_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _webhook_in(tmp_path / "mine")
    monkeypatch.setenv("ACTIONKIT_DESTINATIONS", str(tmp_path / "mine"))
    with searching([tmp_path / "mine", tmp_path / "mine"]):
        assert load_destination("test-webhook").path == path


def test_a_user_folder_shadows_a_bundled_slug_and_list_says_so(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "contentstack" / "destination.yaml"
    mine.parent.mkdir(parents=True)
    shutil.copy(CONTENTSTACK, mine)
    with searching([tmp_path / "mine"]):
        assert load_destination("contentstack").path == mine
    option = ["--destinations", str(tmp_path / "mine")]
    listed = CliRunner().invoke(cli, ["destinations", "list", "--json", *option])
    assert listed.exit_code == 0, listed.output
    [entry] = [e for e in json.loads(listed.stdout) if e["slug"] == "contentstack"]
    assert entry["path"] == str(mine)
    assert entry["shadows"] == str(CONTENTSTACK)
    human = CliRunner().invoke(cli, ["destinations", "list", *option])
    assert human.exit_code == 0
    assert str(CONTENTSTACK) in human.stdout


def test_an_instance_finds_a_user_destination_through_the_option(tmp_path: Path) -> None:
    _webhook_in(tmp_path / "mine")
    instance = tmp_path / "instance.yaml"
    instance.write_text(
        "destination: test-webhook\n"
        "settings: {baseUrl: 'https://api.example.com', apiKey: k}\n"
        "mappings:\n"
        "  - name: Users\n"
        "    action: sendUser\n"
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "identify", "userId": "u1", "traits": {"age": 3}}))
    arguments = ["try", str(instance), str(event), "--json"]
    without = CliRunner().invoke(cli, arguments)
    assert without.exit_code == 1
    result = CliRunner().invoke(cli, [*arguments, "--destinations", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output


def test_a_missing_destinations_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["destinations", "list", "--destinations", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_groups_folders_count_for_its_subcommand_and_end_with_it(tmp_path: Path) -> None:
    from framework.cli._search import destinations_option

    seen: list[list[str]] = []

    @click.group()
    @destinations_option
    def group() -> None:
        """A group."""

    @group.command()
    @destinations_option
    def sub() -> None:
        """A subcommand."""
        seen.append([folder.origin for folder in destination_folders()])

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    result = CliRunner().invoke(
        group, ["--destinations", str(tmp_path / "a"), "sub", "--destinations", str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    assert seen == [["option", "option", "bundled"]]
    assert [folder.origin for folder in destination_folders()] == ["bundled"]
