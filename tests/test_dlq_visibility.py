"""Nothing that did not get through is hidden: ``actionkit dlq`` reads the dead-letter store,
the SQLite queue's dead entries and a Redis stream's dead entries; ``/metrics`` counts them.

Real components throughout: the embedded server under uvicorn on loopback with the Contentstack
emulator, the SQLite queue file, a real redis-server, and the CLI through click's runner.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from redis_server import RedisServer, redis_server
from starlette.applications import Starlette

from framework.cli.main import cli
from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.emulators.contentstack import ContentstackEmulator
from framework.emulators.server import Fault
from framework.queue.base import QueuedEvent
from framework.queue.redis_stream import RedisStreamQueue
from framework.server import create_app, create_embedded_app
from tests.server_helpers import (
    PROJECT,
    WRITE_KEY,
    server_config,
    serving,
    wait_until,
    write_instance,
)

EVENT = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-1"}


def dlq(*args: str) -> Result:
    return CliRunner().invoke(cli, ["dlq", *args])


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def users(api: ContentstackEmulator) -> dict[str, Any]:
    return dict(api.state()["projects"].get(PROJECT, {}).get("users", {}))


# -- the embedded server: an event answered 200 whose handling failed -----------------------


def test_an_event_answered_200_whose_handling_failed_is_counted_listed_and_replayed(
    tmp_path: Path,
) -> None:
    with ContentstackEmulator() as api:
        # No dead-letter store and one try: a refused delivery sets the entry aside at once.
        config = server_config(tmp_path, api.url, queue={"path": "queue.sqlite", "maxTries": 1})
        api.inject(Fault("status", status=400, count=1, path="/events"))
        with serving(create_embedded_app(config)) as url:
            answer = httpx.post(f"{url}/v1/track", json=EVENT, auth=(WRITE_KEY, ""), timeout=10)
            assert answer.status_code == 200
            wait_until(
                lambda: (
                    metric(httpx.get(f"{url}/metrics").text, "actionkit_queue_dead_entries") == 1.0
                )
            )
            text = httpx.get(f"{url}/metrics").text
            assert httpx.get(f"{url}/health").json()["queue_depth"] == 0
        assert 'actionkit_outcomes_total{code="TRIES_EXHAUSTED",outcome="queue_dead"} 1.0' in text

        queue = tmp_path / "queue.sqlite"
        store = tmp_path / "dead-letters.sqlite"  # never created: the server has none
        places = ("--queue", str(queue), "--store", str(store))
        listed = dlq("list", *places, "--json")
        assert listed.exit_code == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert (row["id"], row["where"], row["error_code"]) == (
            "queue:1",
            "queue",
            "TRIES_EXHAUSTED",
        )
        assert row["instances"] == ["personalize"]
        assert row["message_id"] == "m-1"
        assert "personalize/Events" in row["error_message"]
        human = dlq("list", *places)
        assert human.exit_code == 0
        assert "queue:1" in human.stdout
        assert "TRIES_EXHAUSTED" in human.stdout

        shown = dlq("show", *places, "queue:1", "--json")
        assert shown.exit_code == 0, shown.stderr
        assert json.loads(shown.stdout)["event"]["event"] == "Signed Up"

        instance = str(tmp_path / "personalize.yaml")
        replayed = dlq("replay", *places, "--instance", instance, "--json")
        assert replayed.exit_code == 0, replayed.stdout + replayed.stderr
        report = json.loads(replayed.stdout)
        assert (report["replayed"], report["still_failing"], report["not_replayed"]) == (1, 0, [])
        assert report["letters"][0]["id"] == "queue:1"
        assert report["letters"][0]["outcome"] == "delivered"
        assert [e["eventKey"] for e in users(api)["u1"]["events"]] == ["Signed Up"]
    assert json.loads(dlq("list", *places, "--json").stdout) == []


def test_delivery_outcomes_are_counted_by_code(tmp_path: Path) -> None:
    with ContentstackEmulator() as api:
        config = server_config(tmp_path, api.url, deadLetters="dead-letters.sqlite")
        api.inject(Fault("status", status=400, count=1, path="/events"))
        with serving(create_embedded_app(config)) as url:
            httpx.post(f"{url}/v1/track", json=EVENT, auth=(WRITE_KEY, ""), timeout=10)
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
            httpx.post(
                f"{url}/v1/track",
                json={**EVENT, "messageId": "m-2"},
                auth=(WRITE_KEY, ""),
                timeout=10,
            )
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
            text = httpx.get(f"{url}/metrics").text
    dead = 'actionkit_outcomes_total{code="INTEGRATION_ERROR",outcome="dead_lettered"} 1.0'
    assert dead in text
    assert 'actionkit_outcomes_total{code="",outcome="delivered"} 1.0' in text
    assert metric(text, "actionkit_queue_dead_entries") == 0.0
    # The dead letter is in the store, listed with where it is.
    listed = dlq(
        "list",
        *("--store", str(tmp_path / "dead-letters.sqlite")),
        *("--queue", str(tmp_path / "queue.sqlite")),
        "--json",
    )
    [row] = json.loads(listed.stdout)
    assert (row["where"], row["error_code"]) == ("dead-letters", "INTEGRATION_ERROR")


# -- while actionkit serve runs ----------------------------------------------------------------


def actionkit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``actionkit ARGS`` in a process of its own (beside a running server)."""
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_dead_entries_are_listed_and_replayed_while_actionkit_serve_runs(tmp_path: Path) -> None:
    with ContentstackEmulator() as api:
        server_config(tmp_path, api.url, queue={"path": "queue.sqlite", "maxTries": 1})
        api.inject(Fault("status", status=400, count=1, path="/events"))
        with (tmp_path / "serve.log").open("w") as log:
            serve = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "framework",
                    "serve",
                    "--config",
                    "server.yaml",
                    "--port",
                    "0",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=tmp_path,
            )
        try:
            assert serve.stdout is not None
            url = serve.stdout.readline().strip()
            assert url.startswith("http://"), (tmp_path / "serve.log").read_text()
            answer = httpx.post(f"{url}/v1/track", json=EVENT, auth=(WRITE_KEY, ""), timeout=10)
            assert answer.status_code == 200
            wait_until(
                lambda: (
                    metric(httpx.get(f"{url}/metrics").text, "actionkit_queue_dead_entries") == 1.0
                )
            )
            places = ("--queue", "queue.sqlite", "--store", "dead-letters.sqlite")
            listed = actionkit(tmp_path, "dlq", "list", *places, "--json")
            assert listed.returncode == 0, listed.stderr
            [row] = json.loads(listed.stdout)
            assert (row["id"], row["error_code"], row["message_id"]) == (
                "queue:1",
                "TRIES_EXHAUSTED",
                "m-1",
            )
            shown = actionkit(tmp_path, "dlq", "show", *places, "queue:1", "--json")
            assert shown.returncode == 0, shown.stderr
            assert json.loads(shown.stdout)["event"]["event"] == "Signed Up"

            replayed = actionkit(
                tmp_path, "dlq", "replay", *places, "--instance", "personalize.yaml", "--json"
            )
            assert replayed.returncode == 0, replayed.stdout + replayed.stderr
            assert json.loads(replayed.stdout)["letters"][0]["outcome"] == "delivered"
            assert json.loads(actionkit(tmp_path, "dlq", "list", *places, "--json").stdout) == []

            # The server kept its queue throughout: the next event is delivered as usual.
            httpx.post(
                f"{url}/v1/track",
                json={**EVENT, "event": "Logged In", "messageId": "m-2"},
                auth=(WRITE_KEY, ""),
                timeout=10,
            )
            wait_until(lambda: len(users(api).get("u1", {}).get("events", [])) == 2)
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.communicate(timeout=60)
        assert serve.returncode == 0, (tmp_path / "serve.log").read_text()
        events = [e["eventKey"] for e in users(api)["u1"]["events"]]
        assert sorted(events) == ["Logged In", "Signed Up"]


# -- a queue file its server holds ------------------------------------------------------------


def test_a_queue_file_in_use_is_reported_and_the_store_still_listed(tmp_path: Path) -> None:
    store = tmp_path / "dead-letters.sqlite"
    _letters(store)
    queue = tmp_path / "queue.sqlite"
    # What an actionkit serve older than the owner's lock file did to its queue file (and
    # another program may still do): an exclusive lock on the whole file.
    holder = sqlite3.connect(queue, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("CREATE TABLE held (x)")
        listed = dlq("list", "--store", str(store), "--queue", str(queue), "--json")
    finally:
        holder.close()
    assert listed.exit_code == 1
    assert len(json.loads(listed.stdout)) == 3
    assert "error[QUEUE_FAILED]" in listed.stderr
    assert "actionkit_queue_dead_entries" in listed.stderr
    assert "Traceback" not in listed.stderr


def test_nothing_to_look_in_is_a_usage_error(tmp_path: Path) -> None:
    result = dlq("list", "--store", str(tmp_path / "a"), "--queue", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert result.stdout == ""


# -- replay: what it can, and why not for the rest --------------------------------------------


def _letters(store: Path) -> None:
    with DeadLetterStore(store) as letters:
        for instance, mapping in (
            ("personalize", "Events"),
            ("personalize", "sync:users"),
            ("elsewhere", "Events"),
        ):
            letters.add(
                DeadLetter(
                    instance=instance,
                    mapping=mapping,
                    action="eventsSync",
                    event=EVENT,
                    error_code="INTEGRATION_ERROR",
                    error_message="The API refused the request (400).",
                    attempts=1,
                    status=400,
                )
            )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[ContentstackEmulator, Path, Path]]:
    with ContentstackEmulator() as api:
        store = tmp_path / "dead-letters.sqlite"
        _letters(store)
        yield api, store, write_instance(tmp_path, api.url)


def test_replay_sends_what_it_can_and_says_why_not_for_each_other_id(
    project: tuple[ContentstackEmulator, Path, Path], tmp_path: Path
) -> None:
    api, store, instance = project
    places = ("--store", str(store), "--queue", str(tmp_path / "none.sqlite"))
    result = dlq("replay", *places, "--instance", str(instance), "1", "2", "3", "9", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["replayed"], report["still_failing"]) == (1, 0)
    assert report["letters"][0]["id"] == 1
    reasons = {item["id"]: (item["code"], item["reason"]) for item in report["not_replayed"]}
    assert reasons == {
        "2": ("NOT_REPLAYABLE", "SYNC_ROW"),
        "3": ("NOT_REPLAYABLE", "OTHER_INSTANCE"),
        "9": ("NOT_FOUND", "NOT_FOUND"),
    }
    assert [e["eventKey"] for e in users(api)["u1"]["events"]] == ["Signed Up"]
    left = json.loads(dlq("list", *places, "--json").stdout)
    assert [row["id"] for row in left] == [2, 3]


def test_replay_for_the_wrong_instance_does_nothing_and_exits_1(
    project: tuple[ContentstackEmulator, Path, Path], tmp_path: Path
) -> None:
    api, store, _ = project
    other = write_instance(tmp_path, api.url, name="third")
    places = ("--store", str(store), "--queue", str(tmp_path / "none.sqlite"))
    result = dlq("replay", *places, "--instance", str(other))
    assert result.exit_code == 1
    assert "Replayed 0, still failing 0, not replayed 3." in result.stdout
    assert "[OTHER_INSTANCE]" in result.stderr
    assert "[SYNC_ROW]" in result.stderr
    assert users(api) == {}


def test_show_of_a_missing_id_is_not_found_and_a_malformed_id_a_usage_error(
    project: tuple[ContentstackEmulator, Path, Path],
) -> None:
    _, store, _ = project
    missing = dlq("show", "--store", str(store), "queue:4", "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"]["code"] == "NOT_FOUND"
    malformed = dlq("show", "--store", str(store), "letter-4")
    assert malformed.exit_code == 2
    assert "Traceback" not in malformed.output


# -- a Redis stream's dead entries ------------------------------------------------------------


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


def test_a_redis_dead_entry_is_listed_and_replayed(redis: RedisServer, tmp_path: Path) -> None:
    stream = f"dlq-{tmp_path.name}"

    async def bury() -> None:
        async with RedisStreamQueue(redis.url, stream=stream, max_tries=1) as queue:
            await queue.put([QueuedEvent(EVENT, ("personalize",))])
            [entry] = await queue.take(1, block=1.0)
            await queue.fail(entry, "personalize/Events: failed CONNECTION_FAILED")
            assert await queue.dead_count() == 1

    asyncio.run(bury())
    # A server queueing on that stream (as `actionkit serve --redis`) shows it in /metrics.
    queue = RedisStreamQueue(redis.url, stream=stream)

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    config = server_config(tmp_path, "http://127.0.0.1:9")
    with serving(create_app(config, queue, lifespan=closing)) as url:
        text = httpx.get(f"{url}/metrics").text
    assert metric(text, "actionkit_queue_dead_entries") == 1.0

    places = ("--redis", redis.url, "--stream", stream, "--store", str(tmp_path / "none"))
    places += ("--queue", str(tmp_path / "none.sqlite"))
    [row] = json.loads(dlq("list", *places, "--json").stdout)
    assert row["where"] == "redis"
    assert row["id"].startswith("redis:")
    assert (row["error_code"], row["attempts"]) == ("TRIES_EXHAUSTED", 1)
    assert "CONNECTION_FAILED" in row["error_message"]
    with ContentstackEmulator() as api:
        instance = write_instance(tmp_path, api.url)
        result = dlq("replay", *places, "--instance", str(instance), row["id"], "--json")
        assert result.exit_code == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["letters"][0]["outcome"] == "delivered"
        assert [e["eventKey"] for e in users(api)["u1"]["events"]] == ["Signed Up"]
    assert json.loads(dlq("list", *places, "--json").stdout) == []


def test_a_redis_dead_stream_past_a_thousand_entries_is_listed_whole(
    redis: RedisServer, tmp_path: Path
) -> None:
    stream = f"many-{tmp_path.name}"

    async def bury() -> None:
        async with RedisStreamQueue(redis.url, stream=stream, max_tries=1) as queue:
            for start in range(0, 1005, 201):
                await queue.put(
                    [
                        QueuedEvent({**EVENT, "messageId": f"m-{n}"}, ("personalize",))
                        for n in range(start, min(start + 201, 1005))
                    ]
                )
            taken = 0
            while taken < 1005:
                for entry in await queue.take(500, block=1.0):
                    await queue.fail(entry, "personalize/Events: failed CONNECTION_FAILED")
                    taken += 1

    asyncio.run(bury())
    places = ("--redis", redis.url, "--stream", stream, "--store", str(tmp_path / "none"))
    places += ("--queue", str(tmp_path / "none.sqlite"))
    listed = dlq("list", *places, "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1005
    assert sorted(row["message_id"] for row in rows) == sorted(f"m-{n}" for n in range(1005))
    last = rows[-1]["id"]
    shown = dlq("show", *places, last, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["message_id"] == rows[-1]["message_id"]
