"""One compile function per directive, and :data:`DIRECTIVES`, the dict that names them.

A compile function receives the directive's (already validated) value and returns a resolver:
a closure from payload to value, with everything parseable parsed now (paths into key tuples,
templates into format strings, patterns into replace functions, liquid and JMESPath into
compiled templates). Resolvers never raise on any payload: where Segment throws on event data
they give :data:`UNDEFINED` (the key is dropped).

:class:`Needs` says what the consumer of a value requires. ``raw``: keep JavaScript
``undefined`` inside the containers it returns (only ``@merge`` and ``@flatten`` can tell an
undefined-valued key from a missing one); otherwise such keys are dropped and such array items
are ``None``, which is what Segment's final ``removeUndefined`` makes of them. ``fresh``: the
value reaches the output, so containers taken from the event are copied and the caller may
mutate the output without touching the event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import jmespath
from jmespath.exceptions import JMESPathError

from framework.mapping.jsvalues import (
    UNDEFINED,
    copy_json,
    js_code_units,
    js_json_parse,
    js_json_stringify,
    js_keys,
    js_loosely_empty,
    js_number_string,
    js_truthy,
    strip_undefined,
)
from framework.mapping.liquid import LiquidEngine
from framework.mapping.paths import compile_getter, get, path_directive_keys
from framework.mapping.replace import compile_replace
from framework.mapping.template import compile_template

__all__ = ["CLEAN", "DIRECTIVES", "Needs", "Resolver", "SubCompiler"]

Resolver = Callable[[Any], Any]
"""A compiled mapping value: payload in, value or UNDEFINED out. Never raises."""


@dataclass(frozen=True, slots=True)
class Needs:
    """What the consumer of a resolved value requires (see the module docstring)."""

    raw: bool = False
    fresh: bool = False


CLEAN: Final = Needs()
"""A value that is only read: undefined cleaned away, event containers shared."""


class SubCompiler(Protocol):
    """What a directive's compile function may ask of the mapping compiler."""

    liquid: LiquidEngine

    def value(self, node: Any, needs: Needs) -> Resolver:
        """Compile any mapping value (literal, object, array or directive)."""
        ...

    def root(self, node: Any, needs: Needs) -> Resolver:
        """Compile a mapping as ``transform()`` takes it (``__segment_internal_directive``)."""
        ...


def _undefined(payload: Any) -> Any:
    return UNDEFINED


def _fresh(getter: Resolver) -> Resolver:
    def copied(payload: Any) -> Any:
        value = getter(payload)
        kind = type(value)
        return copy_json(value) if kind is dict or kind is list else value

    return copied


def compile_path(path: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@path``: the value at a path of the payload (a literal path, or a directive's)."""
    if isinstance(path, str):
        getter = compile_getter(path_directive_keys(path))
        return _fresh(getter) if needs.fresh else getter
    dynamic = sub.value(path, CLEAN)

    def by_dynamic_path(payload: Any) -> Any:
        text = dynamic(payload)
        # Segment throws "@path: expected string"; a missing value is our answer instead.
        return get(payload, path_directive_keys(text)) if isinstance(text, str) else UNDEFINED

    return _fresh(by_dynamic_path) if needs.fresh else by_dynamic_path


def compile_template_directive(template: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@template``: placeholders filled from the payload."""
    if isinstance(template, str):
        return compile_template(template)
    dynamic = sub.value(template, CLEAN)

    def by_dynamic_template(payload: Any) -> Any:
        text = dynamic(payload)
        # A template made per event is parsed per event: nothing to compile ahead.
        return compile_template(text)(payload) if isinstance(text, str) else UNDEFINED

    return by_dynamic_template


def compile_literal(value: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@literal``: its value, resolved like any other (directives inside still run)."""
    return sub.value(value, needs)


def compile_if(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@if``: ``then`` when ``exists`` is not null/undefined (or ``blank`` not blank)."""
    blank_mode = "exists" not in options
    condition = sub.value(options["blank" if blank_mode else "exists"], CLEAN)
    then = sub.value(options["then"], needs) if "then" in options else _undefined
    # Segment tests the raw ``else`` for truthiness: a falsy one is ignored.
    otherwise = sub.value(options["else"], needs) if js_truthy(options.get("else")) else _undefined
    if blank_mode:

        def if_not_blank(payload: Any) -> Any:
            value = condition(payload)
            if value is None or value is UNDEFINED or js_loosely_empty(value):
                return otherwise(payload)
            return then(payload)

        return if_not_blank

    def if_exists(payload: Any) -> Any:
        value = condition(payload)
        if value is None or value is UNDEFINED:
            return otherwise(payload)
        return then(payload)

    return if_exists


def compile_case(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@case``: lower- or upper-case a string; other values pass through unchanged."""
    if not js_truthy(options.get("value")):
        return _undefined
    value = sub.value(options["value"], needs)
    convert = str.lower if options["operator"] == "lower" else str.upper

    def change_case(payload: Any) -> Any:
        resolved = value(payload)
        return convert(resolved) if isinstance(resolved, str) else resolved

    return change_case


def compile_replace_directive(
    options: Mapping[str, Any], needs: Needs, sub: SubCompiler
) -> Resolver:
    """``@replace``: literal search and replace (global by default) on the value as a string."""
    if not js_truthy(options.get("value")):
        return _undefined
    value = sub.value(options["value"], CLEAN)
    flags = {
        "ignorecase": options.get("ignorecase", False),
        "replace_all": options.get("global", True),
    }
    first = compile_replace(options["pattern"], options.get("replacement", ""), **flags)
    second = (
        compile_replace(options["pattern2"], options.get("replacement2", ""), **flags)
        if options.get("pattern2")
        else None
    )

    def replace(payload: Any) -> Any:
        resolved = value(payload)
        kind = type(resolved)
        if kind is bool:
            text = "true" if resolved else "false"
        elif kind is int or kind is float:
            text = js_number_string(resolved)
        elif isinstance(resolved, str):
            text = resolved
        else:
            return ""  # Segment: a value that is not a string, number or boolean gives ""
        text = first(text)
        return second(text) if second is not None else text

    return replace


def compile_array_path(options: list[Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@arrayPath``: map each item of an array (or a lone object) through an item shape."""
    path, shape = options[0], options[1] if len(options) > 1 else None
    from_directive = not isinstance(path, str)
    if from_directive:
        root = sub.value(path, Needs(raw=True, fresh=needs.fresh))
    else:
        root = compile_getter(path_directive_keys(path))
    item = sub.value(shape, needs) if isinstance(shape, dict) and shape else None

    def as_is(value: Any) -> Any:
        if from_directive:
            return value if needs.raw else strip_undefined(value)
        kind = type(value)
        return copy_json(value) if needs.fresh and (kind is dict or kind is list) else value

    if item is None:
        return lambda payload: as_is(root(payload))

    def map_items(payload: Any) -> Any:
        value = root(payload)
        if isinstance(value, dict):
            items: list[Any] = [value]
        elif isinstance(value, list):
            items = value
        else:
            return as_is(value)
        if from_directive:
            items = [entry if entry is UNDEFINED else strip_undefined(entry) for entry in items]
        mapped = [item(entry) for entry in items]
        if needs.raw:
            return mapped
        return [None if entry is UNDEFINED else entry for entry in mapped]

    return map_items


def compile_json(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@json``: ``encode`` to a JSON string as JSON.stringify would, or ``decode`` one."""
    if options["mode"] == "encode":
        encoded = sub.value(options["value"], CLEAN)
        return lambda payload: js_json_stringify(encoded(payload))
    decoded = sub.value(options["value"], needs)

    def decode(payload: Any) -> Any:
        value = decoded(payload)
        if not isinstance(value, str):
            return value
        parsed = js_json_parse(value)
        return value if parsed is UNDEFINED else parsed

    return decode


def _flatten(
    value: Any, prefix: str, separator: str, keep_arrays: bool, out: dict[str, Any]
) -> None:
    if isinstance(value, dict):
        entries: list[tuple[str, Any]] = [(key, value[key]) for key in js_keys(value)]
    elif isinstance(value, list) and not keep_arrays:
        entries = [(str(index), entry) for index, entry in enumerate(value)]
    else:
        out[prefix] = value
        return
    for key, entry in entries:
        _flatten(entry, f"{prefix}{separator}{key}" if prefix else key, separator, keep_arrays, out)


def _cleaned(merged: dict[str, Any]) -> dict[str, Any]:
    return {key: strip_undefined(value) for key, value in merged.items() if value is not UNDEFINED}


def compile_flatten(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@flatten``: nested objects (and arrays) into one level of joined keys."""
    value = sub.value(options["value"], Needs(raw=True, fresh=needs.fresh))
    separator = options["separator"]
    keep_arrays = js_truthy(options.get("omitArrays"))

    def flatten(payload: Any) -> Any:
        out: dict[str, Any] = {}
        _flatten(value(payload), "", separator, keep_arrays, out)
        return out if needs.raw else _cleaned(out)

    return flatten


def _assign(target: dict[str, Any], source: Any) -> None:
    """``Object.assign(target, source)`` for one JSON source."""
    if isinstance(source, dict):
        for key in js_keys(source):
            target[key] = source[key]
    elif isinstance(source, list):
        for index, entry in enumerate(source):
            target[str(index)] = entry
    elif isinstance(source, str):
        for index, unit in enumerate(js_code_units(source)):
            target[str(index)] = unit


def compile_merge(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@merge``: objects merged key by key; later ones win, or earlier ones with ``left``."""
    parts = [sub.value(part, Needs(raw=True, fresh=needs.fresh)) for part in options["objects"]]
    reverse = options["direction"] == "left"

    def merge(payload: Any) -> Any:
        values = [part(payload) for part in parts]
        if reverse:
            values.reverse()
        merged: dict[str, Any] = {}
        for value in values:
            _assign(merged, value)
        return merged if needs.raw else _cleaned(merged)

    return merge


def compile_transform(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@transform``: resolve ``apply`` against the payload, then ``mapping`` against that."""
    apply = sub.root(options["apply"], CLEAN)
    mapping = sub.value(options["mapping"], needs)

    def transform(payload: Any) -> Any:
        if payload is UNDEFINED:
            payload = {}  # transform(mapping, data = {}) in Segment
        elif not isinstance(payload, dict):
            return UNDEFINED  # Segment throws "data must be an object"
        return mapping(apply(payload))

    return transform


def _without_nulls(value: Any, raw: bool) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, entry in value.items():
        if entry is None:
            if raw:
                out[key] = UNDEFINED
        else:
            out[key] = _without_nulls(entry, raw)
    return out


def compile_exclude_when_null(value: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@excludeWhenNull``: null becomes undefined, and null keys leave objects (not arrays)."""
    inner = sub.value(value, needs)

    def exclude(payload: Any) -> Any:
        resolved = inner(payload)
        return UNDEFINED if resolved is None else _without_nulls(resolved, needs.raw)

    return exclude


def compile_liquid(source: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@liquid``: a liquid template rendered in the sandbox (see :mod:`.liquid`)."""
    return sub.liquid.compile(source)


# What jmespath may raise on event data it cannot handle (a type error in a function).
_JMESPATH_ERRORS: Final = (JMESPathError, TypeError, ValueError, RecursionError)


def compile_jmespath(query: Any, needs: Needs, sub: SubCompiler) -> Resolver:
    """``@jmespath`` (ours): a JMESPath query over the payload; ``null`` drops the key."""
    expression = jmespath.compile(query)

    def search(payload: Any) -> Any:
        try:
            found = expression.search(None if payload is UNDEFINED else payload)
        except _JMESPATH_ERRORS:
            return UNDEFINED
        if found is None:
            return UNDEFINED
        return copy_json(found) if needs.fresh else found

    return search


def compile_split(options: Mapping[str, Any], needs: Needs, sub: SubCompiler) -> Resolver:
    """``@split`` (ours): a string split on a separator; other values pass through."""
    value = sub.value(options["value"], needs)
    separator: str = options["separator"]

    def split(payload: Any) -> Any:
        resolved = value(payload)
        return resolved.split(separator) if isinstance(resolved, str) else resolved

    return split


DIRECTIVES: Final[Mapping[str, Callable[[Any, Needs, SubCompiler], Resolver]]] = {
    "@path": compile_path,
    "@template": compile_template_directive,
    "@literal": compile_literal,
    "@if": compile_if,
    "@case": compile_case,
    "@replace": compile_replace_directive,
    "@arrayPath": compile_array_path,
    "@json": compile_json,
    "@flatten": compile_flatten,
    "@merge": compile_merge,
    "@transform": compile_transform,
    "@excludeWhenNull": compile_exclude_when_null,
    "@liquid": compile_liquid,
    "@jmespath": compile_jmespath,
    "@split": compile_split,
}
"""Every directive we know, by name, with the function that compiles it."""
