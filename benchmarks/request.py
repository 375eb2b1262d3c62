"""Request building: a template bound to an instance's settings once, against rendering it all.

    python benchmarks/request.py [--rounds 7] [--repeat 20]

An instance binds each action's request template to its settings when it loads
(:mod:`framework.definitions.bound`), so that per event only the parts that read the payload
render; :meth:`RequestBuilder.build` renders every part for every event. The workload: the
example events (``examples/events.jsonl``) planned through two instances, the shipped
Contentstack example (``examples/contentstack.yaml``: URLs of a base setting and a path,
headers of settings, a user header from the payload) and a Webhook instance with every form
(a method setting, a headers object, a shared secret that signs each body, a batch size).
Each ready plan gives an action and its validated payload (not timed). One round builds every
payload ``--repeat`` times, ours through the instance's bound requests, the baseline through
the unbound builder with the same settings; both give the same requests (checked first).

The same is then measured on the whole of ``Instance.plan`` (the event check, the triggers,
the mappings, payload validation and the request), with a copy of each instance whose bound
requests are replaced by the unbound builder: ``plan_ratio_vs_unbound``, what binding gives
an instance's planning.

Rounds alternate (``benchmarks/rounds.py``); the last line is ``ratio_vs_unbound: R (min A,
max B, N pairs)``, our builds per second over the unbound builds', per pair of rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

if not __package__:
    # Run as a script (`python benchmarks/request.py`): make the project root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rounds import measure
from framework import ActionkitError, load_instance
from framework.definitions.bound import BoundRequest
from framework.definitions.instance import Instance
from framework.definitions.request import RequestBuilder

__all__ = ["Build", "builds", "main"]

ROOT = Path(__file__).resolve().parents[1]

Build = tuple[BoundRequest, RequestBuilder, Instance, dict[str, Any]]
"""One request to build: the bound request, its unbound builder, the instance, the payload."""


def _instances() -> list[Instance]:
    webhook = load_instance(
        {
            "destination": str(ROOT / "destinations" / "webhook"),
            "settings": {
                "url": "https://hooks.example.com/in",
                "method": "PUT",
                "headers": {"Authorization": "Bearer t0ken", "X-Source": "actionkit"},
                "sharedSecret": "shared-s3cret",
                "batchSize": 50,
            },
            "mappings": [
                {"name": "All", "action": "send", "trigger": 'type != "alias"'},
                {"name": "Tracks", "action": "sendBatch"},
            ],
        }
    )
    return [load_instance(ROOT / "examples" / "contentstack.yaml"), webhook]


def builds() -> list[Build]:
    """Every ready plan of the example events through both instances, as a build to time."""
    events = _events()
    found: list[Build] = []
    for instance in _instances():
        for event in events:
            try:
                plans = instance.plan(event)
            except ActionkitError:
                continue  # the example file holds invalid events, on purpose
            for plan in plans:
                if plan.status == "ready" and plan.payload is not None:
                    builder = instance.destination.actions[plan.action].request
                    bound = BoundRequest(builder, instance.settings, instance.secrets)
                    found.append((bound, builder, instance, plan.payload))
    return found


class _Unbound:
    """Stands in for a bound request: every build renders the whole template, as before."""

    def __init__(self, builder: RequestBuilder, instance: Instance) -> None:
        self._builder = builder
        self._settings = instance.settings
        self._secrets = instance.secrets

    def build(self, payload: Mapping[str, Any]) -> object:
        return self._builder.build(payload, self._settings, self._secrets)


def unbound_copy(instance: Instance) -> Instance:
    """``instance`` planning with unbound builds (the benchmark's baseline only: it replaces
    the instance's private table of bound requests)."""
    copy = dataclasses.replace(instance)
    table = {
        key: _Unbound(action.request, copy) for key, action in copy.destination.actions.items()
    }
    object.__setattr__(copy, "_requests", table)
    return copy


def _events() -> list[Any]:
    events = []
    for line in (ROOT / "examples" / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # the example file holds one line that is not JSON, on purpose
    return events


def _plan_rate(instances: list[Instance], events: list[Any], repeat: int) -> float:
    """Events planned per second (each instance plans each event ``repeat`` times)."""
    started = time.perf_counter()
    count = 0
    for _ in range(repeat):
        for instance in instances:
            for event in events:
                instance.plan(event)
                count += 1
    return count / (time.perf_counter() - started)


def _rate(work: list[Build], repeat: int, build: Callable[[Build], object]) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for item in work:
            build(item)
    return repeat * len(work) / (time.perf_counter() - started)


def _plan_ratio(instance: Instance, events: list[Any], args: argparse.Namespace) -> str:
    """``Instance.plan`` with bound requests over the same with unbound builds."""
    baseline = unbound_copy(instance)
    planned = []
    for event in events:
        try:
            ours = [plan.to_dict() for plan in instance.plan(event)]
        except ActionkitError:
            continue  # the example file holds invalid events, on purpose
        if ours != [plan.to_dict() for plan in baseline.plan(event)]:
            raise SystemExit("a bound plan differs from the unbound one")
        planned.append(event)
    repeat = max(1, args.repeat // 2)
    ratio = measure(
        lambda: _plan_rate([instance], planned, repeat),
        lambda: _plan_rate([baseline], planned, repeat),
        rounds=args.rounds,
    )
    return ratio.line(f"plan_ratio_vs_unbound[{instance.destination.slug}]")


def _build_ratio(work: list[Build], args: argparse.Namespace, name: str) -> str:
    """Builds per second, bound over unbound, of ``work``."""

    def ours(item: Build) -> object:
        return item[0].build(item[3])

    def unbound(item: Build) -> object:
        return item[1].build(item[3], item[2].settings, item[2].secrets)

    _rate(work, 2, ours)  # warm-up
    _rate(work, 2, unbound)
    ratio = measure(
        lambda: _rate(work, args.repeat, ours),
        lambda: _rate(work, args.repeat, unbound),
        rounds=args.rounds,
    )
    middle = len(ratio.ours) // 2
    return (
        f"{len(work)} requests, {sorted(ratio.ours)[middle]:,.0f} bound and "
        f"{sorted(ratio.theirs)[middle]:,.0f} unbound builds/s (median rounds)\n" + ratio.line(name)
    )


def main(argv: list[str] | None = None) -> int:
    """Check that both give the same requests, then time them in alternating rounds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    work = builds()
    for bound, builder, instance, payload in work:
        if not bound.bound:
            raise SystemExit("a request was left unbound: the example settings are invalid")
        if bound.build(payload) != builder.build(payload, instance.settings, instance.secrets):
            raise SystemExit("the bound request differs from the unbound one")
    events = _events()
    for instance in _instances():
        slug = instance.destination.slug
        print(_plan_ratio(instance, events, args))
        mine = [item for item in work if item[2].destination.slug == slug]
        print(_build_ratio(mine, args, f"ratio_vs_unbound[{slug}]"))
    print(_build_ratio(work, args, "ratio_vs_unbound"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
