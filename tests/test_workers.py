"""End to end: an analytics client -> `actionkit serve --redis` -> workers -> the emulator.

Real processes throughout: the server and the workers are ``python -m framework`` subprocesses,
Redis is a real redis-server, the Personalize Edge emulator runs in this process. Each event
carries its messageId as its event name (track) or as its trait key (identify), so the
emulator's state says which events were delivered, for which user; with the workers'
dead-letter stores it accounts for every event answered 200.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from redis_server import RedisServer, redis_server

from framework.delivery.deadletter import DeadLetterStore
from framework.emulators import ContentstackEmulator, Fault

PROJECT = "workers-test"
WRITE_KEY = "wk-workers-test"
INSTANCE = "workers-test"
STREAM = "actionkit:events"
PARTITIONS = [f"{{{STREAM}}}:p{index}" for index in range(16)]
INBOX = f"{{{STREAM}}}:inbox"
_databases = itertools.count(1)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """A ``python -m framework`` subprocess; standard error goes to ``log``."""

    args: list[str]
    log: Path
    process: subprocess.Popen[str] = field(init=False)

    def __post_init__(self) -> None:
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "framework", *self.args],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=self.log.parent,
            )

    def logged(self) -> str:
        return self.log.read_text()

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        """Wait for the exit; returns the status and standard output."""
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


@dataclass
class Setup:
    """One test's world: its Redis database, emulator, instance, server config and processes."""

    directory: Path
    redis_url: str
    emulator: ContentstackEmulator
    procs: list[Proc] = field(default_factory=list)

    def write_config(self, *, max_length: int = 10_000) -> Path:
        instance = {
            "destination": "contentstack",
            "name": INSTANCE,
            "settings": {
                "personalizeProjectId": PROJECT,
                "personalizeEdgeApiBaseUrl": self.emulator.url,
            },
            "mappings": [
                {"name": "Events", "preset": "events-sync"},
                {
                    "name": "Attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                },
            ],
            "delivery": {"allowLoopback": True},  # the testing switch: the emulator is on loopback
        }
        (self.directory / "instance.yaml").write_text(yaml.safe_dump(instance))
        config = {
            "instances": ["instance.yaml"],
            "writeKeys": {WRITE_KEY: [INSTANCE]},
            "queue": {"maxLength": max_length, "claimIdle": 1, "maxTries": 3},
            "deadLetters": None,
        }
        path = self.directory / "server.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def serve(self, name: str = "server") -> tuple[Proc, str]:
        """Start `actionkit serve --redis`; returns it and its base URL once healthy."""
        config = self.directory / "server.yaml"
        if not config.exists():
            self.write_config()
        proc = Proc(
            ["serve", "--config", str(config), "--port", "0", "--redis", self.redis_url],
            self.directory / f"{name}.log",
        )
        self.procs.append(proc)
        assert proc.process.stdout is not None
        url = proc.process.stdout.readline().strip()
        assert url.startswith("http://"), proc.logged()

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, f"{name} to answer /health")
        return proc, url

    def worker(
        self, name: str, *, in_flight: int = 64, claim_idle: float = 10, extra: tuple[str, ...] = ()
    ) -> Proc:
        """Start `actionkit worker` (consumer ``name``, its own dead-letter store).

        ``claim_idle`` is long by default: a worker stalled by a loaded machine keeps its
        entries (no test counts an entry handled twice); a test that needs claims sets it.
        """
        if not (self.directory / "instance.yaml").exists():
            self.write_config()
        proc = Proc(
            [
                "worker",
                "--redis",
                self.redis_url,
                "--instance",
                str(self.directory / "instance.yaml"),
                "--consumer",
                name,
                "--in-flight",
                str(in_flight),
                "--claim-idle",
                str(claim_idle),
                "--max-tries",
                "3",
                "--dead-letters",
                str(self.directory / f"dead-{name}.sqlite"),
                "--json",
                *extra,
            ],
            self.directory / f"{name}.log",
        )
        self.procs.append(proc)
        return proc

    def started(self, *workers: Proc) -> None:
        for proc in workers:
            wait_for(
                lambda proc=proc: (
                    '"state": "started"' in proc.logged() or proc.process.poll() is not None
                ),
                "a worker to start",
            )
            assert proc.process.poll() is None, proc.logged()

    # -- what happened -------------------------------------------------------------------

    def delivered(self) -> dict[str, list[str]]:
        """messageId -> the users it reached (an event key or an attribute key)."""
        users = self.emulator.state()["projects"].get(PROJECT, {}).get("users", {})
        found: dict[str, list[str]] = {}
        for user, record in users.items():
            for event in record["events"]:
                found.setdefault(event["eventKey"], []).append(user)
            for key in record["attributes"]:
                found.setdefault(key, []).append(user)
        return found

    def dead_lettered(self) -> set[str]:
        """messageIds in the workers' dead-letter stores and in the dead stream."""
        found: set[str] = set()
        for path in self.directory.glob("dead-*.sqlite"):
            with DeadLetterStore(path) as store:
                found.update(str(letter.message_id) for letter in store.list())
        with redis.Redis.from_url(self.redis_url, decode_responses=True) as client:
            for _, fields in client.xrange(f"{STREAM}:dead"):
                found.add(json.loads(fields["item"])["event"]["messageId"])
        return found

    def queue_drained(self) -> bool:
        """Nothing stored: every entry acked or set aside (the earlier stream's and the
        inbox's too)."""
        return self.stored() == 0

    def stored(self) -> int:
        """Events stored: the streams' entries, and the events of the inbox's batches."""
        with redis.Redis.from_url(self.redis_url) as client:
            inbox = int(client.get(f"{INBOX}:events") or 0)
            return inbox + sum(int(client.xlen(key)) for key in [STREAM, *PARTITIONS])

    def owners(self) -> dict[str, int]:
        """Worker name -> partitions whose lease it holds now."""
        with redis.Redis.from_url(self.redis_url, decode_responses=True) as client:
            leases = [client.get(f"{{{STREAM}}}:lease:{index}") for index in range(16)]
        found: dict[str, int] = {}
        for lease in leases:
            if lease:
                name = str(lease).rsplit(":", 1)[0]
                found[name] = found.get(name, 0) + 1
        return found

    def in_hand(self) -> int:
        """Entries handed out and not yet acked, deferred or set aside, in every partition."""
        with redis.Redis.from_url(self.redis_url) as client:
            return sum(int(client.hlen(f"{key}:flight")) for key in PARTITIONS)


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


@pytest.fixture(scope="module")
def emulator() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid=PROJECT) as api:
        yield api


@pytest.fixture
def setup(
    tmp_path: Path, redis_srv: RedisServer, emulator: ContentstackEmulator
) -> Iterator[Setup]:
    emulator.reset()
    database = next(_databases)
    assert database < 16, "one Redis database a test: there are 16"
    world = Setup(tmp_path, redis_srv.url.rsplit("/", 1)[0] + f"/{database}", emulator)
    try:
        yield world
    finally:
        for proc in world.procs:
            proc.kill()


# -- the client ----------------------------------------------------------------------------


def make_events(prefix: str, count: int, users: int = 7) -> list[dict[str, Any]]:
    """Track calls named by their messageId; every fifth an identify with it as trait key."""
    events = []
    for n in range(count):
        message_id = f"{prefix}-{n:04d}"
        user = f"user-{n % users}"
        if n % 5 == 4:
            events.append(
                {
                    "type": "identify",
                    "userId": user,
                    "messageId": message_id,
                    "traits": {message_id: n},
                }
            )
        else:
            events.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": message_id,
                    "messageId": message_id,
                    "properties": {"n": n},
                }
            )
    return events


def post(
    url: str, events: list[dict[str, Any]], batch: int = 25
) -> tuple[set[str], list[httpx.Response]]:
    """POST /v1/batch as analytics libraries do (write key by Basic auth).

    Returns the messageIds answered 200, and every answer that was not 200.
    """
    accepted: set[str] = set()
    refused: list[httpx.Response] = []
    with httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=10) as client:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            answer = client.post(
                "/v1/batch", json={"batch": chunk, "sentAt": "2024-05-01T00:00:00Z"}
            )
            if answer.status_code == 200:
                accepted.update(event["messageId"] for event in chunk)
            else:
                refused.append(answer)
    return accepted, refused


def user_of(message_id: str, users: int = 7) -> str:
    return f"user-{int(message_id.rsplit('-', 1)[1]) % users}"


def stop_worker(proc: Proc) -> dict[str, Any]:
    """SIGTERM, then the worker's final report (it must exit 0)."""
    proc.signal(signal.SIGTERM)
    status, out = proc.finish()
    assert status == 0, proc.logged()
    return dict(json.loads(out))


# -- the tests -----------------------------------------------------------------------------


def test_two_workers_deliver_every_event_to_the_right_user(setup: Setup) -> None:
    _server, url = setup.serve()
    first, second = setup.worker("w1"), setup.worker("w2")
    setup.started(first, second)
    # Each holds its share of the partitions (8 of 16) before any event comes.
    wait_for(lambda: setup.owners() == {"w1": 8, "w2": 8}, "the workers to share the partitions")
    events = make_events("ok", 300)
    accepted, refused = post(url, events)
    assert refused == []
    assert accepted == {event["messageId"] for event in events}

    wait_for(lambda: set(setup.delivered()) >= accepted, "every event to reach the emulator")
    wait_for(setup.queue_drained, "the stream to be drained")
    reports = [stop_worker(first), stop_worker(second)]

    delivered = setup.delivered()
    assert set(delivered) == accepted
    assert all(users == [user_of(mid)] for mid, users in delivered.items())  # once, right user
    assert setup.dead_lettered() == set()
    # Both shared the work, each entry handled exactly once (no worker died).
    assert all(report["entries"] > 0 for report in reports)
    assert sum(report["entries"] for report in reports) == len(events)
    assert {"started", "stopped"} <= {
        json.loads(line).get("state") for line in first.logged().splitlines()
    }


def test_a_worker_killed_mid_run_leaves_its_entries_to_the_other(setup: Setup) -> None:
    _server, url = setup.serve()
    doomed = setup.worker("doomed", in_flight=16, claim_idle=1)
    setup.started(doomed)
    # Slow answers (a delay, then 503 and a retry) keep entries in the worker's hands; fewer
    # than the endpoint's breaker counts before it pauses the endpoint for a while.
    setup.emulator.inject(Fault("delay", seconds=1.0, count=3))
    accepted, _ = post(url, make_events("kill", 200), batch=10)

    def doomed_pending() -> int:
        return setup.in_hand()  # the only worker yet: whatever is in hand is the doomed one's

    def frozen_holding() -> int:
        """Freeze the doomed worker; if it holds nothing yet, let it run and say so."""
        doomed.process.send_signal(signal.SIGSTOP)
        held = doomed_pending()
        if not held:
            doomed.process.send_signal(signal.SIGCONT)
        return held

    # Frozen, it can ack nothing, and no other worker exists yet to claim from it: what it
    # holds is what it dies with, however slow this test runs. The survivor then claims it.
    held = wait_for(frozen_holding, "the doomed worker to hold entries")
    doomed.process.send_signal(signal.SIGKILL)
    doomed.finish()
    survivor = setup.worker("survivor", in_flight=16, claim_idle=1)
    setup.started(survivor)

    wait_for(setup.queue_drained, "the survivor to claim and finish everything", timeout=60)
    report = stop_worker(survivor)
    delivered, dead = set(setup.delivered()), setup.dead_lettered()
    assert held > 0
    assert accepted <= delivered | dead  # nothing answered 200 is lost
    assert (delivered | dead) <= accepted
    assert report["entries"] > 0


def test_restarting_the_server_loses_nothing_it_answered(setup: Setup) -> None:
    server, url = setup.serve("server1")
    worker = setup.worker("w1")
    before, _ = post(url, make_events("before", 100))
    server.kill()  # SIGKILL: no shutdown at all
    _server, url = setup.serve("server2")
    after, _ = post(url, make_events("after", 100))
    setup.started(worker)

    wait_for(setup.queue_drained, "the worker to drain the stream")
    report = stop_worker(worker)
    assert len(before) == len(after) == 100
    assert set(setup.delivered()) == before | after
    assert report["entries"] == 200


def test_an_emulator_outage_is_waited_out_each_event_delivered_once_in_order(
    setup: Setup,
) -> None:
    _server, url = setup.serve()
    first, second = setup.worker("w1", claim_idle=3), setup.worker("w2", claim_idle=3)
    setup.started(first, second)
    # An outage from before the first request until the workers have met it: their entries
    # wait in Redis (deferred), then go once the API is back.
    setup.emulator.start_outage(503)
    accepted, _ = post(url, make_events("outage", 150))

    def met() -> bool:
        return bool(setup.emulator.state()["counters"].get("/events", {}).get("503", 0))

    wait_for(met, "the workers to meet the outage", timeout=60)
    setup.emulator.end_outage()
    wait_for(setup.queue_drained, "the workers to end every entry", timeout=180)
    stop_worker(first)
    stop_worker(second)
    delivered, dead = setup.delivered(), setup.dead_lettered()
    assert set(delivered) == accepted  # waited out: nothing dead-lettered
    assert dead == set()
    assert all(len(users) == 1 for users in delivered.values())
    # Each user's events reached the API in the order they were posted.
    users = setup.emulator.state()["projects"][PROJECT]["users"]
    for user, record in users.items():
        keys = [event["eventKey"] for event in record["events"]]
        assert keys == sorted(keys), user


def test_a_full_stream_answers_503_and_stores_nothing_of_the_refused_batch(setup: Setup) -> None:
    setup.write_config(max_length=60)
    _server, url = setup.serve()
    accepted, refused = post(url, make_events("full", 100), batch=25)
    assert len(accepted) == 50  # two batches fit; the third would pass 60
    assert refused
    assert {answer.status_code for answer in refused} == {503}
    assert int(refused[0].headers["retry-after"]) >= 1
    assert setup.stored() == 50

    worker = setup.worker("w1")
    setup.started(worker)
    wait_for(setup.queue_drained, "the worker to drain the stream")
    stop_worker(worker)
    assert set(setup.delivered()) == accepted


def test_sigterm_finishes_the_entries_in_flight_before_the_worker_exits(setup: Setup) -> None:
    _server, url = setup.serve()
    worker = setup.worker("w1", in_flight=8)
    setup.started(worker)
    setup.emulator.inject(Fault("delay", seconds=0.5, count=4))
    accepted, _ = post(url, make_events("term", 8), batch=8)
    wait_for(lambda: setup.emulator.state()["counters"], "the first requests to arrive")
    report = stop_worker(worker)
    assert report["left_pending"] is False
    # Whatever it took before the signal, it finished: nothing is left pending in its name.
    assert setup.in_hand() == 0
    remaining = setup.stored()
    assert report["entries"] > 0
    assert len(set(setup.delivered())) == len(accepted) - remaining


def samples(text: str) -> dict[str, float]:
    """The Prometheus text's samples: ``name{labels}`` -> value."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_a_worker_serves_its_outcomes_and_the_queue_gauges_at_metrics(setup: Setup) -> None:
    _server, url = setup.serve()
    setup.emulator.inject(Fault("status", status=400, count=1, path="/events"))
    worker = setup.worker("w1", extra=("--metrics-port", "0"))
    setup.started(worker)
    [started] = [
        json.loads(line) for line in worker.logged().splitlines() if '"state": "started"' in line
    ]
    metrics_url = started["metrics"]
    assert metrics_url.startswith("http://127.0.0.1:")
    assert metrics_url.endswith("/metrics")

    # One event alone first, so the refused request is its own (not a batch's, split again).
    dead_lettered = 'actionkit_outcomes_total{code="INTEGRATION_ERROR",outcome="dead_lettered"}'
    accepted, refused = post(url, make_events("first", 1))
    assert (len(accepted), refused) == (1, [])
    wait_for(
        lambda: samples(httpx.get(metrics_url, timeout=10).text).get(dead_lettered) == 1,
        "the refused delivery to be counted",
        timeout=60,  # bounds a hang only
    )
    accepted, refused = post(url, make_events("m", 20))
    assert (len(accepted), refused) == (20, [])
    with redis.Redis.from_url(setup.redis_url) as client:
        # Into the single stream of earlier versions: moved into a partition, then buried.
        client.xadd(STREAM, {"item": "not a queued event"})

    def finished() -> dict[str, float] | None:
        found = samples(httpx.get(metrics_url, timeout=10).text)
        done = found.get("actionkit_event_latency_seconds_count") == 21
        buried = found.get("actionkit_queue_dead_entries") == 1
        return found if done and buried and setup.queue_drained() else None

    found = wait_for(finished, "the worker to count all 21 events and the buried entry", timeout=60)
    assert found[dead_lettered] == 1
    assert found['actionkit_outcomes_total{code="NOT_A_QUEUED_EVENT",outcome="queue_dead"}'] == 1
    assert found["actionkit_queue_depth"] == 0
    assert httpx.get(metrics_url.replace("/metrics", "/other"), timeout=10).status_code == 404

    report = stop_worker(worker)
    by_outcome: dict[str, float] = {}
    for name, value in found.items():
        if name.startswith("actionkit_outcomes_total{") and 'outcome="queue_dead"' not in name:
            outcome = name.split('outcome="', 1)[1].split('"', 1)[0]
            by_outcome[outcome] = by_outcome.get(outcome, 0) + value
    assert by_outcome == report["outcomes"]
    assert report["entries"] == 21
    deliveries: dict[str, float] = {}
    for name, value in found.items():
        if name.startswith("actionkit_deliveries_total{"):
            assert f'instance="{INSTANCE}"' in name
            outcome = name.split('outcome="', 1)[1].split('"', 1)[0]
            deliveries[outcome] = deliveries.get(outcome, 0) + value
    assert deliveries == report["outcomes"]


def test_a_worker_metrics_port_in_use_is_a_usage_error(setup: Setup) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        worker = setup.worker("w1", extra=("--metrics-port", str(port)))
        status, _ = worker.finish()
    assert status == 2, worker.logged()
    assert "--metrics-port" in worker.logged()
    assert "Traceback" not in worker.logged()
