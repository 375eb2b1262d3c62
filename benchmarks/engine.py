"""Engine benchmark: our triggers and mappings on the peer's workload, beside Segment's own.

    python benchmarks/engine.py [--n 20000] [--seed 42] [--warmup 3] [--passes 5] [--no-peer]

It follows the peer's ``bench.js`` step for step. The workload is built in memory by the port
(not timed), the 10 FQL strings are parsed and the 10 mappings compiled once (not timed), then
come the warm-up passes and the timed passes. One pass evaluates every trigger on every event
and resolves the mapping of each match. One more pass runs the triggers alone.

When Node and the peer are installed (see ``scripts/peer.sh``), the same run writes the
workload to a temporary file, runs ``bench.js`` on it with the same pass counts, and compares
each event's matches and outputs with Segment's. The last line is always
``ratio_vs_segment: R``: our events per second over Segment's. The exit status is 1 when any
output differs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

if not __package__:
    # Run as a script (`python benchmarks/engine.py`): make the project root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peer import PeerError, find_peer, run_node
from benchmarks.workload import SUBSCRIPTIONS, JsonValue, generate_workload, render_workload
from framework import ActionkitError, compile_mapping, parse_trigger

__all__ = [
    "INSTANCE_SIZE",
    "EventResult",
    "PassResult",
    "instance_subscriptions",
    "js_equal",
    "main",
    "run_pass",
]

_SHOWN_MISMATCHES: Final = 10
_SHOWN_DIFFERENCES: Final = 8

INSTANCE_SIZE: Final = 50
"""Subscriptions in the instance mode: the cap on one instance's mappings."""

# The instance mode's variants of the workload's 10 FQL strings: the same shapes with other
# event types, names, thresholds, currencies, paths and platforms, each written so that
# Segment's parser reads it as ours does (one level of parentheses, one kind of keyword per
# group).
_VARIANTS: Final[tuple[str, ...]] = (
    *(f'type = "{kind}"' for kind in ("page", "identify", "group", "alias")),
    *(
        f'type = "track" and event = "{name}"'
        for name in (
            "Product Viewed",
            "Product Added",
            "Checkout Started",
            "Order Refunded",
            "Signed Up",
            "Button Clicked",
            "Test Event",
            "Video Playback Started",
            "Order Updated (Test)",
        )
    ),
    'type = "page" or type = "identify"',
    'type = "alias" or type = "group"',
    *(f"properties.revenue > {amount}" for amount in (50, 200, 500)),
    *(f'contains(event, "{word}")' for word in ("Product", "Test", "Started")),
    'context.device.type = "android" and !contains(event, "Test")',
    'context.device.type = "ios" and !contains(event, "Order")',
    'type = "page" and match(properties.path, "/blog*")',
    'type = "page" and match(properties.url, "*/pricing")',
    'type = "track" and match(properties.path, "/docs*")',
    'type = "identify" and traits.email = null',
    'type = "identify" and userId != null',
    'type = "identify" and traits.plan = "enterprise"',
    '(type = "track" and properties.currency = "USD") or type = "alias"',
    '(type = "track" and properties.currency = "GBP") or type = "page"',
    '(type = "page" and name = "Docs") or type = "group"',
    'type = "group" and traits.employees >= 1000',
    'type = "group" and traits.employees < 50',
    'type = "group" and traits.industry = "Retail"',
    'event = "Signed Up"',
    'type != "track"',
    "userId = null",
    'context.locale = "fr-FR"',
    'type = "track" and properties.revenue > 100',
)


def instance_subscriptions() -> list[tuple[str, str]]:
    """The instance mode's 50 subscriptions, ``(id, fql)``: the workload's 10, then variants.

    Deterministic: the same list on every run, so both engines evaluate the same triggers.
    """
    fql = [str(sub["fql"]) for sub in SUBSCRIPTIONS] + list(_VARIANTS)
    if len(fql) != INSTANCE_SIZE:
        raise RuntimeError(f"the instance mode has {len(fql)} subscriptions, not 50")
    return [(f"i{number:02d}", text) for number, text in enumerate(fql, start=1)]


Event = dict[str, JsonValue]
Check = tuple[Callable[[Event], bool], Callable[[Event], dict[str, JsonValue]]]


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one pass over the events counted: matches, resolve errors and output keys."""

    matches: int
    errors: int
    output_keys: int
    per_subscription: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EventResult:
    """One event's outcome: the ids of the subscriptions it matched and their outputs.

    An output that failed is ``{"__error__": message}``, as in the peer's dump.
    """

    matched: tuple[str, ...]
    outputs: tuple[JsonValue, ...]


def run_pass(events: Sequence[Event], checks: Sequence[Check]) -> PassResult:
    """Evaluate every trigger on every event and resolve the mapping of each match."""
    matches = errors = output_keys = 0
    per_subscription = [0] * len(checks)
    numbered = tuple(enumerate(checks))
    for event in events:
        for index, (matches_event, resolve) in numbered:
            if matches_event(event):
                matches += 1
                per_subscription[index] += 1
                try:
                    output_keys += len(resolve(event))
                except ActionkitError:
                    # bench.js counts a failed transform and goes on; so do we.
                    errors += 1
    return PassResult(matches, errors, output_keys, tuple(per_subscription))


def _fql_only_pass(events: Sequence[Event], checks: Sequence[Check]) -> int:
    triggers = tuple(matches_event for matches_event, _ in checks)
    return sum(1 for event in events for matches_event in triggers if matches_event(event))


def _results(
    events: Sequence[Event], ids: Sequence[str], checks: Sequence[Check]
) -> list[EventResult]:
    results: list[EventResult] = []
    for event in events:
        matched: list[str] = []
        outputs: list[JsonValue] = []
        for sub_id, (matches_event, resolve) in zip(ids, checks, strict=True):
            if matches_event(event):
                matched.append(sub_id)
                try:
                    outputs.append(resolve(event))
                except ActionkitError as exc:
                    outputs.append({"__error__": str(exc)})
        results.append(EventResult(tuple(matched), tuple(outputs)))
    return results


# ---------------------------------------------------------------------------------------------
# Comparing with Segment's dump


def js_equal(segment: object, ours: object) -> bool:
    """Whether two JSON values are equal as JavaScript values would be.

    Numbers compare by value (``1 == 1.0``), booleans are not numbers, object key order does
    not matter, and both sides having failed counts as equal (the messages differ by design).
    """
    return not _differences(segment, ours, "", limit=1)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_error(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"__error__"}


def _differences(segment: object, ours: object, pointer: str, limit: int) -> list[str]:
    """Where the two values differ, as ``pointer: segment X, ours Y`` lines (at most limit)."""
    if _is_number(segment) and _is_number(ours):
        same = segment == ours
    elif _is_error(segment) or _is_error(ours):
        same = _is_error(segment) and _is_error(ours)
    elif isinstance(segment, dict) and isinstance(ours, dict):
        found: list[str] = []
        for key in list(segment) + [k for k in ours if k not in segment]:
            if len(found) >= limit:
                break
            where = f"{pointer}/{key}"
            if key not in ours:
                found.append(f"{where}: segment {_show(segment[key])}, ours has no such key")
            elif key not in segment:
                found.append(f"{where}: segment has no such key, ours {_show(ours[key])}")
            else:
                found += _differences(segment[key], ours[key], where, limit - len(found))
        return found
    elif isinstance(segment, list) and isinstance(ours, list | tuple):
        if len(segment) != len(ours):
            return [f"{pointer or '/'}: segment {_show(segment)}, ours {_show(list(ours))}"]
        found = []
        for index, (theirs, mine) in enumerate(zip(segment, ours, strict=True)):
            if len(found) >= limit:
                break
            found += _differences(theirs, mine, f"{pointer}/{index}", limit - len(found))
        return found
    else:
        same = type(segment) is type(ours) and segment == ours
    return [] if same else [f"{pointer or '/'}: segment {_show(segment)}, ours {_show(ours)}"]


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True, slots=True)
class _Mismatch:
    index: int
    sub_id: str
    differences: tuple[str, ...]


def _compare(dump: Path, ours: Sequence[EventResult]) -> tuple[int, list[_Mismatch]]:
    """Compare the peer's ``--dump`` lines with our results: (events compared, mismatches)."""
    mismatches: list[_Mismatch] = []
    compared = 0
    with dump.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            index = record["i"]
            compared += 1
            if index >= len(ours):
                mismatches.append(_Mismatch(index, "-", ("segment has an event we do not",)))
                continue
            mine = ours[index]
            theirs = dict(zip(record["matched"], record["outputs"], strict=True))
            outputs = dict(zip(mine.matched, mine.outputs, strict=True))
            for sub_id in sorted(theirs.keys() - outputs.keys()):
                mismatches.append(_Mismatch(index, sub_id, ("matched by Segment, not by us",)))
            for sub_id in sorted(outputs.keys() - theirs.keys()):
                mismatches.append(_Mismatch(index, sub_id, ("matched by us, not by Segment",)))
            for sub_id, output in outputs.items():
                if sub_id in theirs:
                    found = _differences(theirs[sub_id], output, "", _SHOWN_DIFFERENCES)
                    if found:
                        mismatches.append(_Mismatch(index, sub_id, tuple(found)))
    if compared != len(ours):
        mismatches.append(_Mismatch(compared, "-", (f"segment dumped {compared} events",)))
    return compared, mismatches


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True, slots=True)
class _Timing:
    pass_seconds: tuple[float, ...]
    fql_only_seconds: float
    fql_only_matches: int
    result: PassResult

    @property
    def median(self) -> float:
        return statistics.median(self.pass_seconds)

    @property
    def fastest(self) -> float:
        return min(self.pass_seconds)


def _time_passes(
    events: Sequence[Event], checks: Sequence[Check], warmup: int, passes: int
) -> _Timing:
    for _ in range(warmup):
        run_pass(events, checks)
    pass_seconds: list[float] = []
    result = None
    for _ in range(max(1, passes)):
        start = time.perf_counter()
        result = run_pass(events, checks)
        pass_seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    fql_only_matches = _fql_only_pass(events, checks)
    fql_only_seconds = time.perf_counter() - start
    if result is None:  # unreachable: at least one pass runs; keeps the type checker honest
        raise RuntimeError("no timed pass ran")
    return _Timing(tuple(pass_seconds), fql_only_seconds, fql_only_matches, result)


def _print_ours(timing: _Timing, ids: Sequence[str], n_events: int) -> None:
    result = timing.result
    per_sub = ", ".join(
        f"{sub_id.split('_', 1)[0]} {count}"
        for sub_id, count in zip(ids, result.per_subscription, strict=True)
    )
    evaluations = n_events * len(ids)
    print(
        f"matches per pass: {result.matches:,} (resolve errors {result.errors}, "
        f"output keys {result.output_keys:,})"
    )
    print(f"matches per subscription: {per_sub}")
    print("timed passes (s): " + " ".join(f"{s:.4f}" for s in timing.pass_seconds))
    print(f"median pass: {timing.median:.4f} s, fastest: {timing.fastest:.4f} s")
    rate, best = n_events / timing.median, n_events / timing.fastest
    print(
        f"events/s: {rate:,.0f} (fastest pass {best:,.0f}), "
        f"trigger evaluations/s: {evaluations / timing.median:,.0f}"
    )
    share = timing.fql_only_seconds / timing.median if timing.median else 0.0
    print(
        f"FQL-only pass: {timing.fql_only_seconds:.4f} s ({timing.fql_only_matches:,} matches, "
        f"{share:.0%} of a full pass)"
    )


def _run_peer(
    peer: Path, workload_text: str, warmup: int, passes: int, ours: Sequence[EventResult]
) -> tuple[dict[str, JsonValue], int, list[_Mismatch]]:
    with tempfile.TemporaryDirectory(prefix="actionkit-bench-") as scratch:
        workload_file = Path(scratch) / "workload.json"
        dump_file = Path(scratch) / "dump.jsonl"
        workload_file.write_bytes(workload_text.encode("utf-8"))
        done = run_node(
            peer,
            "bench.js",
            "--workload",
            str(workload_file),
            "--warmup",
            str(warmup),
            "--passes",
            str(passes),
            "--dump",
            str(dump_file),
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        compared, mismatches = _compare(dump_file, ours)
    return figures, compared, mismatches


def _print_mismatches(compared: int, outputs: int, mismatches: Sequence[_Mismatch]) -> None:
    events = len({m.index for m in mismatches})
    print(
        f"differential: {compared:,} events ({outputs:,} outputs) compared with Segment's, "
        f"{len(mismatches)} mismatching outputs in {events} events"
    )
    first: dict[str, _Mismatch] = {}
    counts: dict[str, int] = {}
    for mismatch in mismatches:
        first.setdefault(mismatch.sub_id, mismatch)
        counts[mismatch.sub_id] = counts.get(mismatch.sub_id, 0) + 1
    # The first mismatch of each subscription says more than the first few of one.
    for sub_id in sorted(first)[:_SHOWN_MISMATCHES]:
        mismatch = first[sub_id]
        print(f"  {sub_id}: {counts[sub_id]} mismatches; first at event {mismatch.index}:")
        for line in mismatch.differences:
            print(f"    {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures; return 1 if our outputs differ from Segment's."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/engine.py",
        description="Time actionkit's triggers and mappings on the peer's workload.",
    )
    parser.add_argument("--n", type=int, default=20000, help="events (default 20000)")
    parser.add_argument("--seed", type=int, default=42, help="workload seed (default 42)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed passes (default 3)")
    parser.add_argument("--passes", type=int, default=5, help="timed passes (default 5)")
    parser.add_argument("--no-peer", action="store_true", help="do not run Segment's bench.js")
    args = parser.parse_args(argv)
    if args.n < 0 or args.warmup < 0 or args.passes < 1:
        parser.error("--n and --warmup must be >= 0 and --passes >= 1")

    start = time.perf_counter()
    workload = generate_workload(args.n, args.seed)
    events: list[Event] = [e for e in _as_list(workload["events"]) if isinstance(e, dict)]
    subscriptions = [s for s in _as_list(workload["subscriptions"]) if isinstance(s, dict)]
    built = time.perf_counter() - start
    ids = [str(s["id"]) for s in subscriptions]
    checks: list[Check] = []
    for subscription in subscriptions:
        fql, mapping = subscription["fql"], subscription["mapping"]
        if not isinstance(fql, str) or not isinstance(mapping, dict):
            raise TypeError(f"subscription {subscription['id']} has no FQL string or mapping")
        checks.append((parse_trigger(fql).matches, compile_mapping(mapping).resolve))
    # Written before any pass runs, so Segment gets the events exactly as generated.
    peer = None if args.no_peer else find_peer()
    text = render_workload(workload) if peer is not None else ""

    print(
        f"actionkit engine benchmark: Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    print(
        f"workload: {len(events):,} events (seed {args.seed}), {len(ids)} subscriptions, "
        f"built in {built:.2f} s (not timed); {args.warmup} warm-up + {args.passes} timed passes"
    )
    timing = _time_passes(events, checks, args.warmup, args.passes)
    _print_ours(timing, ids, len(events))

    if peer is None:
        if args.no_peer:
            print("Segment's bench.js not run (--no-peer)")
        else:
            print("Segment's peer is not set up: run scripts/peer.sh to compare with it")
        print("ratio_vs_segment: n/a (peer not available)")
        return 0
    ours = _results(events, ids, checks)
    try:
        figures, compared, mismatches = _run_peer(peer, text, args.warmup, args.passes, ours)
    except PeerError as exc:
        print(f"Segment's bench.js failed: {exc}")
        print("ratio_vs_segment: n/a (peer failed)")
        return 1
    theirs = figures["events_per_sec"]
    versions = figures.get("versions")
    print(
        f"segment: median pass {figures['seconds']} s, fastest {figures['seconds_min']} s, "
        f"events/s {theirs:,}, matches {figures['matches']:,}, "
        f"FQL-only pass {figures['fql_only_seconds']} s"
    )
    if isinstance(versions, dict):
        print("segment versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    outputs = sum(len(result.outputs) for result in ours)
    _print_mismatches(compared, outputs, mismatches)
    ratio = (len(events) / timing.median) / theirs if isinstance(theirs, int | float) else 0.0
    print(f"ratio_vs_segment: {ratio:.2f}")
    return 1 if mismatches else 0


def _as_list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise TypeError("the workload's events and subscriptions must be lists")
    return value


if __name__ == "__main__":
    sys.exit(main())
