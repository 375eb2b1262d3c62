"""An object in a mapping, compiled into one generated function: the output's hot path.

Most of a mapping's fields are ``{"@path": "$.a.b"}``. As closures, each such field costs two
calls per event (the copying wrapper, then the getter) inside the object's loop. Here the
object becomes one function whose body reads each literal one- or two-key path inline, exactly
as :func:`framework.mapping.paths.compile_getter` does for a ``dict`` payload, copies a
container when the output needs fresh values, and calls the field's own resolver for every
other field. A payload that is not a ``dict`` goes to the plain loop over the resolvers.

Keys and paths are constants in the function's globals (``k0``, ``p0``, ...), never written
into its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from framework.mapping.directives import Resolver
from framework.mapping.jsvalues import UNDEFINED, copy_json
from framework.mapping.paths import get

__all__ = ["ObjectField", "compile_object"]

ObjectField = tuple[str, Resolver, "tuple[str, ...] | None"]
"""An output key, its compiled value, and the keys of its literal ``@path`` (else None)."""


def compile_object(fields: Sequence[ObjectField], fresh: bool) -> Resolver:
    """The resolver of an object whose fields are ``fields``, in order, keys whose value is
    undefined left out. ``fresh``: containers read by a path are copied (the output's need)."""
    resolvers = [(key, resolver) for key, resolver, _ in fields]

    def loop(payload: Any) -> dict[str, Any]:
        out = {}
        for key, field in resolvers:
            value = field(payload)
            if value is not UNDEFINED:
                out[key] = value
        return out

    if not any(keys is not None and 1 <= len(keys) <= 2 for _, _, keys in fields):
        return loop
    namespace: dict[str, Any] = {
        "__builtins__": {},
        "type": type,
        "dict": dict,
        "list": list,
        "U": UNDEFINED,
        "_copy": copy_json,
        "_get": get,
        "_loop": loop,
    }
    lines = [
        "def resolve_object(payload):",
        "    if type(payload) is not dict:",
        "        return _loop(payload)",
        "    out = {}",
    ]
    for number, (key, resolver, keys) in enumerate(fields):
        namespace[f"k{number}"] = key
        if keys is not None and 1 <= len(keys) <= 2:
            namespace[f"a{number}"] = keys[0]
            lines.append(f"    v = payload.get(a{number}, U)")
            if len(keys) == 2:
                namespace[f"b{number}"] = keys[1]
                namespace[f"p{number}"] = keys
                lines.append(
                    f"    v = v.get(b{number}, U) if type(v) is dict else _get(payload, p{number})"
                )
            if fresh:
                lines.append("    if type(v) is dict or type(v) is list:")
                lines.append("        v = _copy(v)")
        else:
            namespace[f"f{number}"] = resolver
            lines.append(f"    v = f{number}(payload)")
        lines.append("    if v is not U:")
        lines.append(f"        out[k{number}] = v")
    lines.append("    return out")
    exec(compile("\n".join(lines) + "\n", "<mapping object>", "exec"), namespace)
    resolve: Resolver = namespace["resolve_object"]
    return resolve
