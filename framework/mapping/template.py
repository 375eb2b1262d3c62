"""``@template``: Segment's mustache-like placeholders, parsed once into a format string.

``{{path}}`` and ``{{{path}}}`` are the same (no HTML escaping); the path takes no ``$.``
prefix and is looked up like ``@path``. A missing value or ``null`` renders as ``""``, anything
else as JavaScript's ``String()`` would print it (``[object Object]``, arrays joined by commas).
Text that is not a complete placeholder (``{{x}``, ``{{}}``) is kept as it is.

Segment replaces the triple-brace placeholders first and then scans the result again for
double-brace ones, so an event value containing ``{{...}}`` inserted by a triple-brace
placeholder is itself expanded. We parse the template once and never read event values as
template text (a deliberate divergence: an event must not be able to inject placeholders).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from framework.mapping.jsvalues import JS_SPACE, UNDEFINED, js_string
from framework.mapping.paths import Getter, compile_getter, parse_path

__all__ = ["compile_template", "template_paths"]

_TRIPLE: Final = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE: Final = re.compile(r"\{\{([^}]+)\}\}")


def _pieces(template: str) -> list[str | tuple[str, ...]]:
    """Literal text and placeholder key tuples, in order."""
    pieces: list[str | tuple[str, ...]] = []
    for index, part in enumerate(_TRIPLE.split(template)):
        if index % 2:
            pieces.append(parse_path(part.strip(JS_SPACE)))
            continue
        for inner, text in enumerate(_DOUBLE.split(part)):
            pieces.append(parse_path(text.strip(JS_SPACE)) if inner % 2 else text)
    return pieces


def template_paths(template: str) -> list[tuple[str, ...]]:
    """The key tuples the template's placeholders read."""
    return [piece for piece in _pieces(template) if isinstance(piece, tuple)]


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None or value is UNDEFINED:
        return ""
    return js_string(value)


def compile_template(template: str) -> Callable[[Any], str]:
    """A renderer for ``template``: payload in, string out. Never fails."""
    literal: list[str] = []
    getters: list[Getter] = []
    for piece in _pieces(template):
        if isinstance(piece, str):
            literal.append(piece.replace("{", "{{").replace("}", "}}"))
        else:
            literal.append("{}")
            getters.append(compile_getter(piece))
    if not getters:
        constant = template

        def render_constant(payload: Any) -> str:
            return constant

        return render_constant
    form = "".join(literal)
    if len(getters) == 1:
        (only,) = getters

        def render_one(payload: Any) -> str:
            value = only({} if payload is UNDEFINED else payload)
            return form.format(value if type(value) is str else _text(value))

        return render_one

    def render(payload: Any) -> str:
        if payload is UNDEFINED:
            payload = {}  # Segment's render(template, data = {}) default
        texts = []
        for getter in getters:
            value = getter(payload)
            texts.append(value if type(value) is str else _text(value))
        return form.format(*texts)

    return render
