"""Hostile definition files are refused with a code and a line: never a traceback, never a hang.

Each document is generated here (none is stored): bytes that are not UTF-8, tags, nesting
past the limit (flow and block style, through aliases and merge keys), an alias bomb, an
alias inside its own node, values Python cannot build, and a file past the size limit. Each
goes through ``actionkit validate`` (the real CLI) and through every loader built on
``framework.definitions.source``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import DefinitionError, load_destination, load_instance
from framework.cli.main import cli
from framework.definitions.source import decode_document, parse_document, read_document
from framework.definitions.yaml_limits import MAX_BYTES, MAX_DEPTH, MAX_VALUES
from framework.server.config import load_server_config
from framework.sync.config import load_sync_config
from framework.testing.cases import load_case_file

ROOT = Path(__file__).resolve().parents[1]


def _nested_block_mappings(levels: int) -> bytes:
    """``name: x`` then ``k:`` nested ``levels`` deep, one level per line (line n+1 opens n)."""
    lines = ["name: x"]
    lines += ["  " * depth + "k:" for depth in range(levels)]
    lines.append("  " * levels + "v: 1")
    return ("\n".join(lines) + "\n").encode()


def _flow(opening: str, closing: str, levels: int) -> bytes:
    return f"name: x\nk: {opening * levels}{closing * levels}\n".encode()


def _alias_bomb() -> bytes:
    """The classic billion laughs: 9 levels of 9 aliases each, 9**9 values once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    return ("\n".join(lines) + "\n").encode()


def _merge_chain(links: int) -> bytes:
    """Each mapping merges the previous one: nesting grows by one per line through aliases."""
    lines = ["m0: &m0 {x: 1}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}}}" for i in range(1, links)]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Hostile:
    """A generated document, the code it is refused with, and the line that code is at."""

    name: str
    build: Callable[[], bytes]
    code: str
    line: int


HOSTILE = [
    Hostile("not UTF-8", lambda: b'name: x\nslug: "caf\xe9"\n', "NOT_UTF8", 2),
    Hostile("UTF-16", lambda: "name: x\n".encode("utf-16"), "NOT_UTF8", 1),
    Hostile(
        "python object tag",
        lambda: b'name: x\nrun: !!python/object/apply:os.system ["true"]\n',
        "UNSUPPORTED_TAG",
        2,
    ),
    Hostile("local tag", lambda: b"name: x\n\nref: !Ref other\n", "UNSUPPORTED_TAG", 3),
    Hostile("mappings 900 deep", lambda: _nested_block_mappings(900), "TOO_DEEP", MAX_DEPTH + 2),
    Hostile("mappings 3,000 deep", lambda: _flow("{a: ", "}", 3000), "TOO_DEEP", 2),
    Hostile("list 10,000 deep", lambda: _flow("[", "]", 10_000), "TOO_DEEP", 2),
    Hostile(
        "alias deeper than the limit",
        lambda: ("a: &a " + "[" * 40 + "]" * 40 + "\n\nb: " + "[" * 30 + "*a" + "]" * 30).encode(),
        "TOO_DEEP",
        3,
    ),
    Hostile("merge keys chained past the limit", lambda: _merge_chain(3000), "TOO_DEEP", 64),
    Hostile("alias bomb", _alias_bomb, "TOO_MANY_VALUES", 6),
    Hostile("alias inside its own node", lambda: b"name: x\na: &x\n  b: *x\n", "ALIAS_CYCLE", 3),
    Hostile(
        "alias inside its own list", lambda: b"name: x\na: &x [1, [2, *x]]\n", "ALIAS_CYCLE", 2
    ),
    Hostile("date that does not exist", lambda: b"name: x\nday: 2020-02-30\n", "INVALID_VALUE", 2),
    Hostile("5,000-digit integer", lambda: b"name: x\nn: " + b"7" * 5000, "INVALID_VALUE", 2),
    Hostile("bad base64", lambda: b"name: x\nb: !!binary 'a'\n", "INVALID_VALUE", 2),
    Hostile("empty int", lambda: b"name: x\n\nn: !!int ''\n", "INVALID_VALUE", 3),
    Hostile("empty timestamp", lambda: b"name: x\nt: !!timestamp x\n", "INVALID_VALUE", 2),
    Hostile("control character", lambda: b'name: x\nc: "\x01"\n', "SYNTAX", 2),
    Hostile("unclosed bracket", lambda: b"name: x\nk: [1, 2\n", "SYNTAX", 3),
    Hostile("undefined alias", lambda: b"name: x\nk: *nowhere\n", "SYNTAX", 2),
    Hostile("two documents", lambda: b"name: x\n---\nname: y\n", "SYNTAX", 2),
    Hostile(
        "larger than the limit",
        lambda: b"name: x\nk: [" + b"0, " * (MAX_BYTES // 3) + b"0]\n",
        "TOO_LARGE",
        2,
    ),
]


def _codes_and_lines(problems: list[Any]) -> list[tuple[str, int | None]]:
    return [(problem.code, problem.line) for problem in problems]


# The bomb goes through the CLI in a subprocess with a timeout (test_an_alias_bomb_is_refused_fast).
IN_PROCESS = [case for case in HOSTILE if case.name != "alias bomb"]


@pytest.mark.parametrize("case", IN_PROCESS, ids=[case.name for case in IN_PROCESS])
def test_validate_refuses_a_hostile_file_at_its_line(case: Hostile, tmp_path: Path) -> None:
    path = tmp_path / "definition.yaml"
    path.write_bytes(case.build())
    result = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (entry,) = json.loads(result.stdout)
    assert not entry["valid"]
    assert [(p["code"], p["line"]) for p in entry["problems"]] == [(case.code, case.line)]
    human = CliRunner().invoke(cli, ["validate", str(path)])
    assert human.exit_code == 1
    assert f"{path}:{case.line}: " in human.stderr
    assert f"[{case.code}]" in human.stderr
    assert "Traceback" not in human.stderr + human.stdout


def _load_as_destination(path: Path) -> object:
    folder = path.parent / "hostile"
    folder.mkdir()
    target = folder / "destination.yaml"
    path.rename(target)
    return load_destination(target)


def _load_as_case_file(path: Path) -> object:
    destination = path.parent / "dest"
    (destination / "tests").mkdir(parents=True)
    (destination / "destination.yaml").write_bytes(
        (ROOT / "destinations" / "contentstack" / "destination.yaml").read_bytes()
    )
    target = destination / "tests" / "cases.yaml"
    path.rename(target)
    return load_case_file(target)


LOADERS: dict[str, Callable[[Path], object]] = {
    "load_destination": _load_as_destination,
    "load_instance": load_instance,
    "load_server_config": load_server_config,
    "load_sync_config": load_sync_config,
    "load_case_file": _load_as_case_file,
    "read_document": read_document,
}


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
def test_every_loader_refuses_a_hostile_file_with_a_definition_error(
    case: Hostile, loader: str, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(case.build())
    with pytest.raises(DefinitionError) as caught:
        LOADERS[loader](path)
    assert _codes_and_lines(caught.value.problems) == [(case.code, case.line)]
    assert caught.value.source is not None
    assert caught.value.source.endswith(".yaml")


def test_an_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    """A bomb that hung would hang this test: it runs in a process with a generous timeout."""
    path = tmp_path / "bomb.yaml"
    path.write_bytes(_alias_bomb())
    command = [sys.executable, "-c", "from framework.cli.main import main; main()"]
    done = subprocess.run(
        [*command, "validate", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (entry,) = json.loads(done.stdout)
    assert [(p["code"], p["line"], p["pointer"]) for p in entry["problems"]] == [
        ("TOO_MANY_VALUES", 6, "/f/2")
    ]
    assert "Traceback" not in done.stderr


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_bytes(b'\xef\xbb\xbforder: {"@path": "$.properties.order_id"}\n')
    assert read_document(path).data == {"order": {"@path": "$.properties.order_id"}}
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.stderr


def test_the_bundled_files_are_far_inside_the_limits() -> None:
    instance = read_document(ROOT / "examples" / "contentstack.yaml")
    destination = read_document(ROOT / "destinations" / "contentstack" / "destination.yaml")
    assert instance.data["destination"] == "contentstack"
    assert destination.data["slug"] == "contentstack"


def _nested_lists(levels: int) -> str:
    return "k: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"


def test_nesting_up_to_the_limit_loads_and_one_more_is_refused() -> None:
    # The root mapping is the first level, so the list holds MAX_DEPTH - 1 more.
    deepest = parse_document(_nested_lists(MAX_DEPTH), "deepest.yaml").data
    levels = 1
    value = deepest["k"]
    while value:
        value = value[0]
        levels += 1
    assert levels == MAX_DEPTH - 1
    with pytest.raises(DefinitionError) as caught:
        parse_document(_nested_lists(MAX_DEPTH + 1), "too-deep.yaml")
    (problem,) = caught.value.problems
    assert (problem.code, problem.line) == ("TOO_DEEP", 1)
    assert problem.pointer == "/k" + "/0" * (MAX_DEPTH - 1)  # the 65th level


def _values(extra: int) -> str:
    """A document of exactly ``MAX_VALUES - 1 + extra`` values, most of them through aliases."""
    # root 1, key a 1, list a 1 + 999, key b 1, list b 1, 248 aliases of 1,000: 249,004
    aliased = 248
    filler = MAX_VALUES - (1 + 1 + 1000 + 1 + 1 + aliased * 1000) - 2 - 1 + extra
    return (
        f"a: &a [{', '.join(['0'] * 999)}]\n"
        f"b: [{', '.join(['*a'] * aliased)}]\n"
        f"c: [{', '.join(['0'] * filler)}]\n"
    )


def test_values_up_to_the_limit_load_and_one_more_is_refused() -> None:
    document = parse_document(_values(1), "at-the-limit.yaml")
    assert len(document.data["b"]) == 248
    with pytest.raises(DefinitionError) as caught:
        parse_document(_values(2), "past-the-limit.yaml")
    (problem,) = caught.value.problems
    assert (problem.code, problem.line) == ("TOO_MANY_VALUES", 3)


def test_shared_nodes_through_aliases_keep_working() -> None:
    text = "base: &base {type: string, required: true}\nfields:\n  a: *base\n  b: {<<: *base}\n"
    data = parse_document(text, "aliases.yaml").data
    assert data["fields"]["a"] == data["fields"]["b"] == {"type": "string", "required": True}


def test_a_file_past_the_size_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.write(b"k: 1\n" * (MAX_BYTES // 5 + 2))
    with pytest.raises(DefinitionError) as caught:
        read_document(path)
    (problem,) = caught.value.problems
    assert problem.code == "TOO_LARGE"
    assert problem.line == MAX_BYTES // 5 + 1


def test_text_past_the_size_limit_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_document("k: " + "é" * (MAX_BYTES // 2), "wide.yaml")
    assert _codes_and_lines(caught.value.problems) == [("TOO_LARGE", 1)]


def _problems_of(load: Callable[[], object]) -> list[Any] | None:
    """None when ``load`` succeeds, the problems of its DefinitionError; anything else fails."""
    try:
        load()
    except DefinitionError as exc:
        return exc.problems
    return None


def _refused_with_codes(problems: list[Any] | None) -> bool:
    return problems is None or (bool(problems) and all(problem.code for problem in problems))


@settings(max_examples=300)
@given(st.text())
def test_any_text_loads_or_is_a_definition_error(text: str) -> None:
    assert _refused_with_codes(_problems_of(lambda: parse_document(text, "any.yaml")))


@settings(max_examples=300)
@given(st.binary())
def test_any_bytes_load_or_are_a_definition_error(raw: bytes) -> None:
    problems = _problems_of(lambda: parse_document(decode_document(raw, "any.yaml"), "any.yaml"))
    assert _refused_with_codes(problems)


YAML_PIECES = st.sampled_from(
    [
        "a", "b: ", "- ", "[", "]", "{", "}", ", ", ": ", "\n", "  ", "&x ", "*x", "&y ", "*y",
        "<<: ", "!!str ", "!!int ", "!!float ", "!!binary ", "!!timestamp ", "!!set ", "!t ",
        "? ", "'", '"', "#", "---\n", "...\n", "|\n", ">\n", "2020-02-30", "1e999", "0x",
        "~", "null", "true", "\t", "%YAML 1.1\n", "\\", "é", "\x00", "\ufeff",
    ]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(YAML_PIECES, max_size=40).map("".join))
def test_yaml_like_text_loads_or_is_a_definition_error(text: str) -> None:
    assert _refused_with_codes(_problems_of(lambda: parse_document(text, "pieces.yaml")))


def test_the_limits_and_their_codes_are_documented() -> None:
    doc = (ROOT / "docs" / "destinations.md").read_text(encoding="utf-8")
    section = doc.split("## Input limits", 1)[1].split("\n## ", 1)[0]
    assert f"{MAX_BYTES:,} bytes" in section
    assert f"more than {MAX_DEPTH} levels" in section
    assert f"more than {MAX_VALUES:,} values" in section
    for code in {case.code for case in HOSTILE}:
        assert f"| `{code}` |" in section, code
