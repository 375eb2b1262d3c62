"""Evaluate many triggers together: an instance's subscriptions, at most 50 of them.

One by one, every trigger reads ``type`` and tests it against its own literal, then reads
``event``, ``properties``... again. :class:`TriggerIndex` does that work once per event:

1. **Dispatch on a field's string value.** The path that most triggers test for equality with
   a string (``type = "track"``, ``event in ("A", "B")``) becomes a dictionary lookup: one read
   and one hash per event choose a bucket. In the bucket for ``"track"``, every leaf that tests
   that path is already decided, so ``type = "track"`` is true there and ``type = "page"`` is
   false, and whole triggers fall away (false) or always hold (true) before any event arrives.
   The bucket for every other value (another string, a number, a missing field) knows that the
   value is none of the keys, which decides the equality leaves again (``type = "track"`` is
   false there). Inside a bucket the next most-tested path splits again, a few levels deep.
2. **Share the reads.** Within a bucket, a path (or a prefix of one) that several remaining
   leaves read is read once into a local variable: ``properties`` once for ``revenue``,
   ``currency`` and ``path``.
3. **One function per bucket**, generated like :mod:`framework.fql.compile` does for a single
   trigger (the same expression writer, every literal a constant), returns the indexes of the
   triggers that hold, in ascending order.

Correctness rests on one rule: a leaf is decided in a bucket only by evaluating that very leaf,
compiled by the same compiler, on an event holding the bucket's value at the leaf's path and
nothing else (a leaf reads only its own path). The "none of the keys" bucket decides only
leaves whose compiled test is plainly an equality with a key (``=``/``!=`` a string,
``in``/``not in`` a list of strings, ``match`` without a star). So whatever the tree means,
Segment's quirks included (they live in the tree the parser built), the index gives exactly
what ``trigger.matches`` gives, trigger by trigger.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from framework.fql.ast import EACH, And, Comparison, Membership, Node, Not, Or, Step, TextMatch
from framework.fql.compile import ExpressionWriter, compile_tree, runtime_namespace
from framework.fql.trigger import Trigger

__all__ = ["TriggerIndex", "cached_index"]

Residual: TypeAlias = "Node | bool"
"""What is left of a trigger in a bucket: a smaller tree, or already decided."""

Entries: TypeAlias = tuple[tuple[int, Residual], ...]

_MAX_DEPTH: Final = 3
"""How many dispatches an event goes through at most before its bucket's tests."""
_MAX_KEYS: Final = 64
"""A path tested against more distinct strings than this is not dispatched on."""
_BUDGET: Final = 4000
"""The most trigger tests all buckets together may hold (each dispatch copies the rest)."""
_PathKey: TypeAlias = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class _Dispatch:
    path: _PathKey
    keys: frozenset[str]


class TriggerIndex:
    """Several triggers evaluated together; :meth:`matching` gives which of them hold.

    ``TriggerIndex(triggers).matching(event)`` equals
    ``[i for i, t in enumerate(triggers) if t.matches(event)]`` for every event, and never
    raises. Build it once (it compiles code), then call :meth:`matching` per event.
    """

    __slots__ = ("__dict__", "_count", "_source")

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self._count = len(triggers)
        builder = _Builder()
        entries: Entries = tuple((i, trigger.tree) for i, trigger in enumerate(triggers))
        root = builder.build(entries, 0)
        match, self._source = builder.finish(root)
        # The hot path: the instance attribute shadows the method (no wrapper frame).
        self.__dict__["matching"] = match

    def __len__(self) -> int:
        return self._count

    def matching(self, event: object) -> list[int]:
        """The indexes of the triggers that ``event`` satisfies, ascending (a new list).

        Anything that is not a ``dict`` satisfies none. (Each instance replaces this method
        with its generated function, which does exactly this.)
        """
        match: Callable[[object], list[int]] = self.__dict__["matching"]
        return match(event)

    @property
    def source(self) -> str:
        """The generated Python source, for reading and debugging."""
        return self._source


# ---------------------------------------------------------------------------------------------
# Deciding leaves


def _leaves(node: Node) -> list[Node]:
    if isinstance(node, And | Or):
        return [leaf for operand in node.operands for leaf in _leaves(operand)]
    if isinstance(node, Not):
        return _leaves(node.operand)
    return [node]


def _leaf_path(leaf: Node) -> _PathKey:
    if isinstance(leaf, Comparison | Membership | TextMatch):
        return leaf.field.path
    raise TypeError(f"not a leaf: {leaf!r}")


def _equality_strings(leaf: Node) -> frozenset[str] | None:
    """The strings a leaf compares its value with for equality, when that is all it does.

    These are the leaves a dispatch on their path decides outright, and the only ones the
    "none of the keys" bucket may decide.
    """
    if isinstance(leaf, Comparison):
        if leaf.value.kind == "string" and leaf.op in ("=", "!="):
            return frozenset((str(leaf.value.value),))
    elif isinstance(leaf, Membership):
        if leaf.values and all(value.kind == "string" for value in leaf.values):
            return frozenset(str(value.value) for value in leaf.values)
    elif isinstance(leaf, TextMatch) and leaf.kind == "equals" and not leaf.negated:
        return frozenset(leaf.parts[:1])
    return None


def _outside_keys(leaf: Node, keys: frozenset[str]) -> bool | None:
    """The leaf's value when its path holds no string among ``keys``, or None if unknown.

    Mirrors the compiled tests: ``= "k"`` needs a string equal to k (false), ``!= "k"`` is its
    negation (true); ``in`` needs a string in the list; ``match(f, "k")`` needs f == "k".
    """
    strings = _equality_strings(leaf)
    if strings is None or not strings <= keys:
        return None
    if isinstance(leaf, Comparison):
        return leaf.op == "!="
    if isinstance(leaf, Membership):
        return leaf.negated
    return False


def _synthetic_event(path: _PathKey, value: str) -> dict[str, Any]:
    event: Any = value
    for step in reversed(path):
        event = {step: event}
    result: dict[str, Any] = event
    return result


def _simplify(node: Node, decide: Callable[[Node], bool | None]) -> Residual:
    """``node`` with the leaves ``decide`` knows replaced by their value, then folded."""
    if isinstance(node, Not):
        inner = _simplify(node.operand, decide)
        if isinstance(inner, bool):
            return not inner
        return node if inner is node.operand else Not(inner, node.column)
    if isinstance(node, And | Or):
        absorbing = isinstance(node, Or)  # true decides an Or, false decides an And
        kept: list[Node] = []
        for operand in node.operands:
            part = _simplify(operand, decide)
            if part is absorbing:
                return absorbing
            if not isinstance(part, bool):
                kept.append(part)
        if not kept:
            return not absorbing
        if len(kept) == 1:
            return kept[0]
        return type(node)(tuple(kept))
    known = decide(node)
    return node if known is None else known


# ---------------------------------------------------------------------------------------------
# Building


class _Builder:
    """Chooses the dispatches and writes one module of functions for the whole index."""

    def __init__(self) -> None:
        self.writer = ExpressionWriter()
        self.functions: list[str] = []
        self.tables: dict[str, dict[str, str]] = {}
        self.memo: dict[Entries, str] = {}
        self.budget = _BUDGET
        self._leaf_tests: dict[Node, Callable[[object], bool]] = {}

    # -- choosing --------------------------------------------------------------------------

    def _choose(self, entries: Entries) -> _Dispatch | None:
        votes: Counter[_PathKey] = Counter()
        keys: dict[_PathKey, set[str]] = {}
        for _, residual in entries:
            if isinstance(residual, bool):
                continue
            seen: set[_PathKey] = set()
            for leaf in _leaves(residual):
                strings = _equality_strings(leaf)
                path = _leaf_path(leaf)
                if strings is None or not all(isinstance(step, str) for step in path):
                    continue
                keys.setdefault(path, set()).update(strings)
                if path not in seen:
                    seen.add(path)
                    votes[path] += 1
        for path, count in votes.most_common():
            if count < 2:
                return None
            if len(keys[path]) <= _MAX_KEYS:
                return _Dispatch(path, frozenset(keys[path]))
        return None

    def _decide_key(self, path: _PathKey, value: str) -> Callable[[Node], bool | None]:
        event = _synthetic_event(path, value)

        def decide(leaf: Node) -> bool | None:
            if _leaf_path(leaf) != path:
                return None
            test = self._leaf_tests.get(leaf)
            if test is None:
                test = self._leaf_tests[leaf] = compile_tree(leaf)
            return test(event)

        return decide

    # -- writing ---------------------------------------------------------------------------

    def build(self, entries: Entries, depth: int) -> str:
        """The name of the function giving the matching indexes for ``entries``."""
        entries = tuple((i, r) for i, r in entries if r is not False)
        known = self.memo.get(entries)
        if known is not None:
            return known
        dispatch = self._choose(entries) if depth < _MAX_DEPTH else None
        if dispatch is not None:
            buckets = {
                key: tuple(
                    (
                        i,
                        r
                        if isinstance(r, bool)
                        else _simplify(r, self._decide_key(dispatch.path, key)),
                    )
                    for i, r in entries
                )
                for key in sorted(dispatch.keys)
            }

            def outside(leaf: Node) -> bool | None:
                if _leaf_path(leaf) != dispatch.path:
                    return None
                return _outside_keys(leaf, dispatch.keys)

            other = tuple(
                (i, r if isinstance(r, bool) else _simplify(r, outside)) for i, r in entries
            )
            cost = sum(
                1 for bucket in (*buckets.values(), other) for _, r in bucket if r is not True
            )
            if cost <= self.budget:
                self.budget -= cost
                name = self._write_dispatch(dispatch, buckets, other, depth)
                self.memo[entries] = name
                return name
        name = self._write_tests(entries)
        self.memo[entries] = name
        return name

    def _write_dispatch(
        self, dispatch: _Dispatch, buckets: dict[str, Entries], other: Entries, depth: int
    ) -> str:
        targets = {key: self.build(bucket, depth + 1) for key, bucket in buckets.items()}
        fallback = self.build(other, depth + 1)
        table = f"t{len(self.tables)}"
        self.tables[table] = {key: target for key, target in targets.items() if target != fallback}
        name = f"n{len(self.functions)}"
        self.writer.hoisted = {}
        read = self.writer.read(dispatch.path)
        self.functions.append(
            f"def {name}(e):\n"
            f"    if type(k := {read}) is str:\n"
            f"        return {table}.get(k, {fallback})(e)\n"
            f"    return {fallback}(e)\n"
        )
        return name

    def _write_tests(self, entries: Entries) -> str:
        name = f"n{len(self.functions)}"
        tests = [(i, r) for i, r in entries if not isinstance(r, bool)]
        if not tests:
            self.functions.append(f"def {name}(e):\n    return {[i for i, _ in entries]!r}\n")
            return name
        lines = [f"def {name}(e):"]
        self.writer.hoisted = {}
        for number, path in enumerate(_shared_prefixes(tests)):
            local = f"h{number}"
            lines.append(f"    {local} = {self.writer.read(path)}")
            self.writer.hoisted[path] = local
        lines.append("    r = []")
        for i, residual in entries:
            if residual is True:
                lines.append(f"    r.append({i})")
            elif not isinstance(residual, bool):
                lines.append(f"    if {self.writer.node(residual)}:")
                lines.append(f"        r.append({i})")
        lines.append("    return r")
        self.functions.append("\n".join(lines) + "\n")
        return name

    def finish(self, root: str) -> tuple[Callable[[object], list[int]], str]:
        """Compile every function; return the entry point and the whole source."""
        entry = (
            "def matching(e):\n"
            "    if type(e) is not dict:\n"
            "        return []\n"
            f"    return {root}(e)\n"
        )
        source = "".join(self.functions) + entry
        namespace = runtime_namespace(self.writer.constants)
        namespace.update({table: {} for table in self.tables})
        exec(compile(source, "<trigger index>", "exec"), namespace)
        for table, targets in self.tables.items():
            namespace[table].update({key: namespace[target] for key, target in targets.items()})
        match: Callable[[object], list[int]] = namespace["matching"]
        return match, source


def _shared_prefixes(tests: Sequence[tuple[int, Residual]]) -> list[_PathKey]:
    """Paths (or prefixes of paths) that two or more leaves read, shortest first.

    A prefix is left out when one longer shared path is read exactly as often (reading it
    would only feed that one).
    """
    counts: Counter[_PathKey] = Counter()
    for _, residual in tests:
        if isinstance(residual, bool):
            continue
        for leaf in _leaves(residual):
            path = _leaf_path(leaf)
            if EACH in path:  # a [*] path reads many values: share only what comes before
                path = path[: path.index(EACH)]
            for length in range(1, len(path) + 1):
                counts[path[:length]] += 1
    shared = {path: count for path, count in counts.items() if count >= 2}
    chosen = [
        path
        for path, count in shared.items()
        if not any(
            len(other) > len(path) and other[: len(path)] == path and shared[other] == count
            for other in shared
        )
    ]
    return sorted(chosen, key=len)


# ---------------------------------------------------------------------------------------------
# One index per owner


_CACHE_SIZE: Final = 1024
_cache: dict[int, tuple[object, TriggerIndex]] = {}
_cache_lock = threading.Lock()


def cached_index(owner: object, triggers: Callable[[], Sequence[Trigger]]) -> TriggerIndex:
    """The index of ``triggers()``, built on the first call for ``owner`` and kept.

    ``owner`` is the immutable object the triggers belong to (an instance's tuple of
    subscriptions), recognised by identity: the cache holds it, so its id is never reused
    while its index is kept. At most 1,024 owners are kept; the oldest goes first.
    """
    entry = _cache.get(id(owner))
    if entry is not None and entry[0] is owner:
        return entry[1]
    index = TriggerIndex(triggers())
    with _cache_lock:
        while len(_cache) >= _CACHE_SIZE:
            del _cache[next(iter(_cache))]
        _cache[id(owner)] = (owner, index)
    return index
