"""What a mapping node is: a directive or not, and how problem messages name its type."""

from __future__ import annotations

from typing import Any, Final

from framework.mapping.jsvalues import js_type

__all__ = ["ROOT_KEY", "is_directive", "kind_of"]

ROOT_KEY: Final = "__segment_internal_directive"
"""The root key whose ``@transform`` gets the other root keys as its ``mapping``."""


def is_directive(node: Any) -> bool:
    """Whether ``node`` is an object with an ``@``-prefixed key (so meant as a directive)."""
    return isinstance(node, dict) and any(
        isinstance(key, str) and key.startswith("@") for key in node
    )


def kind_of(value: Any) -> str:
    """Segment's ``realTypeOrDirective`` with an article: "a directive", "an array"."""
    name = "directive" if is_directive(value) else js_type(value)
    return f"{'an' if name[:1] in tuple('aeiou') else 'a'} {name}"
