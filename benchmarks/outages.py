"""Outage runs: real ``actionkit`` processes through faults, and what each run ended with.

    python benchmarks/outages.py [run|serve|redis|permanent ...]   (all four by default)

Each run starts the installed ``actionkit`` command (next to this interpreter) as child
processes, the Personalize Edge emulator in this process on loopback (every request logged),
plays the faults of issue 12 and prints one line of figures:

- ``run``: ``actionkit run examples/events.jsonl`` through 20 answers of 429 with
  ``Retry-After: 1``, 20 of 503, 10 dropped connections and a 30 s outage, against a clean
  ``--emulate`` run of the same file.
- ``serve``: ``actionkit serve`` (embedded queue), 10,000 generated events, a 60 s outage and a
  ``kill -9`` of the server half-way through it, then a restart.
- ``redis``: the same with ``actionkit serve --redis`` and 3 ``actionkit worker`` processes,
  one of them killed with ``kill -9`` half-way through the outage (needs redis-server).
- ``permanent``: a 400 for one user dead-letters at once; ``actionkit dlq replay`` delivers
  it once the emulator no longer refuses it.

The figures: events, delivered (events whose every request took effect), dead-lettered (rows
of ``actionkit dlq list``), lost (events none of whose requests took effect, or missing from
the state), duplicates (the emulator's count of exactly repeated requests, and events applied
more than once), per-user order violations (a user's applied requests going back to an
earlier event), and wall time. ``tests/test_outage_runs.py`` asserts them. Generation is
deterministic (:func:`make_events`); the reference state is the one the input order gives,
each planned request applied once to a fresh emulated API (:func:`reference_state`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from framework.definitions.instance import Instance, load_instance
from framework.definitions.request import PlannedRequest
from framework.emulators import ContentstackEmulator, Fault, PersonalizeEdge, RecordedRequest
from framework.emulators.api import Request
from framework.errors import EventError

ROOT = Path(__file__).resolve().parent.parent
ACTIONKIT = str(Path(sys.executable).with_name("actionkit"))
PROJECT = "outage-project"
WRITE_KEY = "outage-write-key"
INSTANCE = "outage"
USER_HEADER = "x-cs-personalize-user-uid"
GUARD = 900.0
"""Seconds after which a wait gives up: a guard against a hang, never a measure."""

_NUMBERED = re.compile(r"#(\d+)$")
_ATTRIBUTE = re.compile(r"^s(\d+)$")


@dataclass
class Figures:
    """What one run ended with; ``line()`` prints it."""

    name: str
    command: str
    events: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicates: int = 0
    repeated: int = 0
    order_violations: int = 0
    wall_seconds: float = 0.0
    state_equal: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line: every figure, then the notes."""
        notes = " ".join(f"{key}={value}" for key, value in self.notes.items())
        return (
            f"[{self.name}] events={self.events} delivered={self.delivered} "
            f"dead_lettered={self.dead_lettered} lost={self.lost} duplicates={self.duplicates} "
            f"repeated={self.repeated} order_violations={self.order_violations} "
            f"state_equal={self.state_equal} wall={self.wall_seconds:.1f}s {notes}".rstrip()
        )


# -- events and the reference ------------------------------------------------------------------

_TRACKS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
_PAGES = ("Home", "Pricing", "Docs", "Cart")
_PLANS = ("free", "pro", "team", "enterprise")


def make_events(count: int = 10_000, users: int = 300, seed: int = 12) -> list[dict[str, Any]]:
    """``count`` Segment events of ``users`` users, the same for the same arguments.

    Tracks (a tenth with ``context.traits``), identifies and pages; every item they send is
    named by the event's number (an event key ending ``#n``, an attribute ``s<n>``), so each
    request the emulator logs says which events it carries. One user in ten starts under a
    legacy ID that an ``alias`` call later merges into the user.
    """
    rng = random.Random(seed)
    legacy = {k for k in range(users) if k % 10 == 3}
    seen = [0] * users
    merged: set[int] = set()
    events: list[dict[str, Any]] = []
    n = 0
    while len(events) < count:
        k = rng.randrange(users)
        user = f"user-{k:03d}"
        message = f"m-{len(events):05d}"
        if k in legacy and k not in merged and seen[k] >= 3:
            merged.add(k)
            events.append(
                {
                    "type": "alias",
                    "messageId": message,
                    "userId": user,
                    "previousId": f"legacy-{k:03d}",
                }
            )
            continue
        uid = f"legacy-{k:03d}" if k in legacy and k not in merged else user
        seen[k] += 1
        n = len(events)
        roll = rng.random()
        event: dict[str, Any]
        if roll < 0.6:
            event = {
                "type": "track",
                "event": f"{rng.choice(_TRACKS)} #{n}",
                "properties": {"n": n},
            }
            if rng.random() < 0.1:
                event["context"] = {"traits": {"last": n, f"s{n}": rng.choice(_PLANS)}}
        elif roll < 0.85:
            event = {"type": "identify", "traits": {"plan": rng.choice(_PLANS), "last": n}}
            event["traits"][f"s{n}"] = True
        else:
            event = {"type": "page", "name": f"{rng.choice(_PAGES)} #{n}"}
        events.append({**event, "messageId": message, "userId": uid})
    return events


def instance_document(url: str) -> dict[str, Any]:
    """The instance of the generated runs: events, attributes, page views and merges."""
    return {
        "destination": "contentstack",
        "name": INSTANCE,
        "settings": {"personalizeProjectId": PROJECT, "personalizeEdgeApiBaseUrl": url},
        "mappings": [
            {"name": "Events", "preset": "events-sync"},
            {
                "name": "Attributes",
                "preset": "custom-attributes-sync",
                "trigger": 'type = "identify" or (type = "track" and context.traits != null)',
            },
            {"name": "Page views", "preset": "page-events", "enabled": True},
            {"name": "Merge on alias", "preset": "merge-users"},
        ],
        "delivery": {"allowLoopback": True},  # the testing switch: the emulator is on loopback
    }


def ready_requests(instance: Instance, event: dict[str, Any]) -> list[PlannedRequest]:
    """The requests ``event`` makes through ``instance`` (none for a malformed event)."""
    try:
        plans = instance.plan(event)
    except EventError:
        return []
    return [plan.request for plan in plans if plan.status == "ready" and plan.request]


def reference_state(instance: Instance, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The emulator's projects once every planned request is applied once, in input order."""
    api = PersonalizeEdge()
    for event in events:
        for request in ready_requests(instance, event):
            api.handle(
                Request(
                    request.method,
                    urlsplit(request.url).path,
                    "",
                    {name.lower(): value for name, value in request.headers.items()},
                    json.dumps(request.json).encode(),
                )
            )
    return dict(api.state()["projects"])


def expected_numbers(instance: Instance, events: list[dict[str, Any]]) -> set[int]:
    """The numbers of the events that send at least one request."""
    return {n for n, event in enumerate(events) if ready_requests(instance, event)}


def carried(request: RecordedRequest, merges: dict[tuple[str, str], int]) -> list[int]:
    """The numbers of the generated events a logged request carries, in body order."""
    body = request.body
    if request.path == "/events" and isinstance(body, list):
        found = [_NUMBERED.search(str(item.get("eventKey", ""))) for item in body]
        return [int(match.group(1)) for match in found if match]
    if request.path == "/user-attributes" and isinstance(body, dict):
        keys = [_ATTRIBUTE.match(key) for key in body]
        return sorted(int(match.group(1)) for match in keys if match)
    if isinstance(body, dict):
        pair = (str(body.get("sourceUserUid")), str(body.get("targetUserUid")))
        return [merges[pair]] if pair in merges else []
    return []


def users_of(request: RecordedRequest, *, merge_sources: bool = True) -> list[str]:
    """The users a request touches: its user header, or a merge's target (and source)."""
    if request.path.endswith("/merge") and isinstance(request.body, dict):
        target = str(request.body.get("targetUserUid"))
        return [target, str(request.body.get("sourceUserUid"))] if merge_sources else [target]
    user = request.headers.get(USER_HEADER)
    return [user] if user else []


@dataclass
class Applied:
    """What the emulator's log says of the generated events it took."""

    numbers: set[int]
    repeated: int
    violations: int
    violating_users: list[str]


def applied(
    requests: list[RecordedRequest], events: list[dict[str, Any]], *, merge_sources: bool = True
) -> Applied:
    """Events applied, those applied again, and per-user order violations, from the log.

    Per user, the numbers of the events its applied requests carry, each kept the first time
    only (a repeat after a crash is at-least-once, not disorder), must rise: each step back to
    an earlier event is one violation. ``merge_sources=False`` orders a merge with its target
    user only (what Redis partitions promise when an alias's two users are in two partitions).
    """
    merges = {
        (str(e["previousId"]), str(e["userId"])): n
        for n, e in enumerate(events)
        if e["type"] == "alias"
    }
    numbers: set[int] = set()
    repeated = 0
    per_user: dict[str, list[int]] = {}
    seen_by_user: dict[str, set[int]] = {}
    for request in requests:
        if not request.applied:
            continue
        carried_numbers = carried(request, merges)
        repeated += sum(1 for n in carried_numbers if n in numbers)
        numbers.update(carried_numbers)
        for user in users_of(request, merge_sources=merge_sources):
            seen = seen_by_user.setdefault(user, set())
            sequence = per_user.setdefault(user, [])
            for n in carried_numbers:
                if n not in seen:
                    seen.add(n)
                    sequence.append(n)
    violating = sorted(
        user
        for user, sequence in per_user.items()
        if any(b < a for a, b in itertools.pairwise(sequence))
    )
    violations = sum(
        sum(1 for a, b in itertools.pairwise(sequence) if b < a) for sequence in per_user.values()
    )
    return Applied(numbers, repeated, violations, violating)


def without_repeats(projects: dict[str, Any]) -> dict[str, Any]:
    """The projects with each user's repeated events and repeated merges taken out (canonical)."""
    cleaned: dict[str, Any] = {}
    for project, data in projects.items():
        users = {}
        for uid, record in data.get("users", {}).items():
            keys: set[str] = set()
            events = []
            for item in record["events"]:
                key = json.dumps(item, sort_keys=True)
                if key not in keys:
                    keys.add(key)
                    events.append(item)
            users[uid] = {"attributes": record["attributes"], "events": events}
        cleaned[project] = {"users": users, "merges": data.get("merges", [])}
    return canonical(cleaned)


def canonical(projects: dict[str, Any]) -> dict[str, Any]:
    """The projects with each one's merges as a sorted set: merges of different users are
    not ordered with each other (each user's own order shows in its events)."""
    return {
        project: {
            "users": data.get("users", {}),
            "merges": sorted({json.dumps(m, sort_keys=True) for m in data.get("merges", [])}),
        }
        for project, data in projects.items()
    }


def duplicate_count(api: ContentstackEmulator) -> int:
    """The emulator's count of accepted requests that exactly repeat an earlier one."""
    return sum(sum(users.values()) for users in api.duplicates().values())


# -- processes ---------------------------------------------------------------------------------


class Processes:
    """Child ``actionkit`` processes of one run, each logging to a file; killed on close."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[str]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[str]:
        """Start ``actionkit ARGS`` in the run's directory; standard error to ``name``.log."""
        with (self.directory / f"{name}.log").open("a") as log:
            process = subprocess.Popen(
                [ACTIONKIT, *args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=self.directory,
            )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        """What process ``name`` wrote on standard error."""
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def serve(self, name: str, config: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
        """``actionkit serve`` on a free port; returns it and its base URL once healthy."""
        process = self.start(name, "serve", "--config", str(config), "--port", "0", *extra)
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"actionkit serve did not start:\n{self.log(name)}")

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"actionkit serve exited:\n{self.log(name)}")
            return health(url) is not None

        poll(up, f"{name} to answer /health")
        return process, url

    def close(self) -> None:
        """Kill every process still running."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


def poll(condition: Callable[[], object], what: str, guard: float = GUARD) -> None:
    """Wait until ``condition()`` holds; RuntimeError naming ``what`` after ``guard`` s."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def health(url: str) -> dict[str, Any] | None:
    """The server's /health answer, or None when it does not answer 200."""
    try:
        answer = httpx.get(f"{url}/health", timeout=5)
    except httpx.TransportError:
        return None
    return dict(answer.json()) if answer.status_code == 200 else None


def post(url: str, events: list[dict[str, Any]], batch: int = 100) -> int:
    """POST the events to /v1/batch; returns how many were not answered 200."""
    refused = 0
    with httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=30) as client:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            if client.post("/v1/batch", json={"batch": chunk}).status_code != 200:
                refused += len(chunk)
    return refused


def dlq_rows(processes: Processes, *places: str) -> list[dict[str, Any]]:
    """The rows of ``actionkit dlq list --json`` over ``places`` (its options)."""
    result = subprocess.run(
        [ACTIONKIT, "dlq", "list", "--json", *places],
        capture_output=True,
        text=True,
        cwd=processes.directory,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"actionkit dlq list failed ({result.returncode}): {result.stderr}")
    rows = json.loads(result.stdout)
    return list(rows if isinstance(rows, list) else rows.get("rows", []))


def sleep_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``moment`` (a fault's schedule, not a check)."""
    time.sleep(max(0.0, moment - time.monotonic()))


@contextmanager
def emulator() -> Iterator[ContentstackEmulator]:
    """The Personalize Edge emulator in this process, keeping every request in its log."""
    with ContentstackEmulator(max_logged_requests=None) as api:
        yield api


# -- run 1: actionkit run ----------------------------------------------------------------------

EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"
EXAMPLE_INSTANCE = ROOT / "examples" / "contentstack.yaml"


def _run_json(directory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [ACTIONKIT, "run", str(EXAMPLE_EVENTS), "--json", *args],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=GUARD,
        check=False,
    )
    (directory / "run.log").write_text(result.stderr)
    try:
        return result.returncode, dict(json.loads(result.stdout))
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"actionkit run printed no JSON ({result.returncode}):\n{result.stderr}"
        ) from exc


def main_job_run(directory: Path, outage: float = 30.0) -> Figures:
    """``actionkit run examples/events.jsonl`` through 429s, 503s, drops and an outage."""
    figures = Figures("run", f"actionkit run examples/events.jsonl (faults; {outage:g} s outage)")
    clean_dir = directory / "clean"
    clean_dir.mkdir()
    _, clean = _run_json(clean_dir, "--instance", str(EXAMPLE_INSTANCE), "--emulate")
    clean_projects = clean["emulator_state"]["projects"]
    instance = load_instance(EXAMPLE_INSTANCE)
    events = []
    for line in EXAMPLE_EVENTS.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # the sample's malformed lines: reported by run, sending nothing
            continue
        if isinstance(event, dict):
            events.append(event)
    figures.events = len(events)
    reference = reference_state(instance, events)
    with emulator() as api:
        document = yaml.safe_load(EXAMPLE_INSTANCE.read_text())
        document["settings"]["personalizeEdgeApiBaseUrl"] = api.url
        document.setdefault("delivery", {})["allowLoopback"] = True
        path = directory / "instance.yaml"
        path.write_text(yaml.safe_dump(document))
        clean_requests = sum(
            int(count)
            for counts in clean["emulator_state"]["counters"].values()
            for status, count in counts.items()
            if status == "200"
        )
        api.inject(
            Fault("status", status=429, retry_after=1, count=20),
            Fault("status", status=503, count=20),
            Fault("drop", count=10),
        )
        started = time.monotonic()
        processes = Processes(directory)
        try:
            process = processes.start(
                "run",
                "run",
                str(EXAMPLE_EVENTS),
                "--instance",
                str(path),
                "--json",
                "--dead-letters",
                str(directory / "dead-letters.sqlite"),
            )
            # The outage starts once a third of the clean run's requests have taken effect.
            third = max(1, clean_requests // 3)
            api.wait_until(lambda log: sum(r.applied for r in log) >= third, timeout=GUARD)
            api.fail_for(outage)
            out, _ = process.communicate(timeout=GUARD)
            figures.wall_seconds = time.monotonic() - started
        finally:
            processes.close()
        report = json.loads(out) if out.strip() else {}
        state = api.state()
        figures.notes["exit"] = process.returncode
        figures.notes["answers"] = {
            status: sum(counts.get(status, 0) for counts in state["counters"].values())
            for status in ("200", "429", "503", "dropped")
        }
    projects = state["projects"]
    figures.state_equal = canonical(projects) == canonical(clean_projects)
    figures.notes["clean_equals_reference"] = canonical(clean_projects) == canonical(reference)
    figures.notes["summary_dead_lettered"] = sum(
        count for key, count in report.get("summary", {}).items() if key.endswith("/dead_lettered")
    )
    places = ("--store", str(directory / "dead-letters.sqlite"), "--queue", "none.sqlite")
    figures.dead_lettered = len(dlq_rows(processes, *places))
    figures.duplicates = duplicate_count(api)
    ours = projects.get("example-project", {}).get("users", {})
    theirs = reference.get("example-project", {}).get("users", {})
    figures.order_violations = sum(
        1
        for uid in set(ours) | set(theirs)
        if ours.get(uid, {}).get("events") != theirs.get(uid, {}).get("events")
    )
    figures.lost = sum(
        len(record["events"]) - len(ours.get(uid, {}).get("events", []))
        for uid, record in theirs.items()
        if len(record["events"]) > len(ours.get(uid, {}).get("events", []))
    )
    figures.delivered = sum(
        count for key, count in report.get("summary", {}).items() if key.endswith("/delivered")
    )
    return figures


# -- runs 2 and 3: actionkit serve, embedded or with Redis workers ---------------------------


def _write_server(directory: Path, url: str) -> tuple[Path, Path]:
    """The instance and server configuration of a serving run; returns their paths."""
    instance = directory / "instance.yaml"
    instance.write_text(yaml.safe_dump(instance_document(url)))
    config = directory / "server.yaml"
    document = {
        "instances": ["instance.yaml"],
        "writeKeys": {WRITE_KEY: [INSTANCE]},
        "queue": {"path": "queue.sqlite"},
        "deadLetters": "dead-letters.sqlite",
    }
    config.write_text(yaml.safe_dump(document))
    return instance, config


class Progress:
    """Which generated events the emulator's log shows applied, read incrementally."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.merges = {
            (str(e["previousId"]), str(e["userId"])): n
            for n, e in enumerate(events)
            if e["type"] == "alias"
        }
        self.seen: set[int] = set()
        self.position = 0

    def update(self, log: list[RecordedRequest]) -> set[int]:
        """Read the entries logged since the last call; returns every number seen so far."""
        for request in log[self.position :]:
            if request.applied:
                self.seen.update(carried(request, self.merges))
        self.position = len(log)
        return self.seen


def dead_numbers(rows: list[dict[str, Any]]) -> set[int]:
    """The numbers of the generated events (messageId ``m-NNNNN``) among dead-letter rows."""
    found = set()
    for row in rows:
        message = str(row.get("message_id") or (row.get("event") or {}).get("messageId") or "")
        if message.startswith("m-") and message[2:].isdigit():
            found.add(int(message[2:]))
    return found


def wait_settled(
    api: ContentstackEmulator,
    events: list[dict[str, Any]],
    wanted: set[int],
    dead: Callable[[], list[dict[str, Any]]],
) -> bool:
    """Wait until every wanted event was applied (True) or is applied or dead-lettered
    (False); the dead letters are read every few seconds, the log at every request."""
    progress = Progress(events)
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        try:
            api.wait_until(lambda log: wanted <= progress.update(log), timeout=5)
            return True
        except TimeoutError:
            if wanted - progress.seen <= dead_numbers(dead()):
                return False
    raise RuntimeError("timed out waiting for every event to be applied or dead-lettered")


def serving_run(
    directory: Path,
    events: list[dict[str, Any]],
    *,
    redis_url: str | None = None,
    workers: int = 3,
    outage: float = 60.0,
) -> Figures:
    """10,000 events into ``actionkit serve`` through an outage with a ``kill -9`` half-way.

    Embedded (``redis_url`` None): the server is killed and started again. With Redis: the
    server appends to Redis and ``workers`` workers deliver; one worker is killed.
    """
    mode = "redis" if redis_url else "serve"
    command = (
        f"actionkit serve --redis + {workers} actionkit worker" if redis_url else "actionkit serve"
    )
    figures = Figures(mode, f"{command}; {len(events)} events; {outage:g} s outage; kill -9")
    figures.events = len(events)
    processes = Processes(directory)
    with emulator() as api, ExitStack() as stack:
        stack.callback(processes.close)
        instance_path, config = _write_server(directory, api.url)
        instance = load_instance(instance_path)
        wanted = expected_numbers(instance, events)
        reference = reference_state(instance, events)
        extra = ("--redis", redis_url) if redis_url else ()
        server, url = processes.serve("server", config, *extra)
        worker_procs = []
        for k in range(workers if redis_url else 0):
            assert redis_url is not None
            worker_procs.append(
                processes.start(
                    f"worker-{k}",
                    "worker",
                    "--redis",
                    redis_url,
                    "--instance",
                    str(instance_path),
                    "--consumer",
                    f"w{k}",
                    "--claim-idle",
                    "5",
                    "--dead-letters",
                    f"dead-w{k}.sqlite",
                    "--json",
                )
            )
        for k in range(len(worker_procs)):
            name = f"worker-{k}"
            poll(lambda name=name: '"started"' in processes.log(name), f"{name} to start")  # type: ignore[misc]
        started = time.monotonic()
        first = len(events) // 5
        refused = post(url, events[:first])
        # The outage starts once some of the first fifth took effect.
        api.wait_until(lambda log: sum(r.applied for r in log) >= 200, timeout=GUARD)
        api.start_outage(503)
        outage_began = time.monotonic()
        refused += post(url, events[first:])
        figures.notes["posted_in_outage"] = len(events) - first
        sleep_until(outage_began + outage / 2)
        if redis_url:
            worker_procs[-1].send_signal(signal.SIGKILL)
            worker_procs[-1].wait(30)
            figures.notes["killed"] = f"worker w{len(worker_procs) - 1}"
        else:
            server.send_signal(signal.SIGKILL)
            server.wait(30)
            server, url = processes.serve("server-2", config)
            figures.notes["killed"] = "server (restarted)"
        sleep_until(outage_began + outage)
        outage_state = api.outage()
        figures.notes["outage_answers"] = outage_state["answered"] if outage_state else None
        api.end_outage()
        places = ["--store", "dead-letters.sqlite", "--queue", "queue.sqlite"]
        if redis_url:
            places = ["--redis", redis_url, "--queue", "none.sqlite", "--store", "dead-w0.sqlite"]

        def dead() -> list[dict[str, Any]]:
            rows = dlq_rows(processes, *places)
            for k in range(1, len(worker_procs)):
                rows += dlq_rows(
                    processes, "--store", f"dead-w{k}.sqlite", "--queue", "none.sqlite"
                )
            return rows

        figures.notes["all_applied"] = wait_settled(api, events, wanted, dead)
        figures.wall_seconds = time.monotonic() - started
        figures.notes["after_outage_s"] = round(time.monotonic() - outage_began - outage, 1)
        if not redis_url:
            try:
                poll(lambda: (health(url) or {}).get("queue_depth") == 0, "the queue", 120)
            except RuntimeError:
                figures.notes["queue_left"] = (health(url) or {}).get("queue_depth")
        figures.notes["refused_posts"] = refused
        for process in [server, *worker_procs]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(120)
        rows = dead()
        figures.dead_lettered = len(rows)
        log = api.requests
        state = api.state()
        figures.duplicates = duplicate_count(api)
    taken = applied(log, events)
    if redis_url:
        # Partitions order an alias with its userId's events; with its previousId's only when
        # both users share a partition (docs/serving.md): count those overtakes apart.
        by_target = applied(log, events, merge_sources=False)
        figures.notes["violations_but_merge_sources"] = by_target.violations
    figures.delivered = len(wanted & taken.numbers)
    figures.lost = len(wanted - taken.numbers)
    figures.repeated = taken.repeated
    figures.order_violations = taken.violations
    if taken.violating_users:
        figures.notes["violating_users"] = ",".join(taken.violating_users[:5])
    figures.state_equal = without_repeats(state["projects"]) == without_repeats(reference)
    figures.notes["requests"] = len(log)
    return figures


# -- run 4: a permanent 400 ----------------------------------------------------------------------


def permanent_run(directory: Path) -> Figures:
    """A 400 for one user dead-letters at once; ``dlq replay`` delivers it once fixed."""
    figures = Figures("permanent", "actionkit serve; a 400 for one user; actionkit dlq replay")
    events = make_events(200, users=10, seed=4)
    # One identify half-way through goes to a user the emulator refuses (its number stays).
    bad = next(n for n in range(100, len(events)) if events[n]["type"] == "identify")
    events[bad] = {**events[bad], "userId": "user-bad"}
    figures.events = len(events)
    processes = Processes(directory)
    with emulator() as api, ExitStack() as stack:
        stack.callback(processes.close)
        instance_path, config = _write_server(directory, api.url)
        instance = load_instance(instance_path)
        wanted = expected_numbers(instance, events) - {bad}
        api.inject(Fault("status", status=400, count=1000, header=(USER_HEADER, "user-bad")))
        server, url = processes.serve("server", config)
        started = time.monotonic()
        figures.notes["refused_posts"] = post(url, events, batch=50)
        places = ("--store", "dead-letters.sqlite", "--queue", "queue.sqlite")
        wait_settled(api, events, wanted, lambda: dlq_rows(processes, *places))
        poll(lambda: len(dlq_rows(processes, *places)) > 0, "the dead letter", 120)
        figures.wall_seconds = time.monotonic() - started
        rows = dlq_rows(processes, *places)
        figures.dead_lettered = len(rows)
        figures.notes["codes"] = ",".join(sorted({str(row.get("error_code")) for row in rows}))
        figures.notes["attempts_for_user"] = sum(
            1 for r in api.requests if r.headers.get(USER_HEADER) == "user-bad"
        )
        api.clear_faults()
        replay = subprocess.run(
            [ACTIONKIT, "dlq", "replay", "--instance", str(instance_path), "--json", *places],
            capture_output=True,
            text=True,
            cwd=directory,
            timeout=120,
            check=False,
        )
        figures.notes["replay_exit"] = replay.returncode
        figures.notes["left_after_replay"] = len(dlq_rows(processes, *places))
        users = api.state()["projects"].get(PROJECT, {}).get("users", {})
        figures.notes["bad_user_attributes"] = json.dumps(
            users.get("user-bad", {}).get("attributes")
        )
        server.send_signal(signal.SIGTERM)
        server.wait(120)
        taken = applied(api.requests, events)
    figures.delivered = len(wanted & taken.numbers) + (figures.notes["left_after_replay"] == 0)
    figures.lost = len(wanted - taken.numbers)
    figures.order_violations = taken.violations
    return figures


# -- the command -----------------------------------------------------------------------------


RUNS = ("run", "serve", "redis", "permanent")


def run_named(name: str, directory: Path, redis_url: str | None = None) -> Figures:
    """One run by name, in ``directory`` (``redis`` needs ``redis_url``)."""
    if name == "run":
        return main_job_run(directory)
    if name == "serve":
        return serving_run(directory, make_events())
    if name == "redis":
        if redis_url is None:
            raise ValueError("the redis run needs a Redis URL")
        return serving_run(directory, make_events(), redis_url=redis_url)
    return permanent_run(directory)


def main() -> None:
    """Run the named runs (all by default) and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # No choices= here: argparse checks an empty default list against them and refuses it.
    parser.add_argument("runs", nargs="*", metavar="RUN", help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--redis", metavar="URL", help="A Redis to use (else one is started).")
    options = parser.parse_args()
    unknown = [name for name in options.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}: choose from {', '.join(RUNS)}")
    for name in options.runs or RUNS:
        with tempfile.TemporaryDirectory(prefix=f"outage-{name}-") as folder, ExitStack() as stack:
            redis_url = options.redis
            if name == "redis" and redis_url is None:
                sys.path.insert(0, str(ROOT))
                from tests.redis_server import redis_server

                redis_url = stack.enter_context(redis_server()).url
            print(run_named(name, Path(folder), redis_url).line(), flush=True)


if __name__ == "__main__":
    main()
