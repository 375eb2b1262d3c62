"""``compile_mapping``: validate a mapping once and compile it into closures; :class:`Mapping`.

Objects compile to a list of ``(key, resolver)`` pairs, arrays to a list of resolvers, a
subtree without directives to a constant, and each directive through :data:`DIRECTIVES`.
Resolving then walks no mapping, parses nothing and validates nothing.

Outputs are fresh: every object and array in a result is new, never one of the event's (the
event's containers that a ``@path`` returns are copied), so a caller may change a result
freely. Segment's ``transform`` gives the same guarantee through its final ``removeUndefined``
pass, which rebuilds every object and array; copying costs about a microsecond for a typical
``properties`` object.
"""

from __future__ import annotations

from collections import abc
from typing import Any

from framework.errors import EventError, MappingError
from framework.mapping.directives import DIRECTIVES, Needs, Resolver, compile_transform
from framework.mapping.jsvalues import UNDEFINED, copy_json, js_type
from framework.mapping.liquid import LiquidEngine
from framework.mapping.nodes import ROOT_KEY, is_directive
from framework.mapping.objects import compile_object
from framework.mapping.paths import path_directive_keys
from framework.mapping.reads import read_paths
from framework.mapping.validate import check_mapping

__all__ = ["Mapping", "compile_mapping"]

_OUTPUT = Needs(raw=False, fresh=True)


def _has_directive(node: Any) -> bool:
    if isinstance(node, dict):
        return is_directive(node) or any(_has_directive(item) for item in node.values())
    if isinstance(node, list):
        return any(_has_directive(item) for item in node)
    return False


def _literal_path(node: Any) -> tuple[str, ...] | None:
    """The keys of a ``{"@path": "<string>"}`` directive (the form it compiles to a getter)."""
    if not is_directive(node):
        return None
    name = next(key for key in node if key.startswith("@"))
    path = node[name]
    return path_directive_keys(path) if name == "@path" and isinstance(path, str) else None


def _constant(value: Any, needs: Needs) -> Resolver:
    constant = copy_json(value)  # later changes to the caller's mapping do not leak in
    if needs.fresh and isinstance(constant, dict | list):
        return lambda payload: copy_json(constant)
    return lambda payload: constant


class _Compiler:
    """Compiles mapping values; directives call back into it for their own values."""

    def __init__(self, liquid: LiquidEngine) -> None:
        self.liquid = liquid
        self.used: set[str] = set()

    def value(self, node: Any, needs: Needs) -> Resolver:
        if is_directive(node):
            name = next(key for key in node if key.startswith("@"))
            self.used.add(name)
            return DIRECTIVES[name](node[name], needs, self)
        if not _has_directive(node):
            return _constant(node, needs)
        if isinstance(node, dict):
            if needs.raw:
                return self._object(
                    [(key, self.value(item, needs)) for key, item in node.items()], needs
                )
            return compile_object(
                [(key, self.value(item, needs), _literal_path(item)) for key, item in node.items()],
                needs.fresh,
            )
        return self._array([self.value(item, needs) for item in node], needs)

    def root(self, node: Any, needs: Needs) -> Resolver:
        if not (isinstance(node, dict) and ROOT_KEY in node):
            return self.value(node, needs)
        options = dict(node[ROOT_KEY]["@transform"])
        options["mapping"] = {key: item for key, item in node.items() if key != ROOT_KEY}
        self.used.add("@transform")
        return compile_transform(options, needs, self)

    @staticmethod
    def _object(fields: list[tuple[str, Resolver]], needs: Needs) -> Resolver:
        if needs.raw:
            return lambda payload: {key: field(payload) for key, field in fields}

        def resolve_object(payload: Any) -> dict[str, Any]:
            out = {}
            for key, field in fields:
                value = field(payload)
                if value is not UNDEFINED:
                    out[key] = value
            return out

        return resolve_object

    @staticmethod
    def _array(items: list[Resolver], needs: Needs) -> Resolver:
        if needs.raw:
            return lambda payload: [item(payload) for item in items]

        def resolve_array(payload: Any) -> list[Any]:
            values = [item(payload) for item in items]
            return [None if value is UNDEFINED else value for value in values]

        return resolve_array


class Mapping:
    """A compiled mapping-kit mapping: :meth:`resolve` it against events.

    Made by :func:`compile_mapping` only. Immutable and thread-safe; resolving is a pure
    function of the event.
    """

    __slots__ = ("_directives", "_paths", "_resolve", "_source")

    def __init__(
        self,
        source: Any,
        resolve: Resolver,
        directives: frozenset[str],
        paths: tuple[tuple[str, ...], ...],
    ) -> None:
        self._source = source
        self._resolve = resolve
        self._directives = directives
        self._paths = paths

    @property
    def source(self) -> Any:
        """The mapping as given to :func:`compile_mapping` (the same object, not a copy)."""
        return self._source

    @property
    def directives_used(self) -> frozenset[str]:
        """The names of the directives the mapping uses, ``@``-prefixed."""
        return self._directives

    def paths(self) -> tuple[tuple[str, ...], ...]:
        """The event paths the mapping reads, as sorted key tuples (see :mod:`.reads`)."""
        return self._paths

    def resolve(self, event: abc.Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The mapping resolved against ``event`` (``None`` means ``{}``); never fails.

        Raises :class:`~framework.errors.EventError` only when the event is not an object.
        The result shares no object or array with the event or the mapping.
        """
        if event is None:
            event = {}
        elif not isinstance(event, dict):
            if not isinstance(event, abc.Mapping):
                raise EventError(f"data must be an object, got {js_type(event)}", pointer="")
            event = dict(event)
        result: dict[str, Any] = self._resolve(event)
        return result

    def __repr__(self) -> str:
        return f"<Mapping directives={sorted(self._directives)}>"


def compile_mapping(mapping: Any) -> Mapping:
    """Validate ``mapping`` and compile it; raises :class:`~framework.errors.MappingError`.

    Every problem is collected first, each at its JSON pointer, so one error lists them all.
    A mapping that compiles resolves without error on any event object.
    """
    liquid = LiquidEngine()
    problems = check_mapping(mapping, liquid)
    if problems:
        raise MappingError(problems)
    compiler = _Compiler(liquid)
    resolve = compiler.root(mapping, _OUTPUT)
    return Mapping(mapping, resolve, frozenset(compiler.used), read_paths(mapping, liquid))
