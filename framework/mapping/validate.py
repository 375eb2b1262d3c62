"""Mapping validation: every problem of a mapping, each at its JSON pointer.

Segment's validator (actions-core ``mapping-kit/validate.js``) is the base, with its messages.
It looks only at the top levels of a mapping and leaves the rest to fail, or not, when an
event is transformed. We check everything once, before any event, so that a mapping that
passes can never fail on an event:

- everything nested is checked: inside ``@literal``, ``@if`` branches, arrays, ``@json``;
- what Segment's ``transform`` rejects for the mapping alone is a problem here: ``@if``
  without a usable ``exists``/``blank``, ``@case`` without ``operator``, ``@flatten`` without
  ``separator``, ``@merge`` without ``direction``, ``@json`` with a falsy ``value``, a too long
  ``@liquid`` template;
- options Segment leaves unchecked are checked: ``@case`` operators, ``@json`` modes and
  ``@merge`` directions must be spelt exactly as ``transform`` compares them,
  ``pattern2``/``replacement2`` like ``pattern``/``replacement``, ``@if``'s ``blank``;
- the root must be an object of fields; ``__segment_internal_directive`` (which Segment's
  validator rejects and ``transform`` accepts) must hold one ``@transform``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from framework.errors import Problem
from framework.mapping.directive_checks import CHECKS
from framework.mapping.jsvalues import js_length
from framework.mapping.liquid import LiquidEngine
from framework.mapping.nodes import ROOT_KEY, is_directive, kind_of
from framework.mapping.problems import (
    BAD_OPTION,
    BAD_VALUE_TYPE,
    MAX_DEPTH,
    MISSING_OPTION,
    NOT_JSON,
    TOO_DEEP,
    TOO_MANY_KEYS,
    UNKNOWN_DIRECTIVE,
    child_pointer,
)
from framework.suggestions import did_you_mean

__all__ = ["Checker", "check_mapping"]


class Checker:
    """Walks a mapping once and collects every problem."""

    def __init__(self, liquid: LiquidEngine) -> None:
        self.liquid = liquid
        self.problems: list[Problem] = []

    def add(self, pointer: str, message: str, code: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(pointer, message, code))

    def too_deep(self, pointer: str) -> bool:
        """Whether ``pointer`` is past :data:`MAX_DEPTH` (reported once, at that depth)."""
        if pointer.count("/") <= MAX_DEPTH:
            return False
        self.add(pointer, f"is nested more than {MAX_DEPTH} levels deep.", TOO_DEEP)
        return True

    # -- values ---------------------------------------------------------------------------

    def json(self, value: Any, pointer: str) -> None:
        """A value never resolved (``_metadata``, unknown options): it need only be JSON."""
        if self.too_deep(pointer):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if self.key(key, pointer):
                    self.json(item, child_pointer(pointer, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.json(item, child_pointer(pointer, index))
        else:
            self.scalar(value, pointer)

    def scalar(self, value: Any, pointer: str) -> None:
        """A value that is neither object nor array: it must be JSON (finite numbers)."""
        if value is None or isinstance(value, str | bool | int):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                self.add(pointer, f"should be a JSON value but it is {value}.", NOT_JSON)
            return
        self.add(pointer, f"should be a JSON value but it is {kind_of(value)}.", NOT_JSON)

    def key(self, key: Any, pointer: str) -> bool:
        """Whether an object key is a string (a problem when it is not)."""
        if isinstance(key, str):
            return True
        self.add(child_pointer(pointer, repr(key)), "should have a string key.", NOT_JSON)
        return False

    def value(self, node: Any, pointer: str) -> None:
        """Any mapping value: a literal, an object or array of values, or a directive."""
        if self.too_deep(pointer):
            return
        if is_directive(node):
            self.directive(node, pointer)
        elif isinstance(node, dict):
            for key, item in node.items():
                if self.key(key, pointer):
                    self.value(item, child_pointer(pointer, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self.value(item, child_pointer(pointer, index))
        else:
            self.scalar(node, pointer)

    def string_or_directive(self, node: Any, pointer: str) -> None:
        """A string, or a directive giving one (``@path``, ``@template``, values)."""
        if is_directive(node):
            self.directive(node, pointer)
        elif not isinstance(node, str):
            self.add(
                pointer,
                f"should be a string or a mapping directive but it is {kind_of(node)}.",
                BAD_VALUE_TYPE,
            )

    def object_or_directive(self, node: Any, pointer: str, *, as_root: bool = False) -> None:
        """An object of fields or a directive; ``as_root``: a whole mapping (``apply``)."""
        if isinstance(node, dict):
            if as_root:
                self.root(node, pointer)
            else:
                self.value(node, pointer)
        else:
            self.add(
                pointer,
                f"should be an object or a mapping directive but it is {kind_of(node)}.",
                BAD_VALUE_TYPE,
            )

    def string(self, node: Any, pointer: str, *, most: int | None = None, least: int = 0) -> bool:
        """Whether ``node`` is a string of ``least`` to ``most`` JS characters (else a problem)."""
        if not isinstance(node, str):
            self.add(pointer, f"should be a string but it is {kind_of(node)}.", BAD_VALUE_TYPE)
            return False
        length = js_length(node)
        if length < least:
            self.add(pointer, f"should be a string of length {least} or greater.", BAD_OPTION)
            return False
        if most is not None and length > most:
            self.add(pointer, f"should be a string of length {most} or less.", BAD_OPTION)
            return False
        return True

    def boolean(self, node: Any, pointer: str) -> None:
        """A boolean option (``ignorecase``, ``global``)."""
        if not isinstance(node, bool):
            self.add(pointer, f"should be a boolean but it is {kind_of(node)}.", BAD_VALUE_TYPE)

    def one_of(self, node: Any, pointer: str, allowed: tuple[str, ...]) -> None:
        """A string option spelt exactly as one of ``allowed``."""
        if self.string(node, pointer) and node not in allowed:
            self.add(
                pointer,
                f'should be one of {", ".join(allowed)} but it is "{node}".',
                BAD_OPTION,
            )

    # -- directives -----------------------------------------------------------------------

    def directive(self, node: dict[Any, Any], pointer: str) -> None:
        """An object with an ``@`` key: one known directive, ``_metadata`` aside, then its check."""
        if self.too_deep(pointer):  # directives nest through options, not only values
            return
        keys = list(node)
        names = [key for key in keys if isinstance(key, str) and key.startswith("@")]
        if len(names) > 1:
            self.add(
                pointer,
                f"should only have one @-prefixed key but it has {len(names)} keys.",
                TOO_MANY_KEYS,
            )
            return
        if any(key not in names and key != "_metadata" for key in keys):
            self.add(
                pointer,
                f"should only have one @-prefixed key but it has {len(keys)} keys.",
                TOO_MANY_KEYS,
            )
            return
        if "_metadata" in node:
            self.json(node["_metadata"], child_pointer(pointer, "_metadata"))
        name = names[0]
        check = CHECKS.get(name)
        if check is None:
            known = ", ".join(sorted(CHECKS))
            self.add(
                pointer,
                f"has an invalid directive: {name}.{did_you_mean(name, CHECKS)} "
                f"The directives are: {known}.",
                UNKNOWN_DIRECTIVE,
            )
            return
        check(self, node[name], child_pointer(pointer, name))

    def options(
        self, node: Any, pointer: str, required: tuple[str, ...], known: tuple[str, ...]
    ) -> Mapping[str, Any] | None:
        """A directive's options object: required fields present, unknown ones valid values.

        Segment ignores unknown options but validates them as mapping values; so do we.
        """
        if not isinstance(node, dict) or is_directive(node):
            self.add(pointer, f"should be an object but it is {kind_of(node)}.", BAD_VALUE_TYPE)
            return None
        for key, item in node.items():
            if self.key(key, pointer) and key not in required and key not in known:
                self.value(item, child_pointer(pointer, key))
        for field in required:
            if field not in node:
                self.add(pointer, f'should have field "{field}" but it doesn\'t.', MISSING_OPTION)
        return node

    def non_empty(self, options: Mapping[str, Any], field: str, pointer: str) -> bool:
        """A field Segment's transform requires truthy: present and not ``""``."""
        if options.get(field, "") == "":
            self.add(pointer, f'should have field "{field}" but it doesn\'t.', MISSING_OPTION)
            return False
        return True

    # -- the root -------------------------------------------------------------------------

    def root(self, mapping: Any, pointer: str) -> None:
        """A whole mapping (or ``@transform``'s ``apply``): fields, or a directive."""
        if self.too_deep(pointer):
            return
        if not isinstance(mapping, dict) or ROOT_KEY not in mapping:
            self.value(mapping, pointer)
            return
        for key, item in mapping.items():
            if self.key(key, pointer) and key != ROOT_KEY:
                self.value(item, child_pointer(pointer, key))
        self.root_directive(mapping[ROOT_KEY], child_pointer(pointer, ROOT_KEY))

    def root_directive(self, node: Any, pointer: str) -> None:
        """``__segment_internal_directive``: one ``@transform`` with an ``apply``."""
        if not is_directive(node):
            self.add(
                pointer,
                f"should be a @transform directive but it is {kind_of(node)}.",
                BAD_VALUE_TYPE,
            )
            return
        if len(node) != 1:
            self.add(
                pointer,
                f"should only have one key, @transform, but it has {len(node)} keys.",
                TOO_MANY_KEYS,
            )
            return
        name = next(iter(node))
        if name != "@transform":
            self.add(
                pointer,
                "should be a @transform directive (the other root keys are its mapping) "
                f"but it is {name}.",
                BAD_OPTION,
            )
            return
        options = self.options(node[name], child_pointer(pointer, name), ("apply",), ("mapping",))
        if options is None:
            return
        if "mapping" in options:
            # Segment's transform replaces it with the other root keys; its validator wants it.
            self.value(options["mapping"], child_pointer(child_pointer(pointer, name), "mapping"))
        if "apply" in options:
            apply_pointer = child_pointer(child_pointer(pointer, name), "apply")
            self.object_or_directive(options["apply"], apply_pointer, as_root=True)


def check_mapping(mapping: Any, liquid: LiquidEngine) -> list[Problem]:
    """Every problem of ``mapping``, in no particular order (``MappingError`` sorts them)."""
    checker = Checker(liquid)
    if not isinstance(mapping, dict):
        if mapping is None or isinstance(mapping, list | str | bool | int | float):
            checker.add("", f"should be an object but it is {kind_of(mapping)}.", BAD_VALUE_TYPE)
        else:
            checker.scalar(mapping, "")
    elif is_directive(mapping):
        checker.add(
            "",
            "should be an object of fields but it is a directive: wrap it in a field, or use "
            f"{ROOT_KEY} with @transform.",
            BAD_VALUE_TYPE,
        )
        checker.directive(mapping, "")
    else:
        checker.root(mapping, "")
    return checker.problems
