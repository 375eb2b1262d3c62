"""Reading definition files (YAML or JSON) with the line of every value, by JSON pointer.

Problems found later (by the JSON Schema check, the models, or compiling triggers and
mappings) are located by JSON pointer; :class:`SourceDocument` turns a pointer back into the
line a person should look at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from framework.errors import DefinitionError, Problem


def escape_pointer_token(token: str | int) -> str:
    """Escape one JSON pointer token (RFC 6901: ``~`` as ``~0``, ``/`` as ``~1``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(*tokens: str | int) -> str:
    """A JSON pointer from its unescaped tokens: ``join_pointer("a", 0) == "/a/0"``."""
    return "".join("/" + escape_pointer_token(token) for token in tokens)


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A parsed document, where it came from, and the 1-based line of each JSON pointer."""

    data: Any
    name: str
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, pointer: str) -> int | None:
        """The line of the value at ``pointer``, or of its nearest ancestor that has one."""
        while True:
            if pointer in self.lines:
                return self.lines[pointer]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def locate(self, problem: Problem) -> Problem:
        """The same problem, with the line of its pointer filled in."""
        if problem.line is not None:
            return problem
        return Problem(
            problem.pointer, problem.message, problem.code, self.line_of(problem.pointer)
        )


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (a silent override hides mistakes)."""


def _record_lines(node: yaml.Node, pointer: str, lines: dict[str, int]) -> None:
    lines[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record_lines(
                    value_node, pointer + "/" + escape_pointer_token(key_node.value), lines
                )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, f"{pointer}/{index}", lines)


def _duplicate_keys(node: yaml.Node, pointer: str) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = pointer + "/" + escape_pointer_token(key)
            if key in seen:
                problems.append(
                    Problem(
                        child,
                        f"The key '{key}' appears twice; keep one.",
                        "DUPLICATE_KEY",
                        key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            problems.extend(_duplicate_keys(value_node, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, f"{pointer}/{index}"))
    return problems


def parse_document(text: str, name: str) -> SourceDocument:
    """Parse YAML (JSON is YAML too) text into a :class:`SourceDocument`.

    Raises :class:`DefinitionError` for text that does not parse or repeats a key, with the
    line and column.
    """
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        where = f" at line {line}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            f"The file does not parse as YAML{where}: {reason}.",
            [Problem("", f"The file does not parse: {reason}.", "SYNTAX", line)],
            source=name,
        ) from exc
    if node is None:
        raise DefinitionError(
            "The file is empty.", [Problem("", "The file is empty.", "EMPTY", 1)], source=name
        )
    duplicates = _duplicate_keys(node, "")
    if duplicates:
        raise DefinitionError("The file repeats keys.", duplicates, source=name)
    data = yaml.load(text, Loader=_LineLoader)
    lines: dict[str, int] = {}
    _record_lines(node, "", lines)
    return SourceDocument(data, name, lines)


def read_document(path: Path) -> SourceDocument:
    """Read and parse a definition file; an unreadable file is a :class:`DefinitionError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(
            f"Cannot read {path}: {exc.strerror}.",
            [Problem("", f"Cannot read the file: {exc.strerror}.", "UNREADABLE")],
            source=str(path),
        ) from exc
    return parse_document(text, str(path))


def open_source(
    source: str | Path | Mapping[str, Any], label: str, *, base_dir: Path | None = None
) -> tuple[SourceDocument, Path]:
    """A configuration from a file or a dict, and the folder its relative paths start from.

    For a file, its own folder; for a dict (named ``label`` in problems), ``base_dir`` or the
    current folder.
    """
    if isinstance(source, Mapping):
        return SourceDocument(dict(source), label), base_dir or Path.cwd()
    path = Path(source)
    return read_document(path), path.parent
