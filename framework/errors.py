"""The one exception hierarchy of actionkit.

Every error the framework raises derives from :class:`ActionkitError` and carries a stable
``code`` (tests and scripts match on it, never on wording) and a location saying where the
problem is. The tree branches first by what the caller should do, then by phase::

    ActionkitError                      code
    ├── DefinitionError                 DEFINITION_INVALID      fatal at load: fix the input
    │   ├── TriggerSyntaxError          TRIGGER_SYNTAX          column + caret line
    │   └── MappingError                MAPPING_INVALID         .errors: every problem, by pointer
    └── InputError                      INPUT_INVALID           skippable: this one event is bad
        └── EventError                  EVENT_INVALID           the event is not a Segment event

Definition errors stop a destination, instance or mapping from loading at all; nothing that
raised one ever sees an event. Input errors concern a single event: the pipeline reports that
event with the error and carries on with the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ActionkitError",
    "DefinitionError",
    "EventError",
    "InputError",
    "MappingError",
    "Problem",
    "TriggerSyntaxError",
]


class ActionkitError(Exception):
    """Root of every error actionkit raises; ``code`` is stable, the message is for people."""

    code: str = "ACTIONKIT_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One problem found in a definition or mapping: where it is and what is wrong.

    ``pointer`` is a JSON pointer (RFC 6901) into the checked document, ``""`` for its root.
    Problems sort by pointer, so a report reads top to bottom.
    """

    pointer: str
    message: str
    code: str = "INVALID"

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class DefinitionError(ActionkitError):
    """A definition, instance, mapping or trigger is wrong; it is refused when it loads.

    ``problems`` lists every problem found, sorted by pointer; ``source`` names the file or
    object that was checked, when there is one.
    """

    code = "DEFINITION_INVALID"

    def __init__(
        self,
        message: str,
        problems: Iterable[Problem] = (),
        *,
        source: str | None = None,
    ) -> None:
        self.problems: list[Problem] = sorted(problems)
        self.source = source
        super().__init__(message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


class TriggerSyntaxError(DefinitionError):
    """A trigger (FQL) expression does not parse.

    ``column`` is 1-based; ``expected`` says what would have been valid there. ``str()`` shows
    the expression with a caret under the column, as jmespath's ``ParseError`` does.
    """

    code = "TRIGGER_SYNTAX"

    def __init__(self, reason: str, *, expression: str, column: int, expected: str) -> None:
        self.reason = reason
        self.expression = expression
        self.column = column
        self.expected = expected
        message = f"{reason} at column {column}; expected {expected}"
        super().__init__(message, [Problem(f"column {column}", message, self.code)])

    def caret_line(self) -> str:
        """The expression, with a caret under the offending column on the next line."""
        # Tabs and newlines would shift the caret: show them as single spaces.
        shown = self.expression.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        return f"{shown}\n{' ' * (self.column - 1)}^"

    def __str__(self) -> str:
        return f"Invalid trigger: {self.message}\n{self.caret_line()}"


class MappingError(DefinitionError):
    """A mapping is invalid; ``errors`` lists every problem, each at its JSON pointer.

    Raised by :func:`framework.compile_mapping` before any event is seen.
    """

    code = "MAPPING_INVALID"

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        problems = sorted(problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"The mapping is invalid ({count} {noun}).", problems, source=source)

    @property
    def errors(self) -> list[Problem]:
        """Every problem of the mapping, sorted by JSON pointer."""
        return self.problems


class InputError(ActionkitError):
    """One input (an event) is bad; the pipeline reports it and goes on with the next."""

    code = "INPUT_INVALID"


class EventError(InputError):
    """The event is not a Segment event (not a JSON object, or a malformed field).

    ``pointer`` says where in the event the problem is, ``""`` for the event itself.
    """

    code = "EVENT_INVALID"

    def __init__(self, message: str, *, pointer: str = "") -> None:
        self.pointer = pointer
        super().__init__(message)
