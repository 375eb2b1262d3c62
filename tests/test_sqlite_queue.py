"""The embedded SQLite event queue: durable puts, leases, tries, dead entries, back-pressure."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.errors import QueueError, QueueFullError
from framework.queue import QueuedEvent
from framework.queue.sqlite import SqliteDeadEntries, SqliteQueue


def track(n: int) -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": "u1", "event": f"E{n}"}, ("a",))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_put_then_take_hands_out_entries_in_order_with_their_instances(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[Any], int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            ids = await queue.put([track(i) for i in range(3)])
            entries = await queue.take(10, block=0)
            depth = await queue.depth()
        return ids, entries, depth

    ids, entries, depth = run(scenario())
    assert [e.id for e in entries] == ids
    assert [e.item.event["event"] for e in entries] == ["E0", "E1", "E2"]
    assert {e.item.instances for e in entries} == {("a",)}
    assert {e.tries for e in entries} == {1}
    assert depth == 3  # taken is not acked


def test_a_taken_entry_is_not_handed_out_again_while_held(tmp_path: Path) -> None:
    async def scenario() -> list[Any]:
        async with SqliteQueue(tmp_path / "q.sqlite", claim_idle=0.01) as queue:
            await queue.put([track(0)])
            first = await queue.take(10, block=0)
            await asyncio.sleep(0.05)  # the lease has expired; the handler still holds it
            second = await queue.take(10, block=0)
        return [first, second]

    first, second = run(scenario())
    assert len(first) == 1
    assert second == []


def test_ack_removes_and_fail_gives_back_with_the_try_counted(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, list[int], int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track(0), track(1)])
            a, b = await queue.take(2, block=0)
            await queue.ack([a.id])
            await queue.fail(b, "503")
            again = await queue.take(2, block=0)
            return await queue.depth(), [e.tries for e in again], len(await queue.dead_entries())

    depth, tries, dead = run(scenario())
    assert depth == 1
    assert tries == [2]
    assert dead == 0


def test_an_entry_failed_max_tries_times_moves_to_dead_entries_with_its_error(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        async with SqliteQueue(tmp_path / "q.sqlite", max_tries=2) as queue:
            await queue.put([track(7)])
            for attempt in range(2):
                [entry] = await queue.take(1, block=0)
                await queue.fail(entry, f"boom {attempt}")
            assert await queue.take(1, block=0) == []
            return await queue.depth(), await queue.dead_entries()

    depth, dead = run(scenario())
    assert depth == 0
    [letter] = dead
    assert (letter["tries"], letter["error"], letter["instances"]) == (2, "boom 1", ["a"])
    assert letter["event"]["event"] == "E7"


def test_a_full_queue_refuses_the_whole_put_and_stores_nothing(tmp_path: Path) -> None:
    async def scenario() -> tuple[QueueFullError, int]:
        async with SqliteQueue(tmp_path / "q.sqlite", max_length=3) as queue:
            await queue.put([track(0), track(1)])
            with pytest.raises(QueueFullError) as caught:
                await queue.put([track(2), track(3)])
            return caught.value, await queue.depth()

    error, depth = run(scenario())
    assert error.code == "QUEUE_FULL"
    assert error.retry_after > 0
    assert depth == 2


def test_concurrent_puts_are_each_all_or_none(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Any], int]:
        async with SqliteQueue(tmp_path / "q.sqlite", max_length=10) as queue:
            results = await asyncio.gather(
                *(queue.put([track(i), track(i)]) for i in range(8)), return_exceptions=True
            )
            return results, await queue.depth()

    results, depth = run(scenario())
    stored = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, QueueFullError)]
    assert (len(stored), len(refused)) == (5, 3)
    assert depth == 10
    assert len({entry_id for ids in stored for entry_id in ids}) == 10


def test_take_wakes_up_when_an_entry_is_put(tmp_path: Path) -> None:
    async def scenario() -> list[Any]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            waiting = asyncio.create_task(queue.take(5, block=30))
            await asyncio.sleep(0.01)
            await queue.put([track(0)])
            return await asyncio.wait_for(waiting, 60)  # bounds a hang only

    entries = run(scenario())
    assert [e.item.event["event"] for e in entries] == ["E0"]


def test_entries_taken_and_not_acked_are_handed_out_again_after_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite"

    async def first() -> None:
        queue = SqliteQueue(path, claim_idle=3600)
        await queue.put([track(0), track(1)])
        [entry, _] = await queue.take(2, block=0)
        await queue.ack([entry.id])
        await queue.close()

    async def second() -> list[Any]:
        async with SqliteQueue(path, claim_idle=3600) as queue:
            return await queue.take(5, block=0)

    run(first())
    entries = run(second())
    assert [(e.item.event["event"], e.tries) for e in entries] == [("E1", 2)]


def test_a_put_answered_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    script = (
        "import asyncio, os, sys\n"
        "from framework.queue import QueuedEvent\n"
        "from framework.queue.sqlite import SqliteQueue\n"
        "async def main():\n"
        f"    q = SqliteQueue({str(path)!r})\n"
        "    await q.put([QueuedEvent({'type': 'track', 'userId': 'u', 'event': 'E'})])\n"
        "    print('stored', flush=True)\n"
        "    os._exit(9)  # no close, no cleanup\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "stored", result.stderr

    async def reopen() -> list[Any]:
        async with SqliteQueue(path) as queue:
            return await queue.take(5, block=0)

    [entry] = run(reopen())
    assert entry.item.event["event"] == "E"


def test_a_second_owner_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> QueueError:
        async with SqliteQueue(path) as queue:
            await queue.put([track(0)])
            other = SqliteQueue(path)
            with pytest.raises(QueueError) as caught:
                await other.depth()
            await other.close()
            return caught.value

    error = run(scenario())
    assert error.code == "QUEUE_FAILED"
    assert "another process" in error.message


def test_a_file_that_is_not_a_database_is_a_queue_error(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    path.write_bytes(b"not a database at all" * 100)

    async def scenario() -> None:
        queue = SqliteQueue(path)
        try:
            await queue.put([track(0)])
        finally:
            await queue.close()

    with pytest.raises(QueueError) as caught:
        run(scenario())
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_closed_queue_refuses_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        queue = SqliteQueue(tmp_path / "q.sqlite")
        await queue.put([track(0)])
        await queue.close()
        await queue.put([track(1)])

    with pytest.raises(QueueError, match="closed"):
        run(scenario())


def test_the_file_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"

    async def scenario() -> tuple[str, int]:
        async with SqliteQueue(path) as queue:
            await queue.put([track(0)])
            db = queue._db()  # the owner's connection, read on its own thread
            return await queue._run(
                lambda: (
                    db.execute("PRAGMA journal_mode").fetchone()[0],
                    db.execute("PRAGMA synchronous").fetchone()[0],
                )
            )

    journal, synchronous = run(scenario())
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL


def test_an_entry_that_is_not_a_queued_event_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"

    async def scenario() -> tuple[list[str], list[dict[str, Any]]]:
        async with SqliteQueue(path) as queue:
            await queue.put([QueuedEvent({"type": "track", "event": "A"})])
            await queue.put([QueuedEvent({"type": "track", "event": "B"})])
        db = sqlite3.connect(path)  # someone edits the file by hand
        with db:
            db.execute("UPDATE entries SET item = 'not json' WHERE id = 1")
        db.close()
        async with SqliteQueue(path) as queue:
            taken = await queue.take(10, block=0)
            return [entry.item.event["event"] for entry in taken], await queue.dead_entries()

    names, dead = asyncio.run(scenario())
    assert names == ["B"]
    assert [(d["id"], d["event"], d["error"]) for d in dead] == [
        ("1", None, "The entry is not a queued event.")
    ]


# -- another process beside the owner ---------------------------------------------------------

_BESIDE = """
import asyncio, json, sys
from framework.errors import QueueError
from framework.queue.sqlite import SqliteDeadEntries, SqliteQueue
async def main(path):
    async with SqliteDeadEntries(path) as dead:
        listed = await dead.dead_entries()
        removed = await dead.remove_dead([entry["id"] for entry in listed])
        left = await dead.dead_count()
    owner = SqliteQueue(path)
    try:
        await owner.depth()
        refused = None
    except QueueError as exc:
        refused = exc.code
    await owner.close()
    print(json.dumps({"listed": listed, "removed": removed, "left": left, "refused": refused}))
asyncio.run(main(sys.argv[1]))
"""


def test_another_process_reads_and_removes_dead_entries_while_the_owner_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.sqlite"

    async def scenario() -> tuple[dict[str, Any], list[Any], list[Any], int, list[str]]:
        async with SqliteQueue(path, claim_idle=3600, max_tries=1) as queue:
            await queue.put([track(0), track(1)])
            doomed, held = await queue.take(2, block=0)
            await queue.fail(doomed, "personalize/Events: failed INTEGRATION_ERROR")
            beside = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", _BESIDE, str(path)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert beside.returncode == 0, beside.stderr
            # The reader cleared no lease: the held entry is still held, and then acked.
            again = await queue.take(5, block=0)
            await queue.ack([held.id])
            await queue.put([track(2)])
            after = await queue.take(5, block=0)
            return (
                json.loads(beside.stdout),
                again,
                await queue.dead_entries(),
                await queue.depth(),
                [entry.item.event["event"] for entry in after],
            )

    beside, again, dead, depth, after = run(scenario())
    [listed] = beside["listed"]
    assert (listed["id"], listed["code"], listed["tries"]) == ("1", "TRIES_EXHAUSTED", 1)
    assert listed["event"]["event"] == "E0"
    assert (beside["removed"], beside["left"]) == (1, 0)
    assert beside["refused"] == "QUEUE_FAILED"  # a second owner, in another process
    assert again == []
    assert dead == []
    assert (depth, after) == (1, ["E2"])


def test_the_dead_entries_reader_creates_nothing_and_reads_a_bare_file_as_empty(
    tmp_path: Path,
) -> None:
    absent = tmp_path / "absent.sqlite"
    bare = tmp_path / "bare.sqlite"
    sqlite3.connect(bare).close()

    async def scenario() -> tuple[list[Any], int, int]:
        async with SqliteDeadEntries(bare) as dead:
            return await dead.dead_entries(), await dead.dead_count(), await dead.remove_dead(["1"])

    assert run(scenario()) == ([], 0, 0)
    with pytest.raises(QueueError):
        run(SqliteDeadEntries(absent).dead_entries())
    assert not absent.exists()


def test_the_dead_entries_reader_reads_a_file_written_before_dead_entries_had_a_code(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "CREATE TABLE dead_entries (id INTEGER PRIMARY KEY, item TEXT NOT NULL,"
            " tries INTEGER NOT NULL, error TEXT NOT NULL, failed_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO dead_entries VALUES (4, 'x', 2, 'boom', 0)")
    db.close()
    [entry] = run(SqliteDeadEntries(path).dead_entries())
    assert (entry["id"], entry["code"], entry["event"]) == ("4", "TRIES_EXHAUSTED", None)


def test_the_owner_lock_is_a_file_beside_the_queue_released_on_close(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"

    async def scenario() -> None:
        async with SqliteQueue(path) as first:
            await first.put([track(0)])
        async with SqliteQueue(path) as second:  # the first let go: no refusal
            assert await second.depth() == 1

    run(scenario())
    assert (tmp_path / "queue.sqlite.lock").exists()
