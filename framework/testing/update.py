"""``actionkit test --update``: write what cases did into their ``expected``, in the YAML file.

Like snapshot tests, the record (:func:`~framework.testing.record.record`) goes into the case
file and is reviewed in the diff; the next run compares against it. Which cases change:

- ``missing`` (``--update``): the cases with no ``expected`` get the whole record.
- ``all`` (``--update=all``): those too, and every failing case: each part of its
  ``expected`` that did not hold is replaced by what happened (or removed, when the run gives
  nothing for it), so what the author chose to check, and how, stays as written where it
  holds. A case that could not run (an invalid mapping or settings) records its error alone.

A passing case is never touched, so the file's bytes change only where the diff shows it.
Only the lines of what changes are written: ruamel.yaml reads the file to find where each
case, ``expected`` and part of it starts, and writes each new part alone, with the file's
indentation (guessed from it), in block style but for short lists and objects, which are
written inline as cases usually are. Every other line (comments, blank lines, quoting, key
order) stays byte for byte.
"""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from framework.errors import DefinitionError, Problem
from framework.testing.record import record
from framework.testing.runner import CaseReport

__all__ = ["UPDATE_MODES", "FileUpdate", "UpdateMode", "new_expectations", "update_case_file"]

UpdateMode = Literal["missing", "all"]
"""Which cases ``--update`` records: those without ``expected``, or those and failing ones."""

UPDATE_MODES: tuple[UpdateMode, ...] = ("missing", "all")
"""The values of ``--update``."""

_INLINE = 60
"""A list or object whose JSON is at most this long is written inline (flow style)."""


@dataclass(frozen=True, slots=True)
class FileUpdate:
    """A case file before and after ``--update``, and the cases it recorded."""

    path: Path
    before: str
    after: str
    cases: tuple[str, ...]

    def diff(self) -> str:
        """The change as a unified diff."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (before)",
                tofile=f"{self.path} (recorded)",
            )
        )


def new_expectations(report: CaseReport, mode: UpdateMode) -> dict[str, Any] | None:
    """The parts of the case's ``expected`` to write (a None value: remove the part), or
    None when the case keeps what it has (see the module doc)."""
    given = report.case.expected.given
    if not given:
        return record(report)
    failing = [key for key in given if key in report.failed]
    if mode != "all" or not failing:
        return None
    recorded = record(report)
    if report.problems or (len(failing) == len(given) and not set(recorded) & set(given)):
        return {"*": recorded}
    return {key: recorded.get(key) for key in failing}


def _styled(value: Any, *, block: bool = False) -> Any:
    """``value`` as ruamel nodes: short lists and objects inline, the rest in block style."""
    if isinstance(value, dict):
        node: CommentedMap | CommentedSeq = CommentedMap(
            (key, _styled(item)) for key, item in value.items()
        )
    elif isinstance(value, list | tuple):
        node = CommentedSeq(_styled(item) for item in value)
    else:
        return value
    inline = not block and len(json.dumps(value, ensure_ascii=False, default=str)) <= _INLINE
    node.fa.set_flow_style() if inline else node.fa.set_block_style()
    return node


def _expected_node(recorded: dict[str, Any]) -> CommentedMap:
    node = CommentedMap()
    for key, value in recorded.items():
        if key == "requests":
            node[key] = _requests_node(value)
        else:
            node[key] = _styled(value)
    node.fa.set_block_style()
    return node


def _requests_node(requests: Sequence[dict[str, Any]]) -> Any:
    if len(json.dumps(requests, ensure_ascii=False, default=str)) <= _INLINE:
        return _styled(requests)
    seq = CommentedSeq(_styled(request, block=True) for request in requests)
    seq.fa.set_block_style()
    return seq


def _yaml(text: str) -> YAML:
    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a line the author wrote
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # [{status: 503}] stays so
    sequence = indent or 2
    offset = block_seq_indent or 0
    yaml.indent(mapping=max(2, sequence - offset), sequence=sequence, offset=offset)
    return yaml


def _render(node: CommentedMap, yaml: YAML, column: int) -> list[str]:
    """``node`` (a mapping of one or more keys) as the file's lines, indented to ``column``."""
    out = io.StringIO()
    yaml.dump(node, out)
    pad = " " * column
    return [pad + line if line.strip() else line for line in out.getvalue().splitlines(True)]


def _content_end(lines: list[str], start: int, boundary: int) -> int:
    """The end of what a node starting at ``start`` holds, ``boundary`` being where the next
    one starts: the blank lines and comments before ``boundary`` belong to the next one."""
    end = boundary
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()[0] == "#"):
        end -= 1
    return end


def _key_ranges(node: CommentedMap, lines: list[str], boundary: int) -> dict[str, range]:
    """The lines each key of a block mapping spans, its value included."""
    keys = list(node)
    starts = [node.lc.key(key)[0] for key in keys]
    ends = [*starts[1:], boundary]
    return {
        key: range(start, _content_end(lines, start, end))
        for key, start, end in zip(keys, starts, ends, strict=True)
    }


Edit = tuple[int, int, list[str]]
"""Replace lines ``[start, end)`` with the given lines."""


def _edits(
    case: CommentedMap, change: dict[str, Any], lines: list[str], boundary: int, yaml: YAML
) -> list[Edit]:
    """The line edits that write ``change`` into one case."""
    ranges = _key_ranges(case, lines, boundary)
    column = case.lc.col
    if "expected" not in case:
        end = max(r.stop for r in ranges.values())
        block = _render(CommentedMap([("expected", _expected_node(change))]), yaml, column)
        return [(end, end, block)]
    whole = ranges["expected"]
    expected = case["expected"]
    if "*" in change or expected.fa.flow_style():
        merged = change["*"] if "*" in change else _merged(expected, change)
        block = _render(CommentedMap([("expected", _expected_node(merged))]), yaml, column)
        return [(whole.start, whole.stop, block)]
    inner = _key_ranges(expected, lines, whole.stop)
    edits: list[Edit] = []
    for key, value in change.items():
        span = inner[key]
        if value is None:
            edits.append((span.start, span.stop, []))
            continue
        node = _requests_node(value) if key == "requests" else _styled(value)
        block = _render(CommentedMap([(key, node)]), yaml, expected.lc.key(key)[1])
        edits.append((span.start, span.stop, block))
    return edits


def _refused(path: Path, case: CommentedMap, pointer: str) -> DefinitionError:
    line = case.lc.line + 1
    why = "is written inline ({...}); write it in block style to record what it does"
    return DefinitionError(
        f"The case on line {line} cannot be recorded.",
        [Problem(pointer, f"The case {why}.", "CASE_NOT_RECORDED", line=line)],
        source=str(path),
    )


def _merged(expected: CommentedMap, change: dict[str, Any]) -> dict[str, Any]:
    merged = {key: change.get(key, value) for key, value in expected.items()}
    return {key: value for key, value in merged.items() if value is not None}


def _boundaries(data: Any, cases: Sequence[Any], count: int) -> list[int]:
    """Where each case's lines end at the latest: the next case, key, or the file's end."""
    starts = [case.lc.line for case in cases]
    after = count
    if isinstance(data, CommentedMap):
        keys = list(data)
        position = keys.index("cases")
        if position + 1 < len(keys):
            after = data.lc.key(keys[position + 1])[0]
    return [*starts[1:], after]


def update_case_file(
    path: str | Path, reports: Iterable[CaseReport], mode: UpdateMode = "missing"
) -> FileUpdate | None:
    """Write the records of the cases ``mode`` selects into the file; None when none is.

    Raises :class:`~framework.DefinitionError` for a file ruamel.yaml cannot read, or a case
    written inline (``- {name: ...}``), whose lines cannot take a block.
    """
    path = Path(path)
    changes = [
        (report, change)
        for report in reports
        if (change := new_expectations(report, mode)) is not None
    ]
    if not changes:
        return None
    before = path.read_text(encoding="utf-8")
    yaml = _yaml(before)
    try:
        data = yaml.load(before)
    except YAMLError as exc:  # read by PyYAML already, so unlikely; said, not a traceback
        raise DefinitionError(
            f"ruamel.yaml cannot read {path} to record expectations in it: {exc}", source=str(path)
        ) from exc
    lines = before.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    cases = data if isinstance(data, list) else data["cases"]
    boundaries = _boundaries(data, cases, len(lines))
    edits: list[Edit] = []
    for report, change in changes:
        index = int(report.case.pointer.rsplit("/", 1)[1])
        if cases[index].fa.flow_style():
            raise _refused(path, cases[index], report.case.pointer)
        edits.extend(_edits(cases[index], change, lines, boundaries[index], yaml))
    for start, end, block in sorted(edits, key=lambda edit: edit[0], reverse=True):
        lines[start:end] = block
    after = "".join(lines)
    if after == before:
        return None
    path.write_text(after, encoding="utf-8")
    return FileUpdate(path, before, after, tuple(report.case.name for report, _ in changes))
