"""Compile a trigger tree into one Python function, once; no tree walk per event.

The tree becomes the source of a single function, ``match(e)``, whose body is one boolean
expression built from fixed templates. Every literal, key and pattern is bound as a constant
(``c0``, ``c1``, ...) in the function's globals, never written into the source, so no value
from a trigger can change the code. Per event the function does a ``dict.get`` per path
step, an exact type check and the comparison itself.

Values are read by their JSON type: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``
and ``None`` exactly (``type(x) is ...``), which is what makes the function total: no
``__eq__`` of a foreign object is ever called, so it cannot raise. ``bool`` is not a number
here, and a missing value reads as ``None``: every operator treats null and missing alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.fql.ast import (
    EACH,
    And,
    Comparison,
    Field,
    Membership,
    Node,
    Not,
    Or,
    Step,
    TextMatch,
)

__all__ = [
    "ExpressionWriter",
    "compile_tree",
    "each_path",
    "get_path",
    "glob_match",
    "item_test",
    "runtime_namespace",
]

# Paths longer than this are read by a loop (get_path) rather than inline code, which keeps
# the generated expression shallow for Python's own compiler.
_INLINE_PATH_STEPS = 6

_NUMBER_TEST = "((t := type({x})) is int or t is float)"
_IDENTITY = ("boolean", "null")


def compile_tree(node: Node) -> Callable[[object], bool]:
    """The predicate for ``node``: an event (a ``dict``) in, ``True``/``False`` out.

    Anything that is not a ``dict`` gives ``False``. The predicate never raises.
    """
    generator = ExpressionWriter()
    body = generator.node(node)
    source = (
        f"def match(e):\n    if type(e) is not dict:\n        return False\n    return {body}\n"
    )
    namespace = runtime_namespace(generator.constants)
    exec(compile(source, "<trigger>", "exec"), namespace)
    match: Callable[[object], bool] = namespace["match"]
    return match


def runtime_namespace(constants: dict[str, object]) -> dict[str, Any]:
    """The globals generated code runs with: no builtins but the few it names, and constants."""
    return {
        "__builtins__": {},
        "dict": dict,
        "list": list,
        "str": str,
        "int": int,
        "float": float,
        "type": type,
        "len": len,
        "any": any,
        "_get": get_path,
        "_each": each_path,
        "_glob": glob_match,
        **constants,
    }


def get_path(event: dict[str, object], path: tuple[Step, ...]) -> object:
    """Read ``path`` from ``event``; ``None`` when any step is missing or of the wrong type."""
    value: object = event
    for step in path:
        if step is EACH:
            return None  # a path with [*] reads several values: see each_path
        if isinstance(step, str):
            if type(value) is not dict:
                return None
            value = value.get(step)
        elif isinstance(step, int):
            if type(value) is not list or step >= len(value):
                return None
            value = value[step]
    return value


def each_path(start: object, path: tuple[Step, ...]) -> list[object]:
    """Every value ``path`` reaches from ``start``, ``[*]`` steps taking every item of an array.

    A key or index step that fails gives ``None`` (missing), as :func:`get_path` does; a
    ``[*]`` step into anything but an array, or an empty one, gives nothing.
    """
    values: list[object] = [start]
    for step in path:
        if step is EACH:
            values = [item for value in values if type(value) is list for item in value]
        elif isinstance(step, str):
            values = [value.get(step) if type(value) is dict else None for value in values]
        elif isinstance(step, int):
            values = [
                value[step] if type(value) is list and step < len(value) else None
                for value in values
            ]
    return values


def item_test(
    node: Comparison | Membership | TextMatch,
) -> tuple[Comparison | Membership | TextMatch, bool]:
    """For a leaf over a ``[*]`` path: the test each item is put to, and whether the leaf is
    the negation of "some item passes it".

    Each pair of opposite forms splits the same way: ``=``, ``in``, ``contains``, ``match``,
    the orderings and ``!= null`` (exists) hold when some item passes; ``!=``, ``not in``,
    ``!contains``, ``!match`` and ``= null`` are exactly their negations (no item passes).
    """
    if isinstance(node, Comparison):
        if node.value.kind == "null":
            return Comparison(node.field, "!=", node.value), node.op == "="
        if node.op == "!=":
            return Comparison(node.field, "=", node.value), True
        return node, False
    if node.negated:
        if isinstance(node, Membership):
            return Membership(node.field, node.values), True
        return TextMatch(node.field, node.parts), True
    return node, False


def glob_match(parts: tuple[str, ...], text: str) -> bool:
    """Whether ``text`` matches the ``*`` glob split into ``parts`` (at least two).

    Anchored at both ends, then each inner part found leftmost: linear in the text, where a
    regular expression with several ``.*`` can backtrack for a very long time.
    """
    first, last = parts[0], parts[-1]
    if len(text) < len(first) + len(last):
        return False
    if not (text.startswith(first) and text.endswith(last)):
        return False
    position, end = len(first), len(text) - len(last)
    for part in parts[1:-1]:
        found = text.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


class ExpressionWriter:
    """Writes a trigger tree as one Python expression over the event ``e``.

    Each leaf binds its value to ``x`` before testing it. Every literal becomes a constant
    (``c0``, ``c1``, ...) collected in :attr:`constants`, for the namespace the code runs in.
    :attr:`hoisted` maps a path (or a path's prefix) to the name of a local variable already
    holding its value (as :meth:`path` reads it); reads start from the longest such prefix.
    """

    def __init__(self, prefix: str = "c") -> None:
        self.constants: dict[str, object] = {}
        self.hoisted: dict[tuple[Step, ...], str] = {}
        self._prefix = prefix

    def constant(self, value: object) -> str:
        """Bind ``value`` to a new constant name and return the name."""
        name = f"{self._prefix}{len(self.constants)}"
        self.constants[name] = value
        return name

    def node(self, node: Node) -> str:
        """The expression for ``node``: true exactly when the compiled trigger would be."""
        if isinstance(node, And):
            return "(" + " and ".join(self.node(child) for child in node.operands) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.node(child) for child in node.operands) + ")"
        if isinstance(node, Not):
            return f"(not {self.node(node.operand)})"
        if node.field.each:
            return self.each(node)
        return self.leaf(node)

    def leaf(self, node: Comparison | Membership | TextMatch) -> str:
        """The expression for a leaf, reading its field as one value."""
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Membership):
            return self.membership(node)
        return self.text_match(node)

    def each(self, node: Comparison | Membership | TextMatch) -> str:
        """A leaf over a ``[*]`` path: some item passes its item test (or, negated, none)."""
        test, negated = item_test(node)
        path = node.field.path
        self.hoisted[path] = "_i"
        try:
            body = self.leaf(test)
        finally:
            del self.hoisted[path]
        before = path[: path.index(EACH)]
        start = next(
            (length for length in range(len(before), 0, -1) if before[:length] in self.hoisted),
            0,
        )
        origin = self.hoisted[before[:start]] if start else "e"
        code = f"any({body} for _i in _each({origin}, {self.constant(path[start:])}))"
        return f"(not {code})" if negated else code

    def path(self, field: Field) -> str:
        """An expression reading the field from ``e``, ``None`` when missing."""
        return self.read(field.path)

    def read(self, path: tuple[Step, ...]) -> str:
        """An expression reading ``path`` from ``e`` (``None`` when missing), from the longest
        hoisted prefix when there is one."""
        start = next(
            (length for length in range(len(path), 0, -1) if path[:length] in self.hoisted), 0
        )
        if start == len(path):
            return self.hoisted[path]
        if start:
            rest = path[start:]
            origin = self.hoisted[path[:start]]
            if len(rest) > _INLINE_PATH_STEPS:
                return f"_get({origin}, {self.constant(rest)})"
            code, steps = origin, rest
        else:
            if len(path) > _INLINE_PATH_STEPS:
                return f"_get(e, {self.constant(path)})"
            code, steps = f"e.get({self.constant(path[0])})", path[1:]
        for depth, step in enumerate(steps, start=1):
            var = f"v{depth}"
            const = self.constant(step)
            if isinstance(step, str):
                code = f"({var}.get({const}) if type({var} := {code}) is dict else None)"
            else:
                code = (
                    f"({var}[{const}] if type({var} := {code}) is list"
                    f" and len({var}) > {const} else None)"
                )
        return code

    def comparison(self, node: Comparison) -> str:
        x = f"(x := {self.path(node.field)})"
        value = node.value
        if value.kind == "null":
            return f"({x} is None)" if node.op == "=" else f"({x} is not None)"
        if value.kind == "boolean":
            return f"({x} is {value.value})" if node.op == "=" else f"({x} is not {value.value})"
        const = self.constant(value.value)
        if value.kind == "string":
            if node.op == "=":
                return f"(type({x}) is str and x == {const})"
            return f"(type({x}) is not str or x != {const})"
        python_op = "==" if node.op == "=" else node.op
        return f"({_NUMBER_TEST.format(x=x)} and x {python_op} {const})"

    def membership(self, node: Membership) -> str:
        strings = frozenset(v.value for v in node.values if v.kind == "string")
        numbers = frozenset(v.value for v in node.values if v.kind == "number")
        # `{x}` marks where a test reads the value; only the first test binds it to x.
        tests: list[str] = []
        if strings:
            tests.append(f"(type({{x}}) is str and x in {self.constant(strings)})")
        if numbers:
            tests.append(f"({_NUMBER_TEST} and x in {self.constant(numbers)})")
        tests.extend(
            dict.fromkeys(f"({{x}} is {v.value})" for v in node.values if v.kind in _IDENTITY)
        )
        first = tests[0].replace("{x}", f"(x := {self.path(node.field)})")
        code = "(" + " or ".join([first, *(test.replace("{x}", "x") for test in tests[1:])]) + ")"
        return f"(not {code})" if node.negated else code

    def text_match(self, node: TextMatch) -> str:
        kind = node.kind
        parts = node.parts
        if kind == "equals":
            test = f"x == {self.constant(parts[0])}"
        elif kind == "starts_with":
            test = f"x.startswith({self.constant(parts[0])})"
        elif kind == "ends_with":
            test = f"x.endswith({self.constant(parts[1])})"
        elif kind == "contains":
            test = f"{self.constant(parts[1])} in x"
        else:
            test = f"_glob({self.constant(parts)}, x)"
        if node.negated:
            test = f"not ({test})"
        return f"(type(x := {self.path(node.field)}) is str and {test})"
