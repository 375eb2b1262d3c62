"""Tests as data: reading a destination's ``tests/*.yaml`` case files.

A case file holds a list of cases, or an object with ``cases`` and defaults for them
(``destination``, ``settings``); ``schemas/testcase.schema.json`` describes every key. A file
with a mistake in it (YAML that does not parse, an unknown key, an action the destination does
not have, an event file that cannot be read) is refused with every problem listed, each with
its JSON pointer and line, before any case runs. Running the cases is
:mod:`framework.testing.runner`'s job.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator

from framework.definitions.destination import Destination
from framework.definitions.loader import DEFINITION_FILE, load_destination
from framework.definitions.resources import load_schema
from framework.definitions.schema_check import make_validator, schema_problems
from framework.definitions.source import SourceDocument, read_document
from framework.errors import DefinitionError, Problem
from framework.suggestions import did_you_mean

__all__ = [
    "Case",
    "CaseFile",
    "Expected",
    "find_case_files",
    "is_case_file",
    "load_case_file",
]

CASE_SUFFIXES = (".yaml", ".yml")
"""The suffixes of case files."""

CaseKind = Literal["action", "preset", "instance"]
"""What a case runs the event through."""

_TARGETS: tuple[CaseKind, ...] = ("action", "preset", "instance")


@dataclass(frozen=True, slots=True)
class Expected:
    """What a case expects; each part given is checked, the others are not.

    ``requests``: every request the API receives, in order (subset headers). ``error``: a
    problem (``code``, ``pointer``, optional ``message`` text) that must be reported.
    ``outcome``: how every delivery ends, or a dict of outcomes by mapping name.
    ``payload``: the validated payload (a list for a list of events), when ``has_payload``.
    A case that gives none of them fails until ``actionkit test --update`` records them.
    """

    requests: tuple[dict[str, Any], ...] | None = None
    error: dict[str, str] | None = None
    outcome: str | dict[str, str] | None = None
    payload: Any = None
    has_payload: bool = False

    @property
    def given(self) -> tuple[str, ...]:
        """The parts given, in the order they are checked (empty: the case expects nothing)."""
        present = {
            "error": self.error is not None,
            "outcome": self.outcome is not None,
            "requests": self.requests is not None,
            "payload": self.has_payload,
        }
        return tuple(key for key, given in present.items() if given)


@dataclass(frozen=True, slots=True)
class Case:
    """One test case: an event, what it goes through, and what is expected.

    ``kind`` says whether ``target`` is an action key, a preset slug or an instance (a path,
    or a dict whose ``destination`` is filled in). ``events`` is None for Segment's test event.
    ``pointer`` and ``line`` locate the case in ``path``.
    """

    name: str
    path: Path
    pointer: str
    line: int | None
    kind: CaseKind
    target: Any
    expected: Expected
    mapping: dict[str, Any] | None = None
    use_default_mappings: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    events: list[Any] | None = None
    answers: tuple[dict[str, Any], ...] = ()

    @property
    def location(self) -> str:
        """``path:line`` of the case, for reports."""
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


@dataclass(frozen=True, slots=True)
class CaseFile:
    """A loaded case file: its destination, the file's settings, and its cases."""

    path: Path
    destination: Destination
    settings: dict[str, Any]
    cases: tuple[Case, ...]


def is_case_file(path: Path) -> bool:
    """Whether ``path`` is a case file by convention: ``<destination folder>/tests/*.yaml``."""
    return (
        path.suffix in CASE_SUFFIXES
        and path.parent.name == "tests"
        and (path.parent.parent / DEFINITION_FILE).is_file()
    )


def find_case_files(root: Path) -> list[Path]:
    """The case files under ``root`` (a folder), sorted; a file is returned as it is."""
    if not root.is_dir():
        return [root]
    found = {path for path in root.rglob("*") if path.is_file() and is_case_file(path)}
    if root.name == "tests":
        found.update(p for p in root.iterdir() if p.is_file() and p.suffix in CASE_SUFFIXES)
    return sorted(found)


@functools.cache
def _case_file_validator() -> Draft202012Validator:
    """The validator of a whole case file, built once."""
    schema = load_schema("testcase.schema.json")
    return make_validator({"$ref": "#/$defs/file", "$defs": schema["$defs"]})


def _case_problems(data: Any) -> list[Problem]:
    """Schema problems, without the unreadable oneOf/not ones the loader words itself."""
    return [
        problem
        for problem in schema_problems(_case_file_validator(), data)
        if not (problem.pointer.count("/") == 2 and _is_combinator_message(problem.message))
    ]


def _is_combinator_message(message: str) -> bool:
    return (
        "is valid under each of" in message
        or "is not valid under any of" in message
        or ("should not be valid under" in message)
    )


class _Loader:
    """Checks one case file, collecting every problem before anything is raised."""

    def __init__(self, path: Path, document: SourceDocument, listed: bool) -> None:
        self.path = path
        self.document = document
        self.listed = listed
        self.problems: list[Problem] = []

    def pointer(self, index: int) -> str:
        return f"/{index}" if self.listed else f"/cases/{index}"

    def add(self, pointer: str, message: str, code: str) -> None:
        self.problems.append(self.document.locate(Problem(pointer, message, code)))

    def destination(self, data: dict[str, Any]) -> Destination | None:
        named = data.get("destination")
        if named is None:
            target: str | Path = self.path.parent.parent
            if not (self.path.parent.parent / DEFINITION_FILE).is_file():
                self.add(
                    "",
                    "No destination for these cases: the file is not in a destination's "
                    "tests/ folder; name one with 'destination:' (a slug or a path).",
                    "NO_DESTINATION",
                )
                return None
        elif "/" in named or named.endswith((".yaml", ".yml", ".json")):
            target = self.path.parent / named
        else:
            target = named
        try:
            return load_destination(target)
        except DefinitionError as exc:
            detail = "; ".join(str(problem) for problem in exc.problems[:3])
            message = exc.message + (f" ({detail})" if detail else "")
            self.add("/destination" if named is not None else "", message, exc.code)
            return None

    def events(self, raw: dict[str, Any], pointer: str) -> list[Any] | None:
        if "event" in raw:
            value = raw["event"]
            return list(value) if isinstance(value, list) else [value]
        name = raw.get("eventFile")
        if name is None:
            return None
        try:
            data = read_document(self.path.parent / name).data
        except DefinitionError as exc:
            code = exc.problems[0].code if exc.problems else exc.code
            self.add(f"{pointer}/eventFile", f"The event file {name}: {exc.message}", code)
            return None
        return list(data) if isinstance(data, list) else [data]

    def case(self, raw: dict[str, Any], index: int, destination: Destination) -> Case | None:
        pointer = self.pointer(index)
        kinds = [kind for kind in _TARGETS if kind in raw]
        if len(kinds) != 1:
            given = ", ".join(kinds) or "none of them"
            self.add(
                pointer,
                f"A case names exactly one of 'action', 'preset' or 'instance'; this one has "
                f"{given}.",
                "CASE_TARGET",
            )
            return None
        if "event" in raw and "eventFile" in raw:
            self.add(f"{pointer}/eventFile", "Give 'event' or 'eventFile', not both.", "CASE_EVENT")
        kind = kinds[0]
        target = raw[kind]
        if kind == "action" and target not in destination.actions:
            known = ", ".join(sorted(destination.actions))
            self.add(
                f"{pointer}/action",
                f"The destination '{destination.slug}' has no action '{target}'; its actions "
                f"are: {known}.{did_you_mean(target, destination.actions)}",
                "UNKNOWN_ACTION",
            )
        if kind == "preset" and target not in destination.presets:
            known = ", ".join(sorted(destination.presets)) or "none"
            self.add(
                f"{pointer}/preset",
                f"The destination '{destination.slug}' has no preset '{target}'; its presets "
                f"are: {known}.{did_you_mean(target, destination.presets)}",
                "UNKNOWN_PRESET",
            )
        if kind == "instance":
            target = self.instance(target, f"{pointer}/instance", destination)
            for key in ("mapping", "useDefaultMappings"):
                if key in raw:
                    self.add(f"{pointer}/{key}", f"'{key}' is for action cases.", "CASE_KEY")
            if "payload" in raw.get("expected", {}):
                self.add(
                    f"{pointer}/expected/payload",
                    "'payload' is for action and preset cases; an instance has one per mapping.",
                    "CASE_KEY",
                )
        if kind == "preset" and "useDefaultMappings" in raw:
            self.add(f"{pointer}/useDefaultMappings", "It is for action cases.", "CASE_KEY")
        expected = raw.get("expected", {})
        answers = raw.get("respond", [])
        return Case(
            name=raw["name"],
            path=self.path,
            pointer=pointer,
            line=self.document.line_of(pointer),
            kind=kind,
            target=target,
            expected=Expected(
                requests=tuple(expected["requests"]) if "requests" in expected else None,
                error=expected.get("error"),
                outcome=expected.get("outcome"),
                payload=expected.get("payload"),
                has_payload="payload" in expected,
            ),
            mapping=raw.get("mapping"),
            use_default_mappings=raw.get("useDefaultMappings", True),
            settings=raw.get("settings", {}),
            events=self.events(raw, pointer),
            answers=tuple(answers) if isinstance(answers, list) else (answers,),
        )

    def instance(self, target: Any, pointer: str, destination: Destination) -> Any:
        if isinstance(target, str):
            path = self.path.parent / target
            if not path.is_file():
                self.add(
                    pointer, f"There is no instance file {target} next to this file.", "CASE_FILE"
                )
            return path
        instance = dict(target)
        named = instance.get("destination")
        if named is None:
            instance["destination"] = str(destination.path)
        elif isinstance(named, str) and ("/" in named or named.endswith((".yaml", ".yml"))):
            instance["destination"] = str(self.path.parent / named)
        return instance


def load_case_file(path: str | Path) -> CaseFile:
    """Read and check one case file; raises :class:`~framework.DefinitionError` listing every
    problem (JSON pointer and line) when it is unreadable or wrong."""
    path = Path(path)
    document = read_document(path)
    listed = isinstance(document.data, list)
    data: Any = {"cases": document.data} if listed else document.data
    loader = _Loader(path, document, listed)
    for problem in _case_problems(data):
        pointer = problem.pointer.removeprefix("/cases") if listed else problem.pointer
        loader.add(pointer, problem.message, problem.code)
    if loader.problems:
        raise DefinitionError("The test case file is invalid.", loader.problems, source=str(path))
    destination = loader.destination(data)
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["cases"]):
        if raw["name"] in seen:
            loader.add(
                f"{loader.pointer(index)}/name",
                f"Another case is already named '{raw['name']}'; names must be unique.",
                "DUPLICATE_NAME",
            )
        seen.add(raw["name"])
        if destination is not None:
            case = loader.case(raw, index, destination)
            if case is not None:
                cases.append(case)
    if loader.problems or destination is None:
        raise DefinitionError("The test case file is invalid.", loader.problems, source=str(path))
    return CaseFile(path, destination, dict(data.get("settings", {})), tuple(cases))


def iter_cases(paths: list[Path]) -> Iterator[Path]:
    """Every case file under ``paths`` (folders are searched), each once, in order."""
    seen: set[Path] = set()
    for root in paths:
        for path in find_case_files(root):
            if path not in seen:
                seen.add(path)
                yield path
