"""``actionkit validate`` tells sync files and server configurations from instances, and names
a file that does not parse by its name, not as a mapping."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def test_sync_files_and_server_configurations_validate_as_what_they_are() -> None:
    paths = [
        ROOT / "examples" / "sync" / "users.sync.yaml",
        ROOT / "examples" / "sync" / "users-csv.sync.yaml",
        ROOT / "examples" / "server.yaml",
        ROOT / "examples" / "contentstack.yaml",
    ]
    result = CliRunner().invoke(cli, ["validate", *map(str, paths), "--json"])
    assert result.exit_code == 0, result.output
    kinds = [(entry["kind"], entry["valid"]) for entry in json.loads(result.stdout)]
    assert kinds == [("sync", True), ("sync", True), ("server", True), ("instance", True)]


def test_a_broken_sync_file_is_checked_by_the_sync_loader(tmp_path: Path) -> None:
    sync = tmp_path / "users.sync.yaml"
    sync.write_text(
        "name: users\nsource: {csv: users.csv}\nprimaryKey: id\nuserUid: user_uid\n"
        "fields:\n  plan: {mapping: {'@pathh': '$.row.plan'}}\n"
        f"destination: {ROOT / 'examples' / 'contentstack.yaml'}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(sync), "--json"])
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)
    assert entry["kind"] == "sync"
    codes = [
        (problem["pointer"], problem["code"], problem["line"]) for problem in entry["problems"]
    ]
    assert codes == [("/fields/plan/mapping", "MAPPING_UNKNOWN_DIRECTIVE", 6)]


def test_a_file_that_does_not_parse_is_named_by_its_name(tmp_path: Path) -> None:
    broken = "destination: x\nsettings: {a: 1\n  b: [\n"
    for name, kind in [
        ("x.yaml", "file"),
        ("a.sync.yaml", "sync"),
        ("destination.yaml", "destination"),
    ]:
        path = tmp_path / name
        path.write_text(broken)
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 1
        assert f"invalid {path} ({kind})" in result.stderr
        assert "column" in result.stderr


def test_another_file_s_problem_is_said_once(tmp_path: Path) -> None:
    sync = tmp_path / "users.sync.yaml"
    sync.write_text(
        "name: users\nsource: {csv: users.csv}\nprimaryKey: id\nuserUid: user_uid\n"
        "fields: {plan: plan}\ndestination: nope.yaml\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(sync), "--json"])
    (entry,) = json.loads(result.stdout)
    problems = [(problem["pointer"], problem["code"]) for problem in entry["problems"]]
    assert problems == [("/destination", "UNREADABLE")]
    assert entry["problems"][0]["message"].startswith(f"{tmp_path / 'nope.yaml'}: ")
