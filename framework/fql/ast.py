"""The trigger tree: what a trigger means, whatever text or structure it was read from.

Nodes are frozen, slotted dataclasses compared by meaning-bearing fields only: the ``column``
each node remembers (for lint messages) takes no part in equality or hashing, so two triggers
written differently but parsed to the same tree are equal.

Invariants the parser and the Segment reader both keep (the compiler relies on them):

- a :class:`Field` path starts with a non-empty string; later steps are object keys (``str``),
  non-negative array indexes (``int``) or :data:`EACH` (``[*]``, every item of an array);
- ordering comparisons (``< <= > >=``) always carry a number;
- :class:`And` and :class:`Or` have at least two operands; parentheses add no node, so
  ``a and (b and c)`` keeps its inner group while ``(a)`` is just ``a``;
- :class:`TextMatch` parts are normalised by :func:`pattern_parts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "EACH",
    "ORDERING_OPS",
    "And",
    "CompareOp",
    "Comparison",
    "EachItem",
    "Field",
    "Membership",
    "Node",
    "Not",
    "Or",
    "Step",
    "TextKind",
    "TextMatch",
    "Value",
    "ValueKind",
    "pattern_parts",
    "text_kind",
]


@dataclass(frozen=True, slots=True)
class EachItem:
    """The path step ``[*]``: every item of an array. Use the one instance, :data:`EACH`."""

    def __repr__(self) -> str:
        return "EACH"


EACH: EachItem = EachItem()
"""The ``[*]`` step; all instances are equal, so a tree compares by meaning."""

Step: TypeAlias = str | int | EachItem
CompareOp: TypeAlias = Literal["=", "!=", "<", "<=", ">", ">="]
ValueKind: TypeAlias = Literal["string", "number", "boolean", "null"]
TextKind: TypeAlias = Literal["equals", "starts_with", "ends_with", "contains", "glob"]

ORDERING_OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class Value:
    """A literal in a trigger, with its JSON kind.

    The kind takes part in equality so that ``true`` never equals ``1`` (Python's
    ``True == 1`` must not leak into trees); ``1`` and ``1.0`` are the same number.
    """

    kind: ValueKind
    value: str | int | float | bool | None

    @classmethod
    def of(cls, value: str | int | float | bool | None) -> Value:
        """The literal for a Python value, its kind inferred (``bool`` before ``int``)."""
        if value is None:
            return cls("null", None)
        if isinstance(value, bool):
            return cls("boolean", value)
        if isinstance(value, str):
            return cls("string", value)
        return cls("number", value)


@dataclass(frozen=True, slots=True)
class Field:
    """A path into the event: ``properties.products[0].sku`` is ``("properties", "products", 0,
    "sku")``. A missing key, an index past the end, or a step into anything that is not an
    object (for a key) or an array (for an index) reads as missing."""

    path: tuple[Step, ...]

    @property
    def each(self) -> bool:
        """Whether the path has a ``[*]`` step: its tests are about the items it reaches."""
        return EACH in self.path

    @property
    def root(self) -> str:
        """The top-level key of the event this field starts from."""
        root = self.path[0]
        return root if isinstance(root, str) else str(root)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``. ``= null`` and ``!= null`` are existence tests."""

    field: Field
    op: CompareOp
    value: Value
    column: int = dataclasses.field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Membership:
    """``field in (v1, v2, ...)``: equal to one of the values; negated, ``field not in (...)``,
    exactly the opposite (``not (field in (...))``, so a missing field is not in any list)."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False
    column: int = dataclasses.field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """``contains(field, "x")`` and ``match(field, "pattern")``: tests on string values only.

    ``parts`` is the pattern split at its ``*`` wildcards (see :func:`pattern_parts`);
    ``contains(f, "x")`` is ``("", "x", "")``. Negated (``!contains``, ``!match``), the test
    still needs a string: a missing or non-string value never matches either way.
    """

    field: Field
    parts: tuple[str, ...]
    negated: bool = False
    column: int = dataclasses.field(default=0, compare=False, repr=False)

    @property
    def kind(self) -> TextKind:
        """Which string test the pattern amounts to."""
        return text_kind(self.parts)


@dataclass(frozen=True, slots=True)
class Not:
    """``not (...)``: true exactly when its operand is false."""

    operand: Node
    column: int = dataclasses.field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """Every operand holds. Operands: two or more."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds. Operands: two or more."""

    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | Membership | TextMatch | Not | And | Or


def pattern_parts(pattern: str) -> tuple[str, ...]:
    """Split a ``match()`` pattern at its unescaped ``*`` wildcards.

    A backslash makes the next character literal (``\\*`` is a star, ``\\\\`` a backslash).
    Runs of stars act as one, so empty parts appear only at the two ends: ``"*x*"`` gives
    ``("", "x", "")`` and ``"a**b"`` gives ``("a", "b")``.
    """
    parts: list[str] = []
    current: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return normalize_parts(parts)


def normalize_parts(parts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Drop the empty interior parts that consecutive stars leave (``a**b`` is ``a*b``)."""
    if len(parts) <= 2:
        return tuple(parts)
    interior = [part for part in parts[1:-1] if part]
    return (parts[0], *interior, parts[-1])


def text_kind(parts: tuple[str, ...]) -> TextKind:
    """Classify normalised pattern parts: ``x`` equals, ``x*`` starts_with, ``*x`` ends_with,
    ``*x*`` contains, anything with an inner star a glob. ``*`` alone is starts_with ``""``
    (any string), as Segment reads it."""
    if len(parts) == 1:
        return "equals"
    if len(parts) == 2:
        if parts[1] == "":
            return "starts_with"
        if parts[0] == "":
            return "ends_with"
        return "glob"
    if len(parts) == 3 and parts[0] == "" and parts[2] == "":
        return "contains"
    return "glob"
