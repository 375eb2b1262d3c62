"""The SQLite queue keeps each user's entries in order: ordered take, defer, waiting, migration."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from framework.delivery.ordering import order_keys
from framework.queue import Entry, QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.sqlite import SqliteQueue

FAR = 3600.0
"""Seconds ahead for a deferred entry that must not come back during a test."""


def track(user: str, name: str) -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": user, "event": name}, ("a",))


def alias(user: str, previous: str, name: str) -> QueuedEvent:
    return QueuedEvent(
        {"type": "alias", "userId": user, "previousId": previous, "event": name}, ("a",)
    )


def names(entries: list[Entry]) -> list[str]:
    return [entry.item.event["event"] for entry in entries]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_users_next_entry_waits_while_the_earlier_one_is_in_hand(tmp_path: Path) -> None:
    async def scenario() -> list[list[str]]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u2", "X"), track("u1", "B")])
            first = await queue.take(1, block=0)
            second = await queue.take(10, block=0)
            await queue.ack([first[0].id])
            third = await queue.take(10, block=0)
            return [names(first), names(second), names(third)]

    assert run(scenario()) == [["A"], ["X"], ["B"]]


def test_a_users_consecutive_entries_leave_together_in_one_take(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u2", "X"), track("u1", "B")])
            await queue.put([track("u1", "C"), QueuedEvent({"type": "track", "event": "K"})])
            return names(await queue.take(10, block=0))

    assert run(scenario()) == ["A", "X", "B", "C", "K"]


def test_an_alias_leaves_only_first_of_both_users_and_ends_their_runs(tmp_path: Path) -> None:
    async def scenario() -> list[list[str]]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put(
                [
                    track("u1", "A"),
                    alias("u2", "u1", "AL"),
                    track("u2", "B"),
                    track("u1", "C"),
                    track("u3", "D"),
                ]
            )
            takes = []
            for _ in range(3):
                taken = await queue.take(10, block=0)
                takes.append(names(taken))
                await queue.ack([entry.id for entry in taken])
            return takes

    # A and the alias share u1: the alias waits for A's ack; B and C wait for the alias's.
    assert run(scenario()) == [["A", "D"], ["AL"], ["B", "C"]]


def test_an_alias_first_in_the_queue_leaves_alone(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([alias("u2", "u1", "AL"), track("u1", "A"), track("u9", "Z")])
            return names(await queue.take(10, block=0))

    assert run(scenario()) == ["AL", "Z"]


def test_a_deferred_entry_holds_its_users_later_entries_and_no_one_elses(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[list[str], int, int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u1", "B"), track("u2", "C")])
            [entry] = await queue.take(1, block=0)
            await queue.defer(entry, entry.item, at=time.time() + FAR)
            taken = await queue.take(10, block=0)
            return names(taken), await queue.waiting(), await queue.depth()

    assert run(scenario()) == (["C"], 1, 3)


def test_a_deferred_entry_comes_back_at_its_time_with_its_retry_state(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Entry], int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u1", "B")])
            [entry, _] = await queue.take(2, block=0)
            await queue.ack([_.id])  # B is done; A waits for a retry
            retried = QueuedEvent(
                entry.item.event,
                entry.item.instances,
                done=(("a", "m1"),),
                retries=1,
                first_failed_at=123.5,
                last_error="m2 RETRYABLE_ERROR",
            )
            await queue.defer(entry, retried, at=time.time() + 0.2)
            waiting = await queue.waiting()
            # No put, ack or defer wakes it: the deferred entry's own time does.
            back = await asyncio.wait_for(queue.take(10, block=60), 120)  # bounds a hang
            return back, waiting

    back, waiting = run(scenario())
    assert waiting == 1
    [entry] = back
    assert entry.item.event["event"] == "A"
    assert (entry.item.done, entry.item.retries) == ((("a", "m1"),), 1)
    assert (entry.item.first_failed_at, entry.item.last_error) == (123.5, "m2 RETRYABLE_ERROR")
    assert entry.tries == 1  # the take before the defer is not counted


def test_a_defer_due_now_wakes_a_waiting_take(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A")])
            [entry] = await queue.take(1, block=0)
            waiting = asyncio.create_task(queue.take(10, block=60))
            await asyncio.sleep(0.01)
            await queue.defer(entry, entry.item, at=time.time() - 1)
            return names(await asyncio.wait_for(waiting, 120))  # bounds a hang only

    assert run(scenario()) == ["A"]


def test_defers_never_count_as_tries(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], int]:
        async with SqliteQueue(tmp_path / "q.sqlite", max_tries=2) as queue:
            await queue.put([track("u1", "A")])
            tries = []
            for _ in range(5):
                [entry] = await queue.take(1, block=0)
                tries.append(entry.tries)
                await queue.defer(entry, entry.item, at=0.0)
            [entry] = await queue.take(1, block=0)
            await queue.fail(entry, "routing crashed")  # its first counted try
            return tries, await queue.dead_count()

    assert run(scenario()) == ([1, 1, 1, 1, 1], 0)


def test_an_entry_acked_before_its_users_first_keeps_the_rest_behind_the_first(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u1", "B"), track("u1", "C")])
            a, b, c = await queue.take(10, block=0)
            await queue.ack([b.id])
            await queue.defer(a, a.item, at=time.time() + FAR)
            await queue.defer(c, c.item, at=0.0)
            held_back = names(await queue.take(10, block=0))
            await queue.ack([a.id])  # A ends (its retry succeeded elsewhere): C may go
            return held_back, names(await queue.take(10, block=0))

    assert run(scenario()) == ([], ["C"])


def test_a_dead_entry_lets_its_users_later_entries_flow(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with SqliteQueue(tmp_path / "q.sqlite", max_tries=1) as queue:
            await queue.put([track("u1", "A"), track("u1", "B")])
            [entry] = await queue.take(1, block=0)
            await queue.fail(entry, "routing crashed")
            return names(await queue.take(10, block=0)), await queue.dead_count()

    assert run(scenario()) == (["B"], 1)


def test_deferred_times_and_order_survive_reopening_and_leases_do_not(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"

    async def first() -> None:
        queue = SqliteQueue(path, claim_idle=FAR)
        await queue.put([track("u1", "A"), track("u1", "B"), track("u2", "C"), track("u3", "D")])
        await queue.put([track("u2", "E")])
        taken = await queue.take(10, block=0)
        assert names(taken) == ["A", "B", "C", "D", "E"]
        by_name = {entry.item.event["event"]: entry for entry in taken}
        await queue.defer(by_name["A"], by_name["A"].item, at=time.time() + FAR)
        await queue.defer(by_name["C"], by_name["C"].item, at=0.0)
        await queue.close()  # B, D and E stay leased in the file

    async def second() -> tuple[list[tuple[str, int]], int, int]:
        async with SqliteQueue(path, claim_idle=FAR) as queue:
            taken = await queue.take(10, block=0)
            pairs = [(entry.item.event["event"], entry.tries) for entry in taken]
            return pairs, await queue.waiting(), await queue.depth()

    run(first())
    taken, waiting, depth = run(second())
    # A is still deferred and holds B; C (due) comes back before E; D's lease was cleared.
    assert taken == [("C", 1), ("D", 2), ("E", 2)]
    assert (waiting, depth) == (1, 5)


_PREVIOUS_SCHEMA = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX entries_lease ON entries (lease_until, id);
CREATE TABLE dead_entries (
    id INTEGER PRIMARY KEY,
    item TEXT NOT NULL,
    tries INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL,
    code TEXT
);
"""


def test_a_file_of_the_previous_version_is_migrated_and_kept_in_order(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_PREVIOUS_SCHEMA)
    rows = [
        encode_item(track("u1", "A")),
        "not a queued event",
        encode_item(alias("u2", "u1", "AL")),
        encode_item(track("u2", "B")),
        encode_item(track("u9", "Z")),
    ]
    with db:
        db.executemany(
            "INSERT INTO entries (item, lease_until) VALUES (?, 99)", [(r,) for r in rows]
        )
    db.close()

    async def scenario() -> tuple[list[list[str]], list[str], int]:
        takes = []
        async with SqliteQueue(path) as queue:
            first = await queue.take(10, block=0)
            takes.append(names(first))
            await queue.ack([entry.id for entry in first])
            for _ in range(2):
                taken = await queue.take(10, block=0)
                takes.append(names(taken))
                await queue.ack([entry.id for entry in taken])
            dead = [entry["id"] for entry in await queue.dead_entries()]
            return takes, dead, await queue.waiting()

    takes, dead, waiting = run(scenario())
    assert takes == [["A", "Z"], ["AL"], ["B"]]
    assert dead == ["2"]  # the entry that is not a queued event is set aside
    assert waiting == 0


# -- a property: random puts, takes, acks and defers --------------------------------------------

_USERS = ("a", "b")

_events = st.one_of(
    st.builds(lambda u: {"type": "track", "userId": u}, st.sampled_from(_USERS)),
    st.builds(lambda u: {"type": "page", "anonymousId": u}, st.sampled_from(_USERS)),
    st.builds(
        lambda u, p: {"type": "alias", "userId": u, "previousId": p},
        st.sampled_from(_USERS),
        st.sampled_from(_USERS),
    ),
    st.just({"type": "track"}),
)

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(_events, min_size=1, max_size=4)),
        st.tuples(st.just("take"), st.integers(1, 6)),
        st.tuples(st.just("ack"), st.integers(0, 5)),
        st.tuples(st.just("defer"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("fail"), st.integers(0, 5)),
    ),
    max_size=25,
)


def _check_take(taken: list[Entry], stored: dict[int, tuple[str, ...]]) -> None:
    """Every earlier stored entry sharing a key is in the same take; an alias is alone."""
    ids = [int(entry.id) for entry in taken]
    assert ids == sorted(set(ids))
    handed = set(ids)
    for position, entry_id in enumerate(ids):
        keys = set(stored[entry_id])
        earlier = [other for other, k in stored.items() if other < entry_id and keys & set(k)]
        assert set(earlier) <= handed, "an entry left before an earlier one of its user"
        if len(keys) > 1:
            assert earlier == [], "an alias left behind an earlier entry of one of its users"
            after = ids[position + 1 :]
            assert not any(keys & set(stored[other]) for other in after), "a run crossed an alias"


async def _scenario(path: Path, ops: list[Any]) -> None:
    stored: dict[int, tuple[str, ...]] = {}  # the model: every entry not acked nor dead
    in_hand: dict[int, Entry] = {}
    future: set[int] = set()  # deferred to a time that never comes in the test
    async with SqliteQueue(path, max_tries=2) as queue:
        for op in ops:
            if op[0] == "put":
                ids = await queue.put([QueuedEvent(event) for event in op[1]])
                stored.update(
                    (int(i), order_keys(event)) for i, event in zip(ids, op[1], strict=True)
                )
            elif op[0] == "take":
                taken = await queue.take(op[1], block=0)
                _check_take(taken, stored)
                assert not {int(entry.id) for entry in taken} & (set(in_hand) | future)
                in_hand.update((int(entry.id), entry) for entry in taken)
            elif in_hand:
                entry_id = sorted(in_hand)[op[1] % len(in_hand)]
                entry = in_hand.pop(entry_id)
                if op[0] == "ack":
                    await queue.ack([entry.id])
                    del stored[entry_id]
                elif op[0] == "defer":
                    await queue.defer(entry, entry.item, at=time.time() + FAR if op[2] else 0.0)
                    if op[2]:
                        future.add(entry_id)
                else:
                    await queue.fail(entry, "routing crashed")
                    if entry.tries >= 2:
                        del stored[entry_id]
        assert await queue.depth() == len(stored)
        assert await queue.waiting() == len(future)
        # Nothing is lost or stuck: draining hands out everything not held behind a deferred
        # entry, and still in order.
        await queue.ack([entry.id for entry in in_hand.values()])
        for entry_id in in_hand:
            del stored[entry_id]
        while taken := await queue.take(10, block=0):
            _check_take(taken, stored)
            await queue.ack([entry.id for entry in taken])
            for entry in taken:
                del stored[int(entry.id)]
        for entry_id, keys in stored.items():
            held_back = entry_id in future or any(
                other < entry_id and set(keys) & set(k) for other, k in stored.items()
            )
            assert held_back, "an entry is stuck though nothing earlier holds it"


@settings(max_examples=200)
@given(_ops)
def test_no_users_entries_ever_leave_out_of_order_and_none_is_lost(ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        run(_scenario(Path(directory) / "q.sqlite", ops))


def test_retry_now_makes_waiting_entries_due_and_wakes_a_waiting_take(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, list[str], int]:
        async with SqliteQueue(tmp_path / "q.sqlite") as queue:
            await queue.put([track("u1", "A"), track("u1", "B"), track("u2", "C")])
            for entry in await queue.take(10, block=0):
                if entry.item.event["event"] == "B":
                    continue  # still in hand: it is not waiting
                retried = QueuedEvent(entry.item.event, entry.item.instances, retries=3)
                await queue.defer(entry, retried, at=time.time() + FAR)
            waiting = await queue.waiting()
            taker = asyncio.create_task(queue.take(10, block=60))
            await asyncio.sleep(0)  # the take is waiting now
            made_due = await queue.retry_now()
            back = await asyncio.wait_for(taker, 120)  # bounds a hang
            return waiting, made_due, names(back), back[0].item.retries

    waiting, made_due, back, retries = run(scenario())
    assert (waiting, made_due) == (2, 2)
    assert back == ["A", "C"]  # both due now, in queue order
    assert retries == 3  # the retry state is kept
