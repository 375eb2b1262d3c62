"""One check per directive, and :data:`CHECKS`, the dict that names them.

Each check receives the directive's value and its JSON pointer, and reports every problem
through the :class:`~framework.mapping.validate.Checker` walking the mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import jmespath
from jmespath.exceptions import JMESPathError, ParseError

from framework.mapping.jsvalues import js_truthy
from framework.mapping.nodes import kind_of
from framework.mapping.problems import (
    BAD_OPTION,
    BAD_SYNTAX,
    BAD_VALUE_TYPE,
    MISSING_OPTION,
    TOO_DEEP,
    child_pointer,
)

if TYPE_CHECKING:
    from framework.mapping.validate import Checker

__all__ = ["CHECKS", "MAX_JSON_NESTING", "MAX_PATTERN_LENGTH", "MAX_REPLACEMENT_LENGTH"]

MAX_PATTERN_LENGTH: Final = 10
"""Longest ``@replace`` pattern, in JS characters (actions-core ``MAX_PATTERN_LENGTH``)."""
MAX_REPLACEMENT_LENGTH: Final = 10
"""Longest ``@replace`` replacement, in JS characters."""
MAX_JSON_NESTING: Final = 4
"""Most ``@json`` directives one inside another. Each ``encode`` escapes the quotes and
backslashes of the one inside, which doubles them: unbounded nesting would let a small event
grow without bound (22 levels turn a few bytes into megabytes). Segment sets no limit."""
_FALSY: Final = 'should be a mapping directive or a value that is not false, 0, "" or null.'


def _check_string_or_directive(checker: Checker, node: Any, pointer: str) -> None:
    checker.string_or_directive(node, pointer)


def _check_value(checker: Checker, node: Any, pointer: str) -> None:
    checker.value(node, pointer)


def _check_if(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, (), ("exists", "blank", "then", "else"))
    if options is None:
        return
    for field in ("exists", "blank", "then", "else"):
        if field in options:
            checker.value(options[field], child_pointer(pointer, field))
    if "exists" not in options and "blank" not in options:
        checker.add(
            pointer, 'should have field "exists" or "blank" but it has neither.', MISSING_OPTION
        )
    elif not js_truthy(options.get("exists")) and not js_truthy(options.get("blank")):
        field = "exists" if "exists" in options else "blank"
        checker.add(child_pointer(pointer, field), _FALSY, BAD_OPTION)


def _check_case(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, (), ("operator", "value"))
    if options is None:
        return
    if checker.non_empty(options, "operator", pointer):
        checker.one_of(options["operator"], child_pointer(pointer, "operator"), ("lower", "upper"))
    if "value" in options:
        checker.string_or_directive(options["value"], child_pointer(pointer, "value"))


def _check_replace(checker: Checker, node: Any, pointer: str) -> None:
    known = ("replacement", "ignorecase", "global", "pattern2", "replacement2")
    options = checker.options(node, pointer, ("pattern", "value"), known)
    if options is None:
        return
    for field, least, most in (
        ("pattern", 1, MAX_PATTERN_LENGTH),
        ("replacement", 0, MAX_REPLACEMENT_LENGTH),
        ("pattern2", 0, MAX_PATTERN_LENGTH),
        ("replacement2", 0, MAX_REPLACEMENT_LENGTH),
    ):
        if field in options:
            checker.string(options[field], child_pointer(pointer, field), least=least, most=most)
    for field in ("ignorecase", "global"):
        if field in options:
            checker.boolean(options[field], child_pointer(pointer, field))
    if "value" in options:
        checker.string_or_directive(options["value"], child_pointer(pointer, "value"))


def _check_array_path(checker: Checker, node: Any, pointer: str) -> None:
    if not isinstance(node, list):
        checker.add(pointer, f"should be an array but it is {kind_of(node)}.", BAD_VALUE_TYPE)
        return
    if not node:
        checker.add(
            pointer, "should have a path as its first item but it is empty.", MISSING_OPTION
        )
        return
    checker.string_or_directive(node[0], child_pointer(pointer, 0))
    if len(node) > 1:
        checker.value(node[1], child_pointer(pointer, 1))
    for index, extra in enumerate(node[2:], start=2):
        checker.json(extra, child_pointer(pointer, index))


def _check_json(checker: Checker, node: Any, pointer: str) -> None:
    if pointer.count("/@json") > MAX_JSON_NESTING:
        checker.add(
            pointer,
            f"nests @json more than {MAX_JSON_NESTING} levels deep; each level escapes the one "
            "inside it again, so the output doubles with every level. Encode once.",
            TOO_DEEP,
        )
        return
    options = checker.options(node, pointer, ("value", "mode"), ())
    if options is None:
        return
    if "value" in options:
        checker.value(options["value"], child_pointer(pointer, "value"))
        if not js_truthy(options["value"]):
            checker.add(child_pointer(pointer, "value"), _FALSY, BAD_OPTION)
    if "mode" in options:
        checker.one_of(options["mode"], child_pointer(pointer, "mode"), ("encode", "decode"))


def _check_flatten(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, ("value",), ("separator", "omitArrays"))
    if options is None:
        return
    if checker.non_empty(options, "separator", pointer):
        checker.string(options["separator"], child_pointer(pointer, "separator"))
    if "value" in options:
        checker.value(options["value"], child_pointer(pointer, "value"))
    if "omitArrays" in options:
        checker.json(options["omitArrays"], child_pointer(pointer, "omitArrays"))


def _check_merge(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, ("objects",), ("direction",))
    if options is None:
        return
    if checker.non_empty(options, "direction", pointer):
        checker.one_of(options["direction"], child_pointer(pointer, "direction"), ("left", "right"))
    objects = options.get("objects")
    if "objects" not in options:
        return
    if not isinstance(objects, list):
        checker.add(
            child_pointer(pointer, "objects"),
            f"should be an array but it is {kind_of(objects)}.",
            BAD_VALUE_TYPE,
        )
        return
    for index, item in enumerate(objects):
        checker.object_or_directive(item, child_pointer(child_pointer(pointer, "objects"), index))


def _check_transform(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, ("apply", "mapping"), ())
    if options is None:
        return
    for field in ("apply", "mapping"):
        if field in options:
            checker.object_or_directive(
                options[field], child_pointer(pointer, field), as_root=field == "apply"
            )


def _check_liquid(checker: Checker, node: Any, pointer: str) -> None:
    if checker.string(node, pointer):
        for code, message in checker.liquid.problems(node):
            checker.add(pointer, message, code)


def _check_jmespath(checker: Checker, node: Any, pointer: str) -> None:
    if not checker.string(node, pointer):
        return
    try:
        jmespath.compile(node)
    except ParseError as error:
        reason = str(error).splitlines()[0].rstrip(":")
        checker.add(
            pointer,
            f"is not a valid JMESPath query: {reason} (column {error.lex_position + 1}).",
            BAD_SYNTAX,
        )
    except JMESPathError as error:
        checker.add(pointer, f"is not a valid JMESPath query: {error}", BAD_SYNTAX)
    except RecursionError:  # jmespath's parser recurses once per (, [, { or ! it nests
        checker.add(
            pointer,
            "is not a valid JMESPath query: it nests brackets or negations too deeply to "
            "parse; nest fewer.",
            BAD_SYNTAX,
        )


def _check_split(checker: Checker, node: Any, pointer: str) -> None:
    options = checker.options(node, pointer, ("value",), ("separator",))
    if options is None:
        return
    if checker.non_empty(options, "separator", pointer):
        checker.string(options["separator"], child_pointer(pointer, "separator"))
    if "value" in options:
        checker.value(options["value"], child_pointer(pointer, "value"))


CHECKS: Final[Mapping[str, Callable[[Checker, Any, str], None]]] = {
    "@path": _check_string_or_directive,
    "@template": _check_string_or_directive,
    "@literal": _check_value,
    "@excludeWhenNull": _check_value,
    "@if": _check_if,
    "@case": _check_case,
    "@replace": _check_replace,
    "@arrayPath": _check_array_path,
    "@json": _check_json,
    "@flatten": _check_flatten,
    "@merge": _check_merge,
    "@transform": _check_transform,
    "@liquid": _check_liquid,
    "@jmespath": _check_jmespath,
    "@split": _check_split,
}
"""Every directive we know, by name, with the function that checks its value."""
