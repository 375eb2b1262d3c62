"""The Trigger: one parsed, compiled trigger and everything a caller does with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from framework.fql.ast import Node
from framework.fql.compile import compile_tree
from framework.fql.lint import lint_expression
from framework.fql.parser import parse
from framework.fql.printer import to_fql
from framework.fql.segment_ast import from_segment_ast, to_segment_ast

__all__ = ["Trigger", "parse_trigger", "trigger_from_segment_ast"]


def parse_trigger(expr: str) -> Trigger:
    """Parse and compile an FQL trigger expression.

    Raises TriggerSyntaxError (with the 1-based column and what was expected there) when the
    text does not parse. See docs/triggers.md for the language.
    """
    return Trigger(parse(expr), expr)


def trigger_from_segment_ast(ast: Mapping[str, Any]) -> Trigger:
    """Read a trigger from Segment's JSON condition structure, with the meaning Segment gives it.

    Raises DefinitionError listing every problem, by JSON pointer, when the structure is
    invalid. The trigger's ``expression`` is its canonical FQL text.
    """
    tree = from_segment_ast(ast)
    return Trigger(tree, to_fql(tree))


class Trigger:
    """A compiled trigger. Build one with :func:`parse_trigger` or
    :func:`trigger_from_segment_ast`.

    Triggers are immutable; they compare and hash by their tree, so two texts that parse to
    the same tree give equal triggers. They pickle as their text.
    """

    __slots__ = ("__dict__", "_expression", "_match", "_tree")

    def __init__(self, tree: Node, expression: str) -> None:
        self._tree = tree
        self._expression = expression
        self._match: Callable[[object], bool] = compile_tree(tree)
        # The hot path: an instance attribute shadows the matches() method below, so a call
        # goes straight to the compiled function without a wrapper frame (~15% per event).
        self.__dict__["matches"] = self._match

    @property
    def expression(self) -> str:
        """The source text the trigger was parsed from."""
        return self._expression

    @property
    def tree(self) -> Node:
        """The parsed tree (see :mod:`framework.fql.ast`)."""
        return self._tree

    def matches(self, event: object) -> bool:
        """Whether ``event`` (a JSON object as a ``dict``) satisfies the trigger.

        Never raises: anything that is not a ``dict`` gives ``False``, and values of the wrong
        type simply do not match. (Each instance replaces this method with its compiled
        function, which does exactly this.)
        """
        return self._match(event)

    def to_segment_ast(self) -> dict[str, Any]:
        """Segment's JSON condition structure for this trigger.

        Raises DefinitionError when the structure cannot express it (a negated group, a glob,
        an array index, a field Segment does not know, ...); the message says what.
        """
        return to_segment_ast(self._tree)

    def to_fql(self) -> str:
        """Canonical FQL text; it parses back to an equal trigger."""
        return to_fql(self._tree)

    def lint(self) -> list[str]:
        """Warnings, one per place where Segment's engine would read the text differently.

        Each says what Segment would do. Computed on each call from the text; meant for
        tooling, not for the per-event path.
        """
        return lint_expression(self._expression)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trigger):
            return NotImplemented
        return self._tree == other._tree

    def __hash__(self) -> int:
        return hash(self._tree)

    def __repr__(self) -> str:
        return f"Trigger({self._expression!r})"

    def __reduce__(self) -> tuple[Callable[[str], Trigger], tuple[str]]:
        return (parse_trigger, (self._expression,))
