"""Engine benchmark: our triggers and mappings on the peer's workload, beside Segment's own.

    python benchmarks/engine.py [--n 20000] [--seed 42] [--warmup 3] [--passes 7]
                                [--instance] [--no-peer]

It follows the peer's ``bench.js`` step for step. The workload is built in memory by the port
(not timed), the 10 FQL strings are parsed and indexed together (:class:`TriggerIndex`, as an
instance evaluates its subscriptions) and the 10 mappings compiled once (not timed). One pass
finds each event's matching subscriptions and resolves the mapping of each match. Our passes
are first timed alone (warm-up, then ``--passes`` passes), one more pass runs the triggers
alone.

``--instance`` adds the instance mode: 50 subscriptions in one instance (the cap), the
workload's 10 FQL strings and 40 variants of them (:func:`instance_subscriptions`), triggers
alone: ours through the instance's index, Segment's through ``validate`` on each.

When Node and the peer are installed (see ``scripts/peer.sh``):

1. the differential checks: ``bench.js --dump`` on the same workload, each event's matches and
   outputs compared with ours; in instance mode, each event's 50 matches too;
2. the ratios, in alternating rounds (``benchmarks/rounds.py``): ``segment_rounds.js`` keeps
   Segment's packages loaded in one Node process and runs one timed pass per request, so our
   pass and Segment's alternate ``--passes`` times on the same machine state, each pair gives
   a ratio of events per second, and the median is printed with its min and max.

The last lines are ``fql_ratio_vs_segment: R (min A, max B, N pairs)`` (instance mode only:
triggers alone on the 50 subscriptions), then ``ratio_vs_segment: R (...)`` (full passes on
the 10). The exit status is 1 when any match or output differs from Segment's.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if not __package__:
    # Run as a script (`python benchmarks/engine.py`): make the project root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peer import PeerError, find_peer, run_node
from benchmarks.rounds import PairedRatio, measure
from benchmarks.workload import SUBSCRIPTIONS, JsonValue, generate_workload, render_workload
from framework import ActionkitError, compile_mapping, parse_trigger
from framework.fql.index import TriggerIndex

__all__ = [
    "INSTANCE_SIZE",
    "Engine",
    "EventResult",
    "PassResult",
    "SegmentRounds",
    "fql_pass",
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
Resolve = Callable[[Event], dict[str, JsonValue]]


@dataclass(frozen=True, slots=True)
class Engine:
    """Our side: the subscriptions' triggers indexed together, and their compiled mappings."""

    ids: tuple[str, ...]
    index: TriggerIndex
    resolves: tuple[Resolve, ...]


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


def run_pass(events: Sequence[Event], engine: Engine) -> PassResult:
    """Find each event's matching subscriptions (the index) and resolve the mapping of each."""
    matches = errors = output_keys = 0
    per_subscription = [0] * len(engine.ids)
    matching = engine.index.matching
    resolves = engine.resolves
    for event in events:
        for index in matching(event):
            matches += 1
            per_subscription[index] += 1
            try:
                output_keys += len(resolves[index](event))
            except ActionkitError:
                # bench.js counts a failed transform and goes on; so do we.
                errors += 1
    return PassResult(matches, errors, output_keys, tuple(per_subscription))


def fql_pass(events: Sequence[Event], index: TriggerIndex) -> int:
    """Evaluate the index's triggers on every event; the number of matches."""
    matching = index.matching
    return sum([len(matching(event)) for event in events])


def _results(events: Sequence[Event], engine: Engine) -> list[EventResult]:
    results: list[EventResult] = []
    for event in events:
        matched: list[str] = []
        outputs: list[JsonValue] = []
        for index in engine.index.matching(event):
            matched.append(engine.ids[index])
            try:
                outputs.append(engine.resolves[index](event))
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
# Segment's rounds


class SegmentRounds:
    """Segment's packages in a Node process (``benchmarks/segment_rounds.js``), one pass per
    request: the workload loaded and the FQL parsed once, then timed passes on demand.

    Use it as a context manager; leaving it ends the process.
    """

    def __init__(self, peer: Path, workload: Path, instance: Path | None) -> None:
        command = [
            "node",
            str(Path(__file__).with_name("segment_rounds.js")),
            "--peer",
            str(peer),
            "--workload",
            str(workload),
        ]
        if instance is not None:
            command += ["--instance", str(instance)]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            raise PeerError(f"could not start {' '.join(command)}: {exc}") from exc
        ready = self._answer()
        versions = ready.get("versions")
        self.versions: dict[str, object] = versions if isinstance(versions, dict) else {}

    def __enter__(self) -> SegmentRounds:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the Node process (it exits when its input closes)."""
        process = self._process
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def request(self, name: str) -> dict[str, Any]:
        """Send one request (``full``, ``fql``, ``instance``, ``instance-matches``); its answer."""
        stdin = self._process.stdin
        if stdin is None:
            raise PeerError("segment_rounds.js has no input")
        try:
            stdin.write(name + "\n")
            stdin.flush()
        except OSError as exc:
            raise PeerError(f"segment_rounds.js stopped: {self._stderr()}") from exc
        answer = self._answer()
        if "error" in answer:
            raise PeerError(f"segment_rounds.js: {answer['error']}")
        return answer

    def _answer(self) -> dict[str, Any]:
        stdout = self._process.stdout
        line = stdout.readline() if stdout is not None else ""
        if not line:
            raise PeerError(f"segment_rounds.js stopped: {self._stderr()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _stderr(self) -> str:
        self._process.wait(timeout=10)
        stderr = self._process.stderr
        return stderr.read().strip() if stderr is not None else ""


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


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _time_passes(events: Sequence[Event], engine: Engine, warmup: int, passes: int) -> _Timing:
    for _ in range(warmup):
        run_pass(events, engine)
    pass_seconds: list[float] = []
    results: list[PassResult] = []
    for _ in range(max(1, passes)):
        start = time.perf_counter()
        results.append(run_pass(events, engine))
        pass_seconds.append(time.perf_counter() - start)
    result = results[-1]
    start = time.perf_counter()
    fql_only_matches = fql_pass(events, engine.index)
    fql_only_seconds = time.perf_counter() - start
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
    print("ours alone, timed passes (s): " + " ".join(f"{s:.4f}" for s in timing.pass_seconds))
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


def _run_peer_dump(
    peer: Path, workload_file: Path, ours: Sequence[EventResult]
) -> tuple[int, list[_Mismatch]]:
    """bench.js's ``--dump`` of every event's matches and outputs, compared with ours."""
    dump_file = workload_file.with_name("dump.jsonl")
    run_node(
        peer,
        "bench.js",
        "--workload",
        str(workload_file),
        "--warmup",
        "0",
        "--passes",
        "1",
        "--dump",
        str(dump_file),
    )
    return _compare(dump_file, ours)


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


def _instance_mismatches(
    events: Sequence[Event], index: TriggerIndex, segment: Sequence[Sequence[int]]
) -> list[int]:
    """The events whose instance matches differ from Segment's (index order)."""
    if len(segment) != len(events):
        return [min(len(segment), len(events))]
    return [
        number
        for number, (event, theirs) in enumerate(zip(events, segment, strict=True))
        if index.matching(event) != list(theirs)
    ]


def _paired(
    label: str,
    n_events: int,
    ours: Callable[[], object],
    segment: SegmentRounds,
    request: str,
    rounds: int,
) -> PairedRatio:
    """Alternate our pass and Segment's ``rounds`` times; events per second on each side."""
    ratio = measure(
        lambda: n_events / _timed(ours),
        lambda: n_events / float(segment.request(request)["seconds"]),
        rounds=rounds,
    )
    print(
        f"{label}: events/s ours "
        + " ".join(f"{rate:,.0f}" for rate in ratio.ours)
        + ", Segment's "
        + " ".join(f"{rate:,.0f}" for rate in ratio.theirs)
    )
    return ratio


def _build_engine(subscriptions: Sequence[dict[str, JsonValue]]) -> Engine:
    ids: list[str] = []
    triggers = []
    resolves: list[Resolve] = []
    for subscription in subscriptions:
        fql, mapping = subscription["fql"], subscription["mapping"]
        if not isinstance(fql, str) or not isinstance(mapping, dict):
            raise TypeError(f"subscription {subscription['id']} has no FQL string or mapping")
        ids.append(str(subscription["id"]))
        triggers.append(parse_trigger(fql))
        resolves.append(compile_mapping(mapping).resolve)
    return Engine(tuple(ids), TriggerIndex(triggers), tuple(resolves))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures; return 1 if our outputs differ from Segment's."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/engine.py",
        description="Time actionkit's triggers and mappings on the peer's workload.",
    )
    parser.add_argument("--n", type=int, default=20000, help="events (default 20000)")
    parser.add_argument("--seed", type=int, default=42, help="workload seed (default 42)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed passes (default 3)")
    parser.add_argument(
        "--passes", type=int, default=7, help="timed passes, and pairs of rounds (default 7)"
    )
    parser.add_argument(
        "--instance",
        action="store_true",
        help="also the 50-subscription instance: triggers alone, ours indexed, Segment's each",
    )
    parser.add_argument("--no-peer", action="store_true", help="do not run Segment's side")
    args = parser.parse_args(argv)
    if args.n < 0 or args.warmup < 0 or args.passes < 1:
        parser.error("--n and --warmup must be >= 0 and --passes >= 1")

    start = time.perf_counter()
    workload = generate_workload(args.n, args.seed)
    events: list[Event] = [e for e in _as_list(workload["events"]) if isinstance(e, dict)]
    subscriptions = [s for s in _as_list(workload["subscriptions"]) if isinstance(s, dict)]
    built = time.perf_counter() - start
    engine = _build_engine(subscriptions)
    instance_fql = instance_subscriptions()
    instance = TriggerIndex([parse_trigger(fql) for _, fql in instance_fql])
    # Rendered before any pass runs, so Segment gets the events exactly as generated.
    peer = None if args.no_peer else find_peer()
    text = render_workload(workload) if peer is not None else ""

    print(
        f"actionkit engine benchmark: Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    print(
        f"workload: {len(events):,} events (seed {args.seed}), {len(engine.ids)} subscriptions, "
        f"built in {built:.2f} s (not timed); {args.warmup} warm-up + {args.passes} timed passes"
    )
    timing = _time_passes(events, engine, args.warmup, args.passes)
    _print_ours(timing, engine.ids, len(events))
    if args.instance:
        instance_seconds = [_timed(lambda: fql_pass(events, instance)) for _ in range(3)]
        print(
            f"instance of {INSTANCE_SIZE}: {fql_pass(events, instance):,} matches, "
            f"median FQL pass {statistics.median(instance_seconds):.4f} s"
        )

    if peer is None:
        why = "--no-peer" if args.no_peer else "peer not set up: run scripts/peer.sh"
        if args.instance:
            print(f"fql_ratio_vs_segment: n/a ({why})")
        print(f"ratio_vs_segment: n/a ({why})")
        return 0
    try:
        return _against_segment(args, peer, text, events, engine, instance)
    except PeerError as exc:
        print(f"Segment's side failed: {exc}")
        if args.instance:
            print("fql_ratio_vs_segment: n/a (peer failed)")
        print("ratio_vs_segment: n/a (peer failed)")
        return 1


def _against_segment(
    args: argparse.Namespace,
    peer: Path,
    text: str,
    events: Sequence[Event],
    engine: Engine,
    instance: TriggerIndex,
) -> int:
    """The differential checks, then the alternating rounds; the exit status."""
    n_events = len(events)
    with tempfile.TemporaryDirectory(prefix="actionkit-bench-") as scratch:
        workload_file = Path(scratch) / "workload.json"
        workload_file.write_bytes(text.encode("utf-8"))
        instance_file = Path(scratch) / "instance.json"
        listed = [{"id": sub_id, "fql": fql} for sub_id, fql in instance_subscriptions()]
        instance_file.write_text(json.dumps(listed), encoding="utf-8")
        ours = _results(events, engine)
        compared, mismatches = _run_peer_dump(peer, workload_file, ours)
        outputs = sum(len(result.outputs) for result in ours)
        _print_mismatches(compared, outputs, mismatches)
        with SegmentRounds(peer, workload_file, instance_file) as segment:
            print("segment versions: " + ", ".join(f"{k} {v}" for k, v in segment.versions.items()))
            failed = bool(mismatches)
            fql_ratio = None
            if args.instance:
                matched = segment.request("instance-matches")["matched"]
                differing = _instance_mismatches(events, instance, matched)
                print(
                    f"instance of {INSTANCE_SIZE}: {n_events:,} events' matches compared with "
                    f"Segment's, {len(differing)} differ"
                    + (f" (first at event {differing[0]})" if differing else "")
                )
                failed = failed or bool(differing)
                for _ in range(args.warmup):
                    segment.request("instance")
                fql_ratio = _paired(
                    f"instance of {INSTANCE_SIZE}, triggers alone",
                    n_events,
                    lambda: fql_pass(events, instance),
                    segment,
                    "instance",
                    args.passes,
                )
            for _ in range(args.warmup):
                segment.request("full")
            ratio = _paired(
                "full passes",
                n_events,
                lambda: run_pass(events, engine),
                segment,
                "full",
                args.passes,
            )
    if fql_ratio is not None:
        print(fql_ratio.line("fql_ratio_vs_segment"))
    print(ratio.line("ratio_vs_segment"))
    return 1 if failed else 0


def _as_list(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise TypeError("the workload's events and subscriptions must be lists")
    return value


if __name__ == "__main__":
    sys.exit(main())
