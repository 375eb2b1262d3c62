"""Where the SQLite queue commits a put: on the event loop while its thread is idle and commits
are quick, else on its thread (framework/queue/sqlite.py, the module docstring)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from framework.queue import sqlite as sqlite_module
from framework.queue.sqlite import SqliteQueue


def track(n: int, user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": f"E{n}"}


class Commits:
    """Each call of the queue's ``insert_batches``: the thread it ran on and its batch count."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    @property
    def threads(self) -> list[int]:
        return [thread for thread, _ in self.calls]

    @property
    def sizes(self) -> list[int]:
        return [size for _, size in self.calls]


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Commits:
    seen = Commits()
    insert = sqlite_module.insert_batches

    def recording(db: sqlite3.Connection, batches: list[tuple[str, int]]) -> None:
        seen.calls.append((threading.get_ident(), len(batches)))
        insert(db, batches)

    monkeypatch.setattr(sqlite_module, "insert_batches", recording)
    return seen


def stored_events(path: Path) -> int:
    """Events committed to the inbox, read through a connection of its own."""
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT COALESCE(SUM(events), 0) FROM inbox").fetchone()
    return int(count)


def test_a_put_commits_on_the_event_loop_while_the_thread_is_idle(
    tmp_path: Path, commits: Commits
) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> int:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(1), track(2)], ("a",))
            return stored_events(path)  # committed before put_events returned

    assert asyncio.run(scenario()) == 2
    assert commits.threads == [threading.get_ident()]


def test_puts_made_in_one_turn_of_the_loop_share_one_commit(
    tmp_path: Path, commits: Commits
) -> None:
    async def put(queue: SqliteQueue, n: int, later: bool) -> None:
        if later:  # its handler resumes after the first put has asked for a commit
            await asyncio.sleep(0)
        await queue.put_events([track(n)], ("a",))

    async def scenario() -> int:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await asyncio.gather(*(put(queue, n, later=n % 2 == 1) for n in range(8)))
            return await queue.depth()

    assert asyncio.run(scenario()) == 8
    assert commits.sizes == [8]


def test_a_put_waits_on_the_thread_while_another_process_holds_the_write_lock(
    tmp_path: Path, commits: Commits
) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> tuple[bool, int]:
        async with SqliteQueue(path) as queue:
            await queue.put_events([track(0)], ("a",))  # the file and its tables exist
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # as `actionkit dlq` removing a row does
            put = asyncio.ensure_future(queue.put_events([track(1)], ("a",)))
            # The loop keeps running while the put waits (had it waited on the loop, the lock
            # would never be released here, and the put would fail).
            await asyncio.sleep(0.05)
            waited = not put.done()
            other.execute("COMMIT")
            other.close()
            await put
            return waited, stored_events(path)

    waited, stored = asyncio.run(scenario())
    assert waited
    assert stored == 2
    main = threading.get_ident()
    assert commits.threads[0] == main
    assert commits.threads[-1] != main


def test_after_slow_commits_puts_commit_on_the_thread(
    tmp_path: Path, commits: Commits, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any commit is slower than no time at all: a disk too slow for the loop to wait on.
    monkeypatch.setattr(sqlite_module, "_INLINE_COMMIT_MOST", 0.0)

    async def scenario() -> int:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            for n in range(3):
                await queue.put_events([track(n)], ("a",))
            return await queue.depth()

    assert asyncio.run(scenario()) == 3
    main = threading.get_ident()
    assert commits.threads[0] == main
    assert all(thread != main for thread in commits.threads[1:])


def test_puts_beside_a_busy_consumer_are_each_handed_out_once_in_order(
    tmp_path: Path, commits: Commits
) -> None:
    # Puts commit on the loop or on the thread as the consumer's calls come and go.
    users = ["u0", "u1", "u2"]
    per_user = 60

    async def produce(queue: SqliteQueue, user: str) -> None:
        for start in range(0, per_user, 3):
            await queue.put_events([track(n, user) for n in range(start, start + 3)], ("a",))
            await asyncio.sleep(0)

    async def consume(queue: SqliteQueue, seen: list[dict[str, Any]]) -> None:
        while len(seen) < len(users) * per_user:
            entries = await queue.take(7, block=0.05)
            seen += [entry.item.event for entry in entries]
            await queue.ack([entry.id for entry in entries])

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        seen: list[dict[str, Any]] = []
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await asyncio.wait_for(
                asyncio.gather(consume(queue, seen), *(produce(queue, u) for u in users)), 60
            )
            return seen, await queue.depth()

    seen, depth = asyncio.run(scenario())
    assert depth == 0
    for user in users:
        names = [event["event"] for event in seen if event["userId"] == user]
        assert names == [f"E{n}" for n in range(per_user)]
    assert sum(commits.sizes) == len(users) * per_user // 3


def test_a_put_while_a_take_runs_on_the_thread_commits_there_after_it(
    tmp_path: Path, commits: Commits, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, gate = threading.Event(), threading.Event()
    choose = sqlite_module.choose

    def held_choose(*args: Any) -> Any:
        entered.set()
        gate.wait(10)  # the take holds the thread until the test lets it go
        return choose(*args)

    monkeypatch.setattr(sqlite_module, "choose", held_choose)

    async def scenario() -> tuple[bool, int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            take = asyncio.ensure_future(queue.take(10, block=0))
            while not entered.is_set():
                await asyncio.sleep(0.001)
            put = asyncio.ensure_future(queue.put_events([track(1)], ("a",)))
            await asyncio.sleep(0.05)
            waited = not put.done()
            gate.set()
            await asyncio.gather(take, put)
            return waited, await queue.depth()

    waited, depth = asyncio.run(scenario())
    assert waited
    assert depth == 1
    assert commits.threads
    assert threading.get_ident() not in commits.threads
