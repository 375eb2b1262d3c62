"""The problem codes of mapping validation, and JSON pointers to where a problem is.

Codes are stable: tests and tools match on them, never on wording.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BAD_OPTION",
    "BAD_SYNTAX",
    "BAD_VALUE_TYPE",
    "MAX_DEPTH",
    "MISSING_OPTION",
    "NOT_ALLOWED",
    "NOT_JSON",
    "TOO_DEEP",
    "TOO_MANY_KEYS",
    "UNKNOWN_DIRECTIVE",
    "child_pointer",
]

NOT_JSON: Final = "MAPPING_NOT_JSON"
"""A value JSON cannot hold: a set, a tuple, a date, NaN, a key that is not a string."""
BAD_VALUE_TYPE: Final = "MAPPING_BAD_VALUE_TYPE"
"""A value of the wrong type: ``{"@path": 5}``, a mapping root that is not an object."""
UNKNOWN_DIRECTIVE: Final = "MAPPING_UNKNOWN_DIRECTIVE"
"""An ``@``-prefixed key that names no directive."""
TOO_MANY_KEYS: Final = "MAPPING_TOO_MANY_KEYS"
"""A directive object with a second directive or any other key (``_metadata`` aside)."""
MISSING_OPTION: Final = "MAPPING_MISSING_OPTION"
"""A required option of a directive is absent (or empty where Segment needs it non-empty)."""
BAD_OPTION: Final = "MAPPING_BAD_OPTION"
"""An option has a value the directive cannot use: an unknown mode, a too long pattern."""
BAD_SYNTAX: Final = "MAPPING_BAD_SYNTAX"
"""A ``@liquid`` template or ``@jmespath`` query that does not parse."""
NOT_ALLOWED: Final = "MAPPING_NOT_ALLOWED"
"""A liquid tag or filter that the sandbox disables or does not support."""
TOO_DEEP: Final = "MAPPING_TOO_DEEP"
"""Objects and arrays nested past :data:`MAX_DEPTH` levels."""

MAX_DEPTH: Final = 100
"""How deep a mapping may nest; far past any real mapping, well inside Python's recursion."""


def child_pointer(pointer: str, key: str | int) -> str:
    """The JSON pointer (RFC 6901) of ``key`` under ``pointer``: ``~`` and ``/`` escaped."""
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{token}"
