"""``@liquid``: templates rendered by python-liquid in a sandbox shaped like Segment's.

Segment renders ``@liquid`` with liquidjs (actions-core ``liquid-directive.js``): templates of
at most 1,000 characters, the tags ``case for include layout render tablerow`` and twenty
filters disabled, unknown filters ignored. We mirror that, and make the differences between
the two engines show where they would otherwise change an output silently:

- Disabled tags and filters are refused when the mapping is compiled (liquidjs refuses a
  disabled filter only when it runs). So are liquidjs filters python-liquid lacks (``json``,
  ``slugify``, ...), and python-liquid's own extras are removed so that they are ignored as
  liquidjs ignores every unknown filter.
- Values print as liquidjs prints them: numbers in JS form (``140.0`` -> ``140``), ``nil``
  empty, arrays concatenated, objects ``[object Object]``. The math filters follow liquidjs
  (JS doubles: ``10 | divided_by: 4`` is ``2.5``, dividing by zero gives ``Infinity``), as do
  ``append``, ``prepend`` and ``join``.
- No file access: there is no loader, and ``include``/``render`` are disabled.

Render time is bounded by construction rather than by a clock: no loop or recursion tag is
available, the template is at most 1,000 characters, and every string a filter or an output
produces is capped at :data:`STRING_LIMIT` characters, the whole output at
:data:`OUTPUT_LIMIT` bytes and the template's assigned variables at :data:`NAMESPACE_LIMIT`
bytes. A render that breaks a limit or fails for any other reason resolves to ``undefined``:
the key is dropped, and the event goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TextIO

from liquid import Environment, RenderContext
from liquid.ast import Node
from liquid.builtin.expressions.logical import (
    GeExpression,
    GtExpression,
    LeExpression,
    LtExpression,
)
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import LiquidError, LiquidSyntaxError
from liquid.expression import Expression
from liquid.tag import Tag
from liquid.template import BoundTemplate
from liquid.undefined import Undefined

from framework.mapping.jsvalues import UNDEFINED, js_length, js_number, js_string
from framework.mapping.liquid_filters import (
    JS_FILTERS,
    STRING_LIMIT,
    capped,
    guard_replace,
    jsify,
    limited,
    liquid_text,
)
from framework.mapping.problems import BAD_OPTION, BAD_SYNTAX, NOT_ALLOWED

__all__ = [
    "DISABLED_FILTERS",
    "DISABLED_TAGS",
    "MAX_TEMPLATE_LENGTH",
    "NAMESPACE_LIMIT",
    "OUTPUT_LIMIT",
    "STRING_LIMIT",
    "LiquidEngine",
]

MAX_TEMPLATE_LENGTH: Final = 1000
"""Longest template, in JS characters (UTF-16 code units), as in actions-core."""
OUTPUT_LIMIT: Final = 100_000
"""Largest rendered result, in UTF-8 bytes."""
NAMESPACE_LIMIT: Final = 1_000_000
"""Largest total size (``sys.getsizeof`` bytes) of the variables a template assigns."""

DISABLED_TAGS: Final = ("case", "for", "include", "layout", "render", "tablerow")
"""Tags actions-core 3.170.0 disables."""
DISABLED_FILTERS: Final = frozenset(
    {
        "array_to_sentence_string",
        "concat",
        "find",
        "find_exp",
        "find_index",
        "find_index_exp",
        "group_by",
        "group_by_exp",
        "has",
        "has_exp",
        "map",
        "newline_to_br",
        "reject",
        "reject_exp",
        "reverse",
        "sort",
        "sort_natural",
        "uniq",
        "where_exp",
        "type",
    }
)
"""Filters actions-core 3.170.0 disables."""

# liquidjs 10.30.1 filters that python-liquid lacks: refused, rather than silently ignored.
_UNSUPPORTED_FILTERS: Final = frozenset(
    {
        "cgi_escape",
        "date_to_long_string",
        "date_to_rfc822",
        "date_to_string",
        "date_to_xmlschema",
        "hmac_sha256",
        "inspect",
        "json",
        "jsonify",
        "normalize_whitespace",
        "number_of_words",
        "pop",
        "push",
        "raw",
        "sample",
        "sha256",
        "shift",
        "slugify",
        "to_integer",
        "unshift",
        "uri_escape",
        "xml_escape",
    }
)
# python-liquid filters liquidjs does not know: removed, so that they are ignored as there.
_FOREIGN_FILTERS: Final = ("base64_url_safe_decode", "base64_url_safe_encode", "escapejs", "safe")
# python-liquid tags liquidjs does not know: refused there at parse time, so here too.
_FOREIGN_TAGS: Final = ("doc", "ifchanged")
# What a filter or python-liquid itself may raise on event data it cannot handle. A failed
# render is a missing value by design, so these are caught around the render, and only there.
_RENDER_ERRORS: Final = (
    LiquidError,
    ArithmeticError,
    LookupError,
    RecursionError,
    TypeError,
    UnicodeError,
    ValueError,
)


class _Disabled(LiquidSyntaxError):
    """A disabled tag: refused at parse time."""


def _js_less(left: Any, right: Any) -> bool | None:
    """JavaScript's ``left < right``: strings by text, anything else as numbers; NaN gives None."""
    if isinstance(left, Undefined) or isinstance(right, Undefined):
        return None
    if isinstance(left, list | tuple):
        left = js_string(list(left))
    if isinstance(right, list | tuple):
        right = js_string(list(right))
    if isinstance(left, str) and isinstance(right, str):
        return left < right
    first, second = js_number(left), js_number(right)
    if math.isnan(first) or math.isnan(second):
        return None
    return first < second


# liquidjs orders values as JavaScript does ("40" > 30 is true, null > -1 too); python-liquid
# refuses mixed types. These replace the four ordering expressions in our templates only.
class _JSLt(LtExpression):
    __slots__ = ()

    def evaluate(self, context: Any) -> object:
        return _js_less(self.left.evaluate(context), self.right.evaluate(context)) is True


class _JSGt(GtExpression):
    __slots__ = ()

    def evaluate(self, context: Any) -> object:
        return _js_less(self.right.evaluate(context), self.left.evaluate(context)) is True


class _JSLe(LeExpression):
    __slots__ = ()

    def evaluate(self, context: Any) -> object:
        return _js_less(self.right.evaluate(context), self.left.evaluate(context)) is False


class _JSGe(GeExpression):
    __slots__ = ()

    def evaluate(self, context: Any) -> object:
        return _js_less(self.left.evaluate(context), self.right.evaluate(context)) is False


_JS_ORDERING: Final[dict[type[Expression], type[Expression]]] = {
    LtExpression: _JSLt,
    GtExpression: _JSGt,
    LeExpression: _JSLe,
    GeExpression: _JSGe,
}


def _expressions(expression: Expression) -> Iterator[Expression]:
    yield expression
    for child in expression.children():
        yield from _expressions(child)


def _nodes(nodes: Iterable[Node], context: RenderContext) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from _nodes(node.children(context, include_partials=False), context)


def _use_js_ordering(template: BoundTemplate) -> BoundTemplate:
    """Give the template's ordering expressions liquidjs's semantics (same slots, new class)."""
    for node in _nodes(template.nodes, RenderContext(template)):
        for top in node.expressions():
            for expression in _expressions(top):
                replacement = _JS_ORDERING.get(type(expression))
                if replacement is not None:
                    expression.__class__ = replacement
    return template


class _JSOutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        return buffer.write(capped(liquid_text(self.expression.evaluate(context))))


class _JSEchoNode(EchoNode):
    __slots__ = ()

    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        return buffer.write(capped(liquid_text(self.expression.evaluate(context))))


class _JSOutput(Output):
    node_class = _JSOutputNode


class _JSEcho(EchoTag):
    node_class = _JSEchoNode


def _disabled_tag(tag_name: str) -> type[Tag]:
    class DisabledTag(Tag):
        name = tag_name
        block = False

        def parse(self, stream: Any) -> Any:
            raise _Disabled(f'tag "{tag_name}" is disabled', token=stream.current)

    return DisabledTag


class _Sandbox(Environment):
    output_stream_limit = OUTPUT_LIMIT
    local_namespace_limit = NAMESPACE_LIMIT


def _sandbox() -> _Sandbox:
    env = _Sandbox(strict_filters=False)
    for name in DISABLED_TAGS:
        env.add_tag(_disabled_tag(name))
    for name in _FOREIGN_TAGS:
        del env.tags[name]
    env.add_tag(_JSOutput)
    env.add_tag(_JSEcho)
    filters: dict[str, Callable[..., Any]] = {
        name: function
        for name, function in env.filters.items()
        if name not in DISABLED_FILTERS and name not in _FOREIGN_FILTERS
    }
    filters.update(JS_FILTERS)
    for name in ("replace", "replace_first", "replace_last"):
        filters[name] = guard_replace(filters[name])
    env.filters = {name: limited(function) for name, function in filters.items()}
    return env


def _where(source: str, error: LiquidError) -> str:
    token = error.token
    if token is None or token.start_index < 0:
        return ""
    before = source[: token.start_index]
    line = before.count("\n") + 1
    column = token.start_index - (before.rfind("\n") + 1) + 1
    return f" (line {line}, column {column})"


class LiquidEngine:
    """The sandboxed liquid environment of one compiled mapping (created on first use)."""

    def __init__(self) -> None:
        self._env: _Sandbox | None = None

    @property
    def env(self) -> _Sandbox:
        """The python-liquid environment, built the first time it is needed."""
        if self._env is None:
            self._env = _sandbox()
        return self._env

    def problems(self, source: str) -> list[tuple[str, str]]:
        """Every ``(code, message)`` problem of ``source`` as a ``@liquid`` template."""
        length = js_length(source)
        if length > MAX_TEMPLATE_LENGTH:
            return [
                (
                    BAD_OPTION,
                    f"should be at most {MAX_TEMPLATE_LENGTH} characters long but it has {length}.",
                )
            ]
        try:
            template = self.env.from_string(source)
        except _Disabled as error:
            return [(NOT_ALLOWED, f"uses a disabled liquid tag: {error.message}.")]
        except LiquidError as error:
            return [(BAD_SYNTAX, f"is not valid liquid: {error.message}{_where(source, error)}.")]
        found = []
        for name in sorted(template.analyze(include_partials=False).filters):
            if name in DISABLED_FILTERS:
                found.append((NOT_ALLOWED, f'uses a disabled liquid filter: filter "{name}".'))
            elif name in _UNSUPPORTED_FILTERS:
                found.append((NOT_ALLOWED, f'uses the liquid filter "{name}", not supported here.'))
        return found

    def compile(self, source: str) -> Callable[[Any], Any]:
        """A renderer for a valid template: payload in, string (or UNDEFINED on failure) out."""
        if source == "":
            return _empty
        template = _use_js_ordering(self.env.from_string(source))
        roots = tuple(template.analyze(include_partials=False).globals)

        def render(payload: Any) -> Any:
            scope = (
                {name: jsify(payload[name]) for name in roots if name in payload}
                if isinstance(payload, dict)
                else {}
            )
            try:
                return template.render(scope)
            except _RENDER_ERRORS:
                return UNDEFINED

        return render

    def read_paths(self, source: str) -> list[tuple[str, ...]]:
        """The event paths a valid template reads (static analysis; indexes as strings)."""
        if source == "":
            return []
        template = self.env.from_string(source)
        found = []
        for variables in template.analyze(include_partials=False).globals.values():
            for variable in variables:
                keys = []
                for segment in variable.segments:
                    if isinstance(segment, list):
                        break  # a computed key: the path is known only up to here
                    keys.append(str(segment))
                found.append(tuple(keys))
        return found


def _empty(payload: Any) -> str:
    return ""
