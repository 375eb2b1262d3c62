"""The event paths a mapping reads, found by walking it once (for tooling: samples, docs).

Paths are key tuples from the event root; ``"[]"`` stands for "each item" of an
``@arrayPath`` array. What cannot be known without an event is left out: the paths of
``@jmespath`` queries, of ``@path``/``@template`` values made by another directive, of an
``@arrayPath`` whose array comes from a directive, and what ``@transform``'s ``mapping``
reads (that is ``apply``'s output, not the event).
"""

from __future__ import annotations

from typing import Any

from framework.mapping.liquid import LiquidEngine
from framework.mapping.nodes import ROOT_KEY, is_directive
from framework.mapping.paths import path_directive_keys
from framework.mapping.template import template_paths

__all__ = ["read_paths"]

Keys = tuple[str, ...]

# Directives whose options are plain mapping values, resolved against the same payload.
_PASS_THROUGH = {
    "@if": ("exists", "blank", "then", "else"),
    "@case": ("value",),
    "@replace": ("value",),
    "@json": ("value",),
    "@flatten": ("value",),
    "@split": ("value",),
    "@merge": ("objects",),
}


class _Walker:
    def __init__(self, liquid: LiquidEngine) -> None:
        self.liquid = liquid
        self.found: set[Keys] = set()

    def root(self, node: Any, prefix: Keys) -> None:
        if isinstance(node, dict) and ROOT_KEY in node:
            # The other root keys read the @transform's apply output, not the event.
            self.value(node[ROOT_KEY]["@transform"]["apply"], prefix)
        else:
            self.value(node, prefix)

    def value(self, node: Any, prefix: Keys) -> None:
        if is_directive(node):
            name = next(key for key in node if key.startswith("@"))
            self.directive(name, node[name], prefix)
        elif isinstance(node, dict):
            for item in node.values():
                self.value(item, prefix)
        elif isinstance(node, list):
            for item in node:
                self.value(item, prefix)

    def directive(self, name: str, option: Any, prefix: Keys) -> None:
        if name == "@path":
            if isinstance(option, str):
                self.found.add(prefix + path_directive_keys(option))
            else:
                self.value(option, prefix)
        elif name == "@template":
            if isinstance(option, str):
                self.found.update(prefix + keys for keys in template_paths(option))
            else:
                self.value(option, prefix)
        elif name == "@arrayPath":
            self.array_path(option, prefix)
        elif name == "@transform":
            self.root(option["apply"], prefix)
        elif name == "@liquid":
            self.found.update(prefix + keys for keys in self.liquid.read_paths(option))
        elif name in ("@literal", "@excludeWhenNull"):
            self.value(option, prefix)
        elif name in _PASS_THROUGH:
            for field in _PASS_THROUGH[name]:
                if field in option:
                    self.value(option[field], prefix)

    def array_path(self, option: list[Any], prefix: Keys) -> None:
        path = option[0]
        if not isinstance(path, str):
            self.value(path, prefix)
            return
        root = prefix + path_directive_keys(path)
        self.found.add(root)
        if len(option) > 1:
            self.value(option[1], (*root, "[]"))


def read_paths(mapping: Any, liquid: LiquidEngine) -> tuple[Keys, ...]:
    """The sorted, distinct event paths a valid ``mapping`` reads."""
    walker = _Walker(liquid)
    walker.root(mapping, ())
    return tuple(sorted(walker.found))
