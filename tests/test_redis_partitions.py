"""The Redis queue's partitions on a real redis-server: each user's order across workers,
takeovers, defer and waiting across a restart of Redis, aliases, the earlier single stream."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_queue_helpers import run, take_until
from redis_server import RedisServer, redis_server

from framework.delivery.ordering import order_keys
from framework.errors import QueueError, QueueFullError
from framework.queue import Entry, QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_stream import RedisStreamQueue


def event(user: str, n: int, **extra: Any) -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": user, "event": f"{user}-{n}", **extra}, ())


def name(entry: Entry) -> str:
    return str(entry.item.event.get("event") or entry.item.event["type"])


def partition(entry_id: str) -> int:
    return int(entry_id.split("/")[0])


async def die(queue: RedisStreamQueue) -> None:
    """End a worker as a crash would: no ack, no goodbye, its leases left to expire."""
    if queue._keeper is not None:
        # A crash stops the keeper too. A cancellation that reaches it inside a Redis call can
        # be swallowed (see RedisStreamQueue._keep); ``_closing`` ends it then, before its next
        # round, so it neither renews the dead worker's leases nor opens a connection after
        # the close (a connection left open is a ResourceWarning in a later test).
        queue._closing.set()
        queue._keeper.cancel()
        await asyncio.wait({queue._keeper}, timeout=10)
    queue._closed = True
    await queue._redis.aclose()


class Log:
    """What the workers handled, in the order they handled it, per user."""

    def __init__(self) -> None:
        self.by_user: dict[str, list[int]] = {}
        self.count = 0

    def record(self, entry: Entry) -> None:
        user, n = name(entry).rsplit("-", 1)
        self.by_user.setdefault(user, []).append(int(n))
        self.count += 1


async def work(queue: RedisStreamQueue, log: Log, stop: asyncio.Event, rng: random.Random) -> None:
    """A worker: each take's entries handled one after the other, in order, then acked."""
    while not stop.is_set():
        for entry in await queue.take(8, block=0.02):
            await asyncio.sleep(rng.random() / 500)
            log.record(entry)
            await queue.ack([entry.id])


def test_each_users_events_are_handled_in_order_by_three_workers_joining_a_run(
    server: RedisServer, stream: str
) -> None:
    users = [f"user-{n}" for n in range(12)]
    rng = random.Random(12)
    events = [event(users[rng.randrange(len(users))], n) for n in range(400)]

    async def scenario() -> tuple[Log, list[set[int]]]:
        log, stop = Log(), asyncio.Event()
        queues = [
            RedisStreamQueue(server.url, stream=stream, consumer=f"w{n}", claim_idle=2.0)
            for n in range(3)
        ]
        producer = RedisStreamQueue(server.url, stream=stream)
        try:
            await producer.put(events[:100])
            tasks = [asyncio.create_task(work(queues[0], log, stop, random.Random(0)))]
            for n, start in ((1, 100), (2, 200)):
                while log.count < start // 2:  # the others join while the first is busy
                    await asyncio.sleep(0.01)
                await producer.put(events[start : start + 100])
                tasks.append(asyncio.create_task(work(queues[n], log, stop, random.Random(n))))
            await producer.put(events[300:])
            deadline = time.monotonic() + 120  # bounds a hang only
            while log.count < len(events) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            # Shares settle: each worker holds at most ceil(16 / 3) = 6, none twice.
            while time.monotonic() < deadline and (
                sum(len(queue.ownership.owned) for queue in queues) != 16
                or max(len(queue.ownership.owned) for queue in queues) > 6
            ):
                await asyncio.sleep(0.02)
            owned = [set(queue.ownership.owned) for queue in queues]
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            for queue in [*queues, producer]:
                await queue.close()
        return log, owned

    log, owned = run(scenario())
    expected: dict[str, list[int]] = {}
    for n, item in enumerate(events):
        expected.setdefault(item.event["userId"], []).append(n)
    assert log.by_user == expected  # every event once, each user's in the order put
    assert set().union(*owned) == set(range(16))
    assert sum(len(share) for share in owned) == 16
    assert max(len(share) for share in owned) <= 6


def test_a_worker_dying_mid_run_loses_nothing_and_its_partitions_are_taken_over(
    server: RedisServer, stream: str
) -> None:
    events = [event(f"u{n % 5}", n) for n in range(120)]

    async def scenario() -> tuple[Log, list[Entry], list[Entry]]:
        log = Log()
        doomed = RedisStreamQueue(server.url, stream=stream, consumer="doomed", claim_idle=0.5)
        await doomed.put(events)
        for entry in await take_until(doomed, 10):
            log.record(entry)
            await doomed.ack([entry.id])
        held = await take_until(doomed, 10)  # taken, never handled: the worker dies
        await die(doomed)
        stop = asyncio.Event()
        # The survivor's leases last longer: on a loaded machine a lease of 0.5 s can end
        # between two renewals, and the test is about the dead worker's partitions.
        async with RedisStreamQueue(
            server.url, stream=stream, consumer="survivor", claim_idle=3.0
        ) as survivor:
            first = await take_until(survivor, 1)
            for entry in first:
                log.record(entry)
                await survivor.ack([entry.id])
            task = asyncio.create_task(work(survivor, log, stop, random.Random(1)))
            deadline = time.monotonic() + 60  # bounds a hang only
            while await survivor.depth() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            stop.set()
            await task
        return log, held, first

    log, held, first = run(scenario())
    expected: dict[str, list[int]] = {}
    for n, item in enumerate(events):
        expected.setdefault(item.event["userId"], []).append(n)
    assert log.by_user == expected  # nothing lost, nothing twice, each user in order
    # The new owner's first take of each partition is what the dead one held there, oldest
    # first, a try counted; a partition where it held nothing starts at its oldest entry, a
    # first try. (Which partitions the first take reaches depends on the timing.)
    firsts: dict[int, Entry] = {}
    for entry in first:
        firsts.setdefault(partition(entry.id), entry)
    for place, entry in firsts.items():
        held_here = [held_entry for held_entry in held if partition(held_entry.id) == place]
        if held_here:
            oldest = min(
                held_here, key=lambda e: tuple(int(p) for p in e.id.split("/")[1].split("-"))
            )
            assert (entry.id, entry.tries) == (oldest.id, 2)
        else:
            assert entry.tries == 1


def test_a_deferred_entry_and_those_behind_it_survive_a_redis_restart(stream: str) -> None:
    now = [1_000_000.0]

    def queue(url: str, consumer: str) -> RedisStreamQueue:
        return RedisStreamQueue(
            url, stream=stream, consumer=consumer, claim_idle=0.5, clock=lambda: now[0]
        )

    with redis_server(appendonly=True) as durable:

        async def before() -> tuple[list[str], list[str], int]:
            async with queue(durable.url, "first") as first:
                await first.put([event("u1", 0)])
                [head] = await take_until(first, 1)
                later = QueuedEvent(head.item.event, (), retries=1, last_error="p/E: RETRYABLE")
                await first.defer(head, later, at=now[0] + 60)
                await first.put([event("u1", 1), event("u2", 0)])
                taken = await take_until(first, 1)
                await first.ack([entry.id for entry in taken])
                more = await first.take(10, block=0.05)
                return [name(e) for e in taken], [name(e) for e in more], await first.waiting()

        async def after() -> dict[str, Any]:
            async with queue(durable.url, "second") as second:
                seen: dict[str, Any] = {"waiting": await second.waiting()}
                seen["early"] = await second.take(10, block=0.6)  # its lease comes free
                now[0] += 61
                [head] = await take_until(second, 1)
                seen["head"] = (name(head), head.item.retries, head.item.last_error, head.tries)
                seen["behind"] = await second.take(10, block=0.05)
                seen["waiting_after"] = await second.waiting()
                await second.ack([head.id])
                seen["next"] = [name(e) for e in await take_until(second, 1)]
                return seen

        taken, more, waiting = run(before())
        durable.kill()
        durable.start()
        seen = run(after())
    assert taken == ["u2-0"]  # u1's second event waits behind the deferred first
    assert more == []
    assert waiting == 1
    assert seen["waiting"] == 1  # kept by Redis's append-only file
    assert seen["early"] == []  # not due yet
    assert seen["head"] == ("u1-0", 1, "p/E: RETRYABLE", 1)  # the deferring take was no try
    assert seen["behind"] == []
    assert seen["waiting_after"] == 0
    assert seen["next"] == ["u1-1"]


def test_a_run_of_one_user_is_handed_out_in_one_take_and_holds_the_user_until_acked(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[list[str], list[Entry], list[str]]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put([event("u1", n) for n in range(3)])
            run_ = await take_until(queue, 3)
            await queue.put([event("u1", 3)])
            held = await queue.take(10, block=0.1)
            await queue.ack([run_[1].id, run_[0].id])  # acks in any order
            still = await queue.take(10, block=0.05)
            await queue.ack([run_[2].id])
            rest = await take_until(queue, 1)
            return [name(e) for e in run_], held + still, [name(e) for e in rest]

    first, held, rest = run(scenario())
    assert first == ["u1-0", "u1-1", "u1-2"]
    assert held == []
    assert rest == ["u1-3"]


def test_an_alias_goes_with_its_user_id_and_waits_for_its_earlier_events(
    server: RedisServer, stream: str
) -> None:
    # The merge must follow user-9's earlier update: the merged-away user's values win it.
    known = QueuedEvent({"type": "identify", "userId": "user-9", "traits": {"plan": "pro"}}, ())
    alias = QueuedEvent({"type": "alias", "userId": "user-9", "previousId": "anon-7"}, ())

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            ids = await queue.put([known, alias])
            first = await take_until(queue, 1)
            alone = await queue.take(10, block=0.05)
            await queue.ack([first[0].id])
            then = await take_until(queue, 1)
            return (
                ids,
                [e.item.event["type"] for e in first + alone],
                [e.item.event["type"] for e in then],
            )

    ids, first, then = run(scenario())
    assert partition(ids[0]) == partition(ids[1])  # the alias is in user-9's partition
    assert first == ["identify"]  # and is no run member: it waits for user-9's update
    assert then == ["alias"]


def test_entries_of_the_earlier_single_stream_are_moved_into_partitions_in_order(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    admin.xgroup_create(stream, "actionkit", id="0", mkstream=True)
    for n in range(6):
        admin.xadd(stream, {"item": encode_item(event(f"u{n % 2}", n))})
    admin.xreadgroup("actionkit", "old-worker", {stream: ">"}, count=2)  # in an old worker's hands

    async def scenario() -> tuple[int, list[Entry], int]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            depth = await queue.depth()
            taken: list[Entry] = []
            deadline = time.monotonic() + 30  # bounds a hang only
            while len(taken) < 6 and time.monotonic() < deadline:
                entries = await queue.take(10, block=0.05)
                await queue.ack([entry.id for entry in entries])
                taken += entries
            return depth, taken, await queue.depth()

    depth, taken, left = run(scenario())
    assert depth == 6  # counted before they are moved
    assert left == 0
    assert admin.xlen(stream) == 0
    for user in ("u0", "u1"):
        mine = [name(e) for e in taken if e.item.event["userId"] == user]
        assert mine == [f"{user}-{n}" for n in range(6) if f"u{n % 2}" == user]


def test_a_different_partition_count_for_a_stream_is_refused(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[QueueError, int]:
        async with RedisStreamQueue(server.url, stream=stream, partitions=16) as first:
            await first.put([event("u1", 0)])
            other = RedisStreamQueue(server.url, stream=stream, partitions=8)
            try:
                with pytest.raises(QueueError) as refused:
                    await other.put([event("u1", 1)])
            finally:
                await other.close()
            return refused.value, await first.depth()

    refused, depth = run(scenario())
    assert refused.code == "QUEUE_FAILED"
    assert depth == 1


def test_retry_now_makes_waiting_entries_due_keeping_their_state(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[int, int, list[Entry], int]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put([event("u1", 0)])
            [entry] = await take_until(queue, 1)
            await queue.defer(entry, QueuedEvent(entry.item.event, (), retries=2), at=4e9)
            waiting = await queue.waiting()
            made_due = await queue.retry_now()
            again = await take_until(queue, 1)
            return waiting, made_due, again, await queue.waiting()

    waiting, made_due, again, after = run(scenario())
    assert (waiting, made_due, after) == (1, 1, 0)
    assert [(name(e), e.item.retries, e.tries) for e in again] == [("u1-0", 2, 1)]


def test_an_ack_lost_in_a_redis_outage_hands_the_entry_out_again_not_holding_its_user(
    stream: str,
) -> None:
    with redis_server(appendonly=True) as durable:

        async def scenario() -> tuple[list[str], str, list[str], list[Entry], int]:
            async with RedisStreamQueue(durable.url, stream=stream) as queue:
                await queue.put([event("u1", 0), event("u1", 1)])
                taken = await take_until(queue, 2)
                durable.kill()
                with pytest.raises(QueueError) as down:
                    await queue.ack([taken[0].id])
                durable.start()
                again = await take_until(queue, 1)  # u1-0 only: u1-1 is still in hand here
                more = await queue.take(10, block=0.05)
                await queue.ack([again[0].id, taken[1].id])
                return (
                    [name(e) for e in taken],
                    down.value.code,
                    [name(e) for e in again],
                    more,
                    await queue.depth(),
                )

        taken, code, again, more, depth = run(scenario())
    assert taken == ["u1-0", "u1-1"]
    assert code == "QUEUE_FAILED"
    assert again == ["u1-0"]
    assert more == []
    assert depth == 0


def test_closing_ends_the_keeper_even_when_its_cancellation_is_swallowed(
    server: RedisServer, stream: str
) -> None:
    # Seen in CI under load: the cancellation of the keeper was lost inside a Redis call, and
    # the worker never exited. The keeper now also ends on the queue's closing flag.
    async def scenario() -> bool:
        queue = RedisStreamQueue(server.url, stream=stream, claim_idle=0.3)
        inside = asyncio.Event()

        async def stubborn_round() -> None:
            inside.set()
            with contextlib.suppress(asyncio.CancelledError):  # the cancellation is lost
                await asyncio.sleep(0.05)

        await queue.put([event("u1", 0)])
        await queue.take(1, block=0.1)  # the first take starts the keeper
        queue._round = stubborn_round  # type: ignore[method-assign]
        await inside.wait()
        closing = asyncio.ensure_future(queue.close())
        done, _ = await asyncio.wait({closing}, timeout=10)  # bounds a hang only
        assert queue._keeper is not None
        finished = closing in done and queue._keeper.done()
        if not finished:  # let the test end: a second cancellation reaches the sleep
            queue._keeper.cancel()
            await asyncio.gather(closing, return_exceptions=True)
        return finished

    assert run(scenario())


# -- an alias and the user it merges away, in two partitions -----------------------------------

# user-3's events live in partition 8, anon-4's in partition 5 (crc32 % 16).
TARGET, SOURCE = "user-3", "anon-4"


def alias(user: str, previous: str, n: int) -> QueuedEvent:
    return QueuedEvent(
        {"type": "alias", "userId": user, "previousId": previous, "event": f"{user}-{n}"}, ()
    )


def leftovers(admin: redis.Redis, stream: str) -> list[str]:
    """Bookkeeping keys of a stream still in Redis once it is drained (none expected)."""
    kinds = ("k", "gates", "opened", "markers", "waits", "ready", "waiting", "flight")
    return sorted(
        key
        for key in admin.keys("{" + stream + "}:p*")
        if key.rsplit(":", 1)[-1] in kinds or ":k:" in key
    )


def stored(admin: redis.Redis, stream: str) -> int:
    return sum(int(admin.xlen("{" + stream + f"}}:p{n}")) for n in range(16))


def test_an_alias_waits_for_its_merged_away_users_earlier_events_in_another_partition(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    events = [
        event(SOURCE, 0),
        alias(TARGET, SOURCE, 1),
        event(SOURCE, 2),
        event(TARGET, 3),
    ]

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        first = RedisStreamQueue(server.url, stream=stream, consumer="first", claim_idle=0.6)
        second = RedisStreamQueue(server.url, stream=stream, consumer="second", claim_idle=0.6)
        try:
            seen["ids"] = await first.put(events)
            seen["depth"], seen["stored"] = await first.depth(), stored(admin, stream)
            held = await take_until(first, 1)  # anon-4's first event, in hand in partition 5
            seen["held"] = [name(e) for e in held]
            deadline = time.monotonic() + 30  # bounds a hang only
            while 8 not in second.ownership.owned and time.monotonic() < deadline:
                seen.setdefault("early", []).extend(await second.take(10, block=0.05))
            seen["owners"] = (5 in first.ownership.owned, 8 in second.ownership.owned)
            seen["blocked"] = await second.take(10, block=0.1) + await first.take(10, block=0.1)
            await first.ack([held[0].id])
            merged = await take_until(second, 1)
            seen["merged"] = [name(e) for e in merged]
            seen["during"] = await first.take(10, block=0.1) + await second.take(10, block=0.1)
            await second.ack([merged[0].id])
            rest = await take_until(first, 1) + await take_until(second, 1)
            seen["rest"] = sorted(name(e) for e in rest)
            await first.ack([rest[0].id])
            await second.ack([rest[1].id])
            seen["after"] = await first.depth(), stored(admin, stream), leftovers(admin, stream)
        finally:
            await first.close()
            await second.close()
        return seen

    seen = run(scenario())
    assert [partition(entry_id) for entry_id in seen["ids"]] == [5, 8, 5, 8]
    assert (seen["depth"], seen["stored"]) == (4, 5)  # the marker is stored, not counted
    assert seen["held"] == [f"{SOURCE}-0"]
    assert seen.get("early", []) == []
    assert seen["owners"] == (True, True)
    assert seen["blocked"] == []  # the alias waits for anon-4-0, held by the other worker
    assert seen["merged"] == [f"{TARGET}-1"]
    assert seen["during"] == []  # anon-4-2 and user-3-3 wait for the merge
    assert seen["rest"] == [f"{SOURCE}-2", f"{TARGET}-3"]
    assert seen["after"] == (0, 0, [])


def test_an_alias_deferred_holds_its_merged_away_user_until_acked(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    now = [1_000_000.0]

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with RedisStreamQueue(server.url, stream=stream, clock=lambda: now[0]) as queue:
            await queue.put([alias(TARGET, SOURCE, 0), event(SOURCE, 1)])
            [merge] = await take_until(queue, 1)
            later = QueuedEvent(merge.item.event, (), retries=1)
            await queue.defer(merge, later, at=now[0] + 60)
            seen["waiting"] = await queue.waiting()
            seen["while_deferred"] = await queue.take(10, block=0.1)
            now[0] += 61
            [again] = await take_until(queue, 1)
            seen["again"] = (name(again), again.item.retries)
            seen["while_held"] = await queue.take(10, block=0.1)
            await queue.ack([again.id])
            seen["next"] = [name(e) for e in await take_until(queue, 1)]
        return seen

    seen = run(scenario())
    assert seen["waiting"] == 1
    assert seen["while_deferred"] == []  # anon-4-1 waits behind the deferred merge
    assert seen["again"] == (f"{TARGET}-0", 1)
    assert seen["while_held"] == []
    assert seen["next"] == [f"{SOURCE}-1"]


def test_an_alias_held_by_a_dying_worker_holds_its_merged_away_user_through_the_takeover(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        doomed = RedisStreamQueue(server.url, stream=stream, consumer="doomed", claim_idle=0.5)
        await doomed.put([alias(TARGET, SOURCE, 0), event(SOURCE, 1), event(TARGET, 2)])
        seen["doomed"] = [name(e) for e in await take_until(doomed, 1)]
        seen["doomed_more"] = await doomed.take(10, block=0.1)
        await die(doomed)
        async with RedisStreamQueue(
            server.url, stream=stream, consumer="survivor", claim_idle=0.5
        ) as survivor:
            [first] = await take_until(survivor, 1)
            seen["first"] = (name(first), first.tries)
            seen["while_held"] = await survivor.take(10, block=0.2)
            await survivor.ack([first.id])
            rest = await take_until(survivor, 2)
            seen["rest"] = sorted(name(e) for e in rest)
            await survivor.ack([e.id for e in rest])
            seen["after"] = await survivor.depth(), stored(admin, stream), leftovers(admin, stream)
        return seen

    seen = run(scenario())
    assert seen["doomed"] == [f"{TARGET}-0"]
    assert seen["doomed_more"] == []
    assert seen["first"] == (f"{TARGET}-0", 2)  # handed out again first, a try counted
    assert seen["while_held"] == []
    assert seen["rest"] == [f"{SOURCE}-1", f"{TARGET}-2"]
    assert seen["after"] == (0, 0, [])


def test_an_alias_dead_lettered_lets_its_merged_away_user_go_on(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with RedisStreamQueue(server.url, stream=stream, max_tries=1) as queue:
            await queue.put([event(SOURCE, 0), alias(TARGET, SOURCE, 1), event(SOURCE, 2)])
            [before] = await take_until(queue, 1)
            seen["before"] = name(before)
            await queue.ack([before.id])
            [merge] = await take_until(queue, 1)
            seen["merge"] = name(merge)
            seen["while_held"] = await queue.take(10, block=0.1)
            await queue.fail(merge, "p/E: FAILED")
            [after] = await take_until(queue, 1)
            seen["after"] = name(after)
            await queue.ack([after.id])
            dead = await queue.dead_entries()
            seen["dead"] = [(d["entry_id"] == merge.id, d["event"]["type"]) for d in dead]
            seen["removed"] = await queue.remove_dead([d["id"] for d in dead])
            seen["end"] = await queue.depth(), stored(admin, stream), leftovers(admin, stream)
        return seen

    seen = run(scenario())
    assert seen["before"] == f"{SOURCE}-0"
    assert seen["merge"] == f"{TARGET}-1"
    assert seen["while_held"] == []
    assert seen["after"] == f"{SOURCE}-2"
    assert seen["dead"] == [(True, "alias")]
    assert seen["removed"] == 1
    assert seen["end"] == (0, 0, [])


def test_a_marker_is_not_counted_against_max_length(server: RedisServer, stream: str) -> None:
    async def scenario() -> tuple[list[str], int, QueueFullError]:
        async with RedisStreamQueue(server.url, stream=stream, max_length=2) as queue:
            ids = await queue.put([event(SOURCE, 0), alias(TARGET, SOURCE, 1)])
            with pytest.raises(QueueFullError) as full:
                await queue.put([event(SOURCE, 2)])
            return ids, await queue.depth(), full.value

    ids, depth, full = run(scenario())
    assert len(ids) == 2
    assert depth == 2
    assert full.code == "QUEUE_FULL"


def test_an_alias_moved_from_the_earlier_single_stream_waits_for_its_merged_away_user(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    admin.xgroup_create(stream, "actionkit", id="0", mkstream=True)
    for item in (event(SOURCE, 0), alias(TARGET, SOURCE, 1), event(SOURCE, 2)):
        admin.xadd(stream, {"item": encode_item(item)})

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            [first] = await take_until(queue, 1)
            seen["first"] = name(first)
            seen["while_held"] = await queue.take(10, block=0.1)
            await queue.ack([first.id])
            [merge] = await take_until(queue, 1)
            seen["merge"] = name(merge)
            seen["during"] = await queue.take(10, block=0.1)
            await queue.ack([merge.id])
            [last] = await take_until(queue, 1)
            seen["last"] = name(last)
            await queue.ack([last.id])
            seen["end"] = await queue.depth(), stored(admin, stream), leftovers(admin, stream)
        return seen

    seen = run(scenario())
    assert seen["first"] == f"{SOURCE}-0"
    assert seen["while_held"] == []
    assert seen["merge"] == f"{TARGET}-1"
    assert seen["during"] == []
    assert seen["last"] == f"{SOURCE}-2"
    assert seen["end"] == (0, 0, [])


# -- the property: every user's entries, merged-away users' included, in put order --------------

# In 4 partitions: u0, u1, u4 in 0, 2, 1; a0, a1, a5 in 1, 3, 2 (crc32 % 4).
USERS, LEGACY = ("u0", "u1", "u4"), ("a0", "a1", "a5")

_put_events = st.lists(
    st.tuples(st.sampled_from(["user", "legacy", "alias"]), st.integers(0, 2), st.integers(0, 2)),
    min_size=1,
    max_size=16,
)
_actions = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["put", "take", "ack", "defer", "tick"]),
        st.integers(0, 7),
    ),
    max_size=40,
)


def made(kind: str, user: int, legacy: int, n: int) -> QueuedEvent:
    if kind == "alias":
        return QueuedEvent(
            {"type": "alias", "userId": USERS[user], "previousId": LEGACY[legacy], "event": str(n)},
            (),
        )
    who = USERS[user] if kind == "user" else LEGACY[legacy]
    return QueuedEvent({"type": "track", "userId": who, "event": str(n)}, ())


class Referee:
    """Checks each hand-out: every earlier entry sharing a user with it has ended (acked), but
    for the run one take may hand out (earlier entries of the same one user in the same take)."""

    def __init__(self, events: list[QueuedEvent]) -> None:
        self.keys = [set(order_keys(item.event)) for item in events]
        self.acked: set[int] = set()
        self.violations: list[tuple[int, int]] = []

    def take(self, entries: list[Entry]) -> None:
        earlier: list[int] = []
        for entry in entries:
            j = int(name(entry))
            for i in range(j):
                shared = self.keys[i] & self.keys[j]
                if not shared or i in self.acked:
                    continue
                in_run = i in earlier and len(self.keys[i]) == len(self.keys[j]) == 1
                if not in_run:
                    self.violations.append((i, j))
            earlier.append(j)


def test_every_users_entries_are_handed_out_in_put_order_across_aliases_and_consumers(
    server: RedisServer, admin: redis.Redis
) -> None:
    stream = f"alias-property:{time.monotonic_ns()}"
    now = [1_000_000.0]
    loop = asyncio.new_event_loop()
    queues = [
        RedisStreamQueue(
            server.url,
            stream=stream,
            consumer=f"c{n}",
            partitions=4,
            claim_idle=3.0,
            clock=lambda: now[0],
        )
        for n in range(3)
    ]

    async def settle() -> None:
        deadline = time.monotonic() + 30  # bounds a hang only
        while time.monotonic() < deadline:
            for queue in queues:
                assert await queue.take(1, block=0) == []
            owned = [len(queue.ownership.owned) for queue in queues]
            if sum(owned) == 4 and max(owned) <= 2:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the partitions were not shared out")

    async def example(events: list[QueuedEvent], actions: list[tuple[int, str, int]]) -> Referee:
        referee = Referee(events)
        held: list[list[Entry]] = [[] for _ in queues]
        pending = list(events)

        async def end(queue: RedisStreamQueue, entry: Entry) -> None:
            await queue.ack([entry.id])
            referee.acked.add(int(name(entry)))

        for index, kind, k in actions:
            queue, hand = queues[index], held[index]
            if kind == "put" and pending:
                await queue.put(pending[: k + 1])
                del pending[: k + 1]
            elif kind == "take":
                entries = await queue.take(k + 1, block=0)
                referee.take(entries)
                hand += entries
            elif kind in ("ack", "defer") and hand:
                entry = hand.pop(k % len(hand))
                if kind == "ack":
                    await end(queue, entry)
                else:
                    await queue.defer(entry, entry.item, at=now[0] + 1 + k)
            elif kind == "tick":
                now[0] += 5
        if pending:
            await queues[0].put(pending)
        deadline = time.monotonic() + 60  # bounds a hang only
        while len(referee.acked) < len(events) and time.monotonic() < deadline:
            for queue, hand in zip(queues, held, strict=True):
                while hand:
                    await end(queue, hand.pop(0))
                entries = await queue.take(10, block=0)
                referee.take(entries)
                for entry in entries:
                    await end(queue, entry)
            now[0] += 10
            await asyncio.sleep(0.005)
        assert await queues[0].depth() == 0
        return referee

    @settings(max_examples=25)
    @given(shape=_put_events, actions=_actions)
    def check(shape: list[tuple[str, int, int]], actions: list[tuple[int, str, int]]) -> None:
        events = [made(kind, user, legacy, n) for n, (kind, user, legacy) in enumerate(shape)]
        referee = loop.run_until_complete(example(events, actions))
        assert referee.violations == []
        assert referee.acked == set(range(len(events)))
        assert sum(int(admin.xlen("{" + stream + f"}}:p{n}")) for n in range(4)) == 0
        assert leftovers(admin, stream) == []

    try:
        loop.run_until_complete(settle())
        check()
    finally:
        for queue in queues:
            loop.run_until_complete(queue.close())
        loop.close()
