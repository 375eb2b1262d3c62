"""The input limits of definition documents, enforced while the YAML is composed.

Every definition file (destination, instance, server or sync configuration, test cases) is
read by :func:`framework.definitions.source.parse_document`, which composes it with
:class:`LimitedLoader`. The loader counts as it goes, so a hostile document is refused at the
line where it crosses a limit, before anything recursive (our own walks, the constructor,
JSON Schema, pydantic, the mapping compiler) sees it:

- **at most** :data:`MAX_BYTES` **bytes** (checked before parsing);
- **at most** :data:`MAX_DEPTH` **nested objects and arrays**, an alias counting as the
  nesting of the node it names (``TOO_DEEP``); the composer's own recursion never goes deeper;
- **at most** :data:`MAX_VALUES` **values once aliases are expanded** (``TOO_MANY_VALUES``):
  an alias counts as every value of the node it names, as the walks after composing would
  see it. This is what stops a "billion laughs" alias bomb, whose text is small and whose
  expansion is not. Aliases themselves are allowed (they are handy to share fields);
- **no alias inside the node it names** (``ALIAS_CYCLE``): such a document has no finite
  JSON form.

A value the constructor cannot build (a date that does not exist, an integer of thousands of
digits, a tag the safe loader does not know) is a :class:`yaml.MarkedYAMLError` at its node,
never a bare ``ValueError``.
"""

from __future__ import annotations

from typing import Any, Final

import yaml
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "LimitExceededError",
    "LimitedLoader",
]

MAX_BYTES: Final = 4 * 1024 * 1024
"""Largest definition document, in bytes of UTF-8 (4 MiB; a destination is a few KiB)."""
MAX_DEPTH: Final = 64
"""Deepest nesting of objects and arrays in a definition document (real ones nest < 12)."""
MAX_VALUES: Final = 250_000
"""Most values (scalars, objects and arrays) a document may hold once aliases are expanded."""


class LimitExceededError(yaml.MarkedYAMLError):
    """A document crosses one of the limits; ``code`` says which, ``problem_mark`` where.

    ``pointer`` is the JSON pointer of the value where the limit was crossed.
    """

    def __init__(self, code: str, problem: str, mark: Any, pointer: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.code = code
        self.pointer = pointer


def _token(index: Any) -> str | None:
    """The JSON pointer token of a child: its index, its key, or none for a key itself."""
    if isinstance(index, int):
        return str(index)
    if isinstance(index, yaml.ScalarNode):
        return str(index.value).replace("~", "~0").replace("/", "~1")
    return None


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents past :data:`MAX_DEPTH` or :data:`MAX_VALUES`.

    Counting happens in :meth:`compose_node`: ``_depth`` is the number of collections being
    composed, ``_sizes`` and ``_heights`` the expanded size and nesting of each node
    composed so far (so an alias is measured without expanding it), ``_count`` the values of
    the expanded document so far.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._path: list[str] = []
        self._sizes: dict[int, int] = {}
        self._heights: dict[int, int] = {}
        self._count = 0

    def _pointer(self) -> str:
        return "".join("/" + token for token in self._path)

    def _add(self, values: int, mark: Any, *, alias: bool) -> None:
        self._count += values
        if self._count > MAX_VALUES:
            how = "with its aliases expanded " if alias else ""
            raise LimitExceededError(
                "TOO_MANY_VALUES",
                f"the document holds more than {MAX_VALUES:,} values {how}here; "
                "a definition may hold at most that many (an alias counts as every value "
                "of the node it names)",
                mark,
                self._pointer(),
            )

    def _too_deep(self, mark: Any, *, alias: bool) -> LimitExceededError:
        how = " once its alias is expanded" if alias else ""
        return LimitExceededError(
            "TOO_DEEP",
            f"objects and arrays are nested more than {MAX_DEPTH} levels deep here{how}; "
            f"a definition may nest at most {MAX_DEPTH} levels",
            mark,
            self._pointer(),
        )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node as PyYAML does, counting its depth and expanded size first."""
        token = _token(index)
        if token is not None:
            self._path.append(token)
        try:
            return self._compose_counted(parent, index)
        finally:
            if token is not None:
                self._path.pop()

    def _compose_counted(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self._sizes:  # named, but not composed to its end
                    raise LimitExceededError(
                        "ALIAS_CYCLE",
                        f"the alias *{event.anchor} is inside the node it names, so it never "
                        "ends; name a node that does not contain the alias",
                        event.start_mark,
                        self._pointer(),
                    )
                if self._depth + self._heights[id(target)] > MAX_DEPTH:
                    raise self._too_deep(event.start_mark, alias=True)
                self._add(self._sizes[id(target)], event.start_mark, alias=True)
            return super().compose_node(parent, index)
        is_collection = isinstance(event, MappingStartEvent | SequenceStartEvent)
        if is_collection and self._depth >= MAX_DEPTH:
            raise self._too_deep(event.start_mark, alias=False)
        self._add(1, event.start_mark, alias=False)
        before = self._count
        self._depth += is_collection
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= is_collection
        if node is None:  # PyYAML's stub allows it; the composer never returns None here
            return None
        self._sizes[id(node)] = 1 + self._count - before
        children = _children(node)
        self._heights[id(node)] = (
            1 + max(self._heights[id(c)] for c in children) if children else int(is_collection)
        )
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Build one value; a value Python refuses is a YAML error at its node."""
        try:
            return super().construct_object(node, deep)
        except (
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
            ArithmeticError,
        ) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"this {kind} cannot be read (a date that does not exist, a number of more "
                "than 4,300 digits); correct it, or quote it to keep it as text",
                node.start_mark,
            ) from exc


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
