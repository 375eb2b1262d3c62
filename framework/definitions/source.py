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

from framework.definitions.yaml_limits import MAX_BYTES, LimitedLoader, LimitExceededError
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


def _syntax_error(exc: yaml.YAMLError, text: str, name: str) -> DefinitionError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    else:
        line = column = None
    where = f" at line {line}, column {column}" if line is not None else ""
    if isinstance(exc, LimitExceededError):
        return DefinitionError(
            f"The file is refused{where}: {exc.problem}.",
            [Problem(exc.pointer, f"The file is refused: {exc.problem}.", exc.code, line)],
            source=name,
        )
    if isinstance(exc, yaml.reader.ReaderError):
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        reason = f"the character U+{character:04X} is not allowed in YAML; remove it"
        code = "SYNTAX"
    elif isinstance(exc, yaml.constructor.ConstructorError):
        reason = (exc.problem or "a value cannot be read").rstrip(".")
        if "could not determine a constructor" in reason:
            reason = (
                "a tag (!name or !!name) that definitions do not support; remove the tag and "
                "write plain YAML"
            )
            code = "UNSUPPORTED_TAG"
        else:
            code = "INVALID_VALUE"
    else:
        reason = (getattr(exc, "problem", None) or str(exc)).rstrip(".")
        code = "SYNTAX"
    return DefinitionError(
        f"The file does not parse as YAML{where}: {reason}.",
        [Problem("", f"The file does not parse{where}: {reason}.", code, line)],
        source=name,
    )


def _too_large(line: int, name: str) -> DefinitionError:
    message = (
        f"The file is larger than {MAX_BYTES:,} bytes (the limit is crossed on line {line}); "
        "a definition may be at most that large."
    )
    return DefinitionError(message, [Problem("", message, "TOO_LARGE", line)], source=name)


def parse_document(text: str, name: str) -> SourceDocument:
    """Parse YAML (JSON is YAML too) text into a :class:`SourceDocument`.

    Raises :class:`DefinitionError` for text that does not parse, uses a tag the safe loader
    does not know, repeats a key or crosses an input limit (:mod:`.yaml_limits`: size,
    nesting, values once aliases are expanded, an alias inside its own node), with the line
    and column. Nothing else escapes, whatever the text.
    """
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        cut = text.encode("utf-8", "surrogatepass")[:MAX_BYTES]
        raise _too_large(cut.count(b"\n") + 1, name)
    try:
        loader = LimitedLoader(text)  # it reads the text once, refusing characters YAML bans
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, name) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise DefinitionError(
                "The file is empty.", [Problem("", "The file is empty.", "EMPTY", 1)], source=name
            )
        duplicates = _duplicate_keys(node, "")
        if duplicates:
            raise DefinitionError("The file repeats keys.", duplicates, source=name)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, name) from exc
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    _record_lines(node, "", lines)
    return SourceDocument(data, name, lines)


def decode_document(raw: bytes, name: str) -> str:
    """The text of a definition file's bytes: UTF-8, with or without a byte order mark.

    Raises :class:`DefinitionError` (``NOT_UTF8`` at the line and column of the first bad
    byte, ``TOO_LARGE`` past :data:`~.yaml_limits.MAX_BYTES`).
    """
    if len(raw) > MAX_BYTES:
        raise _too_large(raw.count(b"\n", 0, MAX_BYTES) + 1, name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        message = (
            f"The file is not UTF-8: the byte at line {line}, column {column} cannot be "
            "decoded; save the file as UTF-8."
        )
        raise DefinitionError(
            message, [Problem("", message, "NOT_UTF8", line)], source=name
        ) from exc


def read_document(path: Path) -> SourceDocument:
    """Read and parse a definition file; an unreadable file is a :class:`DefinitionError`.

    At most :data:`~.yaml_limits.MAX_BYTES` (and one more) bytes are read, so a huge file
    is refused without being read whole.
    """
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DefinitionError(
            f"Cannot read {path}: {exc.strerror}.",
            [Problem("", f"Cannot read the file: {exc.strerror}.", "UNREADABLE")],
            source=str(path),
        ) from exc
    return parse_document(decode_document(raw, str(path)), str(path))


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
