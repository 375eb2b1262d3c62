"""The Redis queue on a real redis-server: at least once, takeovers, dead stream, bounds.

Order, ownership, defer and the earlier single stream: tests/test_redis_partitions.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
from redis_queue_helpers import run, take_until
from redis_server import RedisServer, free_port, redis_server

from framework.errors import QueueError, QueueFullError
from framework.queue import Entry, QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_stream import RedisStreamQueue


def track(n: int, user: str = "u1") -> QueuedEvent:
    return QueuedEvent({"type": "track", "userId": user, "event": f"E{n}"}, ("a",))


def partition_streams(stream: str, partitions: int = 16) -> list[str]:
    return [f"{{{stream}}}:p{index}" for index in range(partitions)]


def stored(admin: redis.Redis, stream: str) -> int:
    """Entries in the queue's partition streams, as Redis sees them."""
    return sum(int(admin.xlen(key)) for key in partition_streams(stream))


async def die(queue: RedisStreamQueue) -> None:
    """End a consumer as a crash would: no ack, no fail, no goodbye to the group."""
    if queue._keeper is not None:
        queue._keeper.cancel()
    queue._closed = True
    await queue._redis.aclose()


def queue_for(server: RedisServer, stream: str, **options: Any) -> RedisStreamQueue:
    return RedisStreamQueue(server.url, stream=stream, **options)


def test_put_take_ack_round_trip_keeps_order_and_instances(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[str], list[Entry], int, int, list[Entry]]:
        async with queue_for(server, stream, consumer="c1") as queue:
            ids = await queue.put([track(i) for i in range(3)])
            entries = await queue.take(10, block=0.1)
            before = await queue.depth()
            await queue.ack([entry.id for entry in entries])
            after = await queue.depth()
            again = await queue.take(10, block=0.05)
        return ids, entries, before, after, again

    ids, entries, before, after, again = run(scenario())
    assert [entry.id for entry in entries] == ids
    assert [entry.item.event["event"] for entry in entries] == ["E0", "E1", "E2"]
    assert {entry.item.instances for entry in entries} == {("a",)}
    assert {entry.tries for entry in entries} == {1}
    assert (before, after, again) == (3, 0, [])
    # Acked entries are deleted, not only acknowledged: the partitions hold nothing.
    assert stored(admin, stream) == 0


def test_events_put_before_any_worker_existed_are_delivered(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> list[Entry]:
        async with queue_for(server, stream) as producer:
            await producer.put([track(0), track(1)])
        async with queue_for(server, stream, consumer="late") as worker:
            return await take_until(worker, 2)

    assert [entry.item.event["event"] for entry in run(scenario())] == ["E0", "E1"]


def test_two_workers_share_the_partitions_and_never_the_same_entry(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[list[Entry], list[Entry], set[int], set[int]]:
        async with (
            queue_for(server, stream, consumer="a", claim_idle=0.3) as first,
            queue_for(server, stream, consumer="b", claim_idle=0.3) as second,
        ):
            await first.put([track(i, user=f"u{i}") for i in range(40)])
            taken_a: list[Entry] = []
            taken_b: list[Entry] = []
            deadline = time.monotonic() + 30  # bounds a hang only
            while time.monotonic() < deadline and (
                len(taken_a) + len(taken_b) < 40
                or len(first.ownership.owned) != 8
                or len(second.ownership.owned) != 8
            ):
                for queue, taken in ((first, taken_a), (second, taken_b)):
                    entries = await queue.take(40, block=0.02)
                    await queue.ack([entry.id for entry in entries])  # done: free to give up
                    taken += entries
            return (
                taken_a,
                taken_b,
                set(first.ownership.owned),
                set(second.ownership.owned),
            )

    taken_a, taken_b, owned_a, owned_b = run(scenario())
    assert len(taken_a) + len(taken_b) == 40
    assert not {e.id for e in taken_a} & {e.id for e in taken_b}
    assert not owned_a & owned_b  # one owner a partition
    assert len(owned_a) == len(owned_b) == 8  # shared fairly once both are known
    # Each entry came from a partition its taker owned when it took it.
    assert {int(e.id.split("/")[0]) for e in taken_b} <= set(range(16))


def test_an_entry_left_by_a_dead_worker_is_handed_out_by_the_next_owner(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[Entry], bool, list[Entry]]:
        dead = queue_for(server, stream, consumer="dead", claim_idle=0.3)
        await dead.put([track(0)])
        taken = await dead.take(1, block=0.1)
        [partition] = {int(entry.id.split("/")[0]) for entry in taken}
        await die(dead)
        # While its lease lasts, the partition is the dead worker's: nobody takes from it.
        leased = str(admin.get(f"{{{stream}}}:lease:{partition}") or "").startswith("dead:")
        async with queue_for(server, stream, consumer="other", claim_idle=0.3) as other:
            claimed = await take_until(other, 1)
            await other.ack([claimed[0].id])
        return taken, leased, claimed

    taken, leased, claimed = run(scenario())
    assert leased
    assert claimed[0].id == taken[0].id
    assert claimed[0].item == taken[0].item
    assert claimed[0].tries == 2


def test_concurrent_acks_share_round_trips_and_all_take_effect(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    def xack_calls() -> int:
        """Scripts run: each ack round trip runs one (the keeper, every 10 s, no more here)."""
        return int(admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    async def scenario() -> tuple[int, int]:
        async with queue_for(server, stream) as queue:
            await queue.put([track(i) for i in range(50)])
            entries = await take_until(queue, 50)
            before = xack_calls()
            await asyncio.gather(*(queue.ack([entry.id]) for entry in entries))
            return xack_calls() - before, await queue.depth()

    calls, depth = run(scenario())
    assert depth == 0
    assert calls < 50


def test_a_partition_in_hand_is_kept_from_other_workers_past_claim_idle(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    claim_idle = 0.6  # the holder renews its leases every 0.2 s

    async def scenario() -> tuple[list[Entry], int, bool]:
        async with queue_for(server, stream, consumer="slow", claim_idle=claim_idle) as slow:
            await slow.put([track(0)])
            [entry] = await take_until(slow, 1)
            lease = f"{{{stream}}}:lease:{entry.id.split('/')[0]}"
            # Three renewals seen on Redis's clock: the lease outlived its first claim_idle.
            renewals, last = 0, admin.pttl(lease)
            deadline = time.monotonic() + 60  # bounds a hang only
            while renewals < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                now = admin.pttl(lease)
                renewals += now > last
                last = now
            async with queue_for(server, stream, consumer="other", claim_idle=claim_idle) as other:
                stolen = await other.take(1, block=0.05)
                mine = int(entry.id.split("/")[0]) in other.ownership.owned
            await slow.ack([entry.id])
            return stolen, renewals, mine

    stolen, renewals, mine = run(scenario())
    assert renewals == 3
    assert stolen == []
    assert not mine


def test_fail_hands_back_with_the_try_counted_then_dead_letters_after_max_tries(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[list[int], int, list[dict[str, Any]]]:
        async with queue_for(server, stream, consumer="c", claim_idle=0.1, max_tries=3) as queue:
            await queue.put([track(7)])
            tries = []
            for _ in range(3):
                [entry] = await take_until(queue, 1)
                tries.append(entry.tries)
                await queue.fail(entry, "personalize/Events: retryable_failure RETRYABLE_ERROR")
            return tries, await queue.depth(), await queue.dead_entries()

    tries, depth, dead = run(scenario())
    assert tries == [1, 2, 3]
    assert depth == 0
    [letter] = dead
    assert letter["event"]["event"] == "E7"
    assert letter["instances"] == ["a"]
    assert letter["tries"] == 3
    assert letter["error"] == "personalize/Events: retryable_failure RETRYABLE_ERROR"


def test_an_entry_that_keeps_killing_its_consumer_goes_to_the_dead_stream(
    server: RedisServer, stream: str
) -> None:
    options: dict[str, Any] = {"claim_idle": 0.1, "max_tries": 2}

    async def scenario() -> tuple[list[Entry], list[Entry], list[dict[str, Any]], int]:
        async with queue_for(server, stream) as producer:
            await producer.put([track(1)])
        taken = []
        for n in range(2):
            doomed = queue_for(server, stream, consumer=f"doomed{n}", **options)
            taken.extend(await take_until(doomed, 1))
            await die(doomed)
        async with queue_for(server, stream, consumer="third", **options) as third:
            deadline = time.monotonic() + 60  # bounds a hang only: the loop ends at depth 0
            handed: list[Entry] = []
            while await third.depth() and time.monotonic() < deadline:
                handed.extend(await third.take(1, block=0.05))
            return taken, handed, await third.dead_entries(), await third.depth()

    taken, handed, dead, depth = run(scenario())
    assert [entry.tries for entry in taken] == [1, 2]
    assert handed == []  # a third take would exceed max_tries: buried instead
    assert depth == 0
    [letter] = dead
    assert letter["tries"] == 2
    assert "never acknowledged" in letter["error"]


def test_an_entry_that_is_not_a_queued_event_is_dead_lettered_not_handed_out(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[Entry], list[dict[str, Any]]]:
        async with queue_for(server, stream) as queue:
            admin.xadd(f"{{{stream}}}:p0", {"item": "{not json", "keys": "[]"})
            await queue.put([track(2)])
            entries = await take_until(queue, 1)
            await queue.ack([entry.id for entry in entries])
            deadline = time.monotonic() + 30  # bounds a hang only
            while await queue.depth() and time.monotonic() < deadline:
                entries += await queue.take(1, block=0.02)
            return entries, await queue.dead_entries()

    entries, dead = run(scenario())
    assert [entry.item.event["event"] for entry in entries] == ["E2"]
    [letter] = dead
    assert letter["event"] is None
    assert letter["error"] == "The entry is not a queued event."


def test_a_full_stream_refuses_a_put_whole_and_accepts_again_once_acked(
    server: RedisServer, stream: str
) -> None:
    async def scenario() -> tuple[QueueFullError, int, list[str]]:
        async with queue_for(server, stream, max_length=3) as queue:
            await queue.put([track(0), track(1)])
            with pytest.raises(QueueFullError) as refused:
                await queue.put([track(2), track(3)])
            depth = await queue.depth()
            entries = await queue.take(1, block=0.1)
            await queue.ack([entries[0].id])
            accepted = await queue.put([track(2), track(3)])
        return refused.value, depth, accepted

    refused, depth, accepted = run(scenario())
    assert refused.code == "QUEUE_FULL"
    assert refused.retry_after > 0
    assert depth == 2  # all or nothing: neither of the refused pair was stored
    assert len(accepted) == 2


def test_the_bound_holds_exactly_under_concurrent_puts(server: RedisServer, stream: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        queues = [queue_for(server, stream, max_length=25) for _ in range(4)]

        async def put_one(n: int) -> bool:
            try:
                await queues[n % 4].put([track(n, user=f"u{n % 9}")])
            except QueueFullError:
                return False
            return True

        try:
            results = await asyncio.gather(*(put_one(n) for n in range(100)))
            depth = await queues[0].depth()
        finally:
            for queue in queues:
                await queue.close()
        return sum(results), len(results) - sum(results), depth

    accepted, refused, depth = run(scenario())
    assert (accepted, refused, depth) == (25, 75, 25)  # one bound over every partition


def test_an_unreachable_redis_is_a_queue_error_without_the_password(stream: str) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        queue = RedisStreamQueue(url, stream=stream)
        try:
            await queue.put([track(0)])
        finally:
            await queue.close()

    with pytest.raises(QueueError) as raised:
        run(scenario())
    assert raised.value.code == "QUEUE_FAILED"
    assert "s3cret-pw" not in str(raised.value)
    assert isinstance(raised.value.__cause__, redis.RedisError)


def test_a_key_of_the_wrong_type_is_a_queue_error(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    admin.set(stream, "not a stream")

    async def scenario() -> None:
        async with queue_for(server, stream):
            pass

    with pytest.raises(QueueError) as raised:
        run(scenario())
    assert raised.value.code == "QUEUE_FAILED"
    assert stream in str(raised.value)


def test_partitions_deleted_under_the_workers_are_created_again(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> list[Entry]:
        async with queue_for(server, stream) as queue:
            await queue.put([track(4)])
            [first] = await take_until(queue, 1)
            await queue.ack([first.id])
            admin.delete(*partition_streams(stream))
            await queue.put([track(5)])
            return await take_until(queue, 1)

    assert [entry.item.event["event"] for entry in run(scenario())] == ["E5"]


def test_closing_gives_the_partitions_up_at_once_and_the_next_owner_hands_out_their_entries(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    async def scenario() -> tuple[list[Entry], list[Entry], list[str]]:
        async with queue_for(server, stream, consumer="leaving", claim_idle=3600) as leaving:
            await leaving.put([track(0), track(1, user="u2")])
            taken = await take_until(leaving, 2)
        leases = [str(key) for key in admin.keys(f"{{{stream}}}:lease:*")]
        async with queue_for(server, stream, consumer="next", claim_idle=3600) as following:
            again = await take_until(following, 2)  # no lease to wait for: an hour otherwise
            await following.ack([entry.id for entry in again])
        return taken, again, leases

    taken, again, leases = run(scenario())
    assert leases == []
    assert sorted(entry.id for entry in again) == sorted(entry.id for entry in taken)
    assert {entry.tries for entry in again} == {2}


def test_entries_survive_a_redis_crash_with_the_append_only_file(stream: str) -> None:
    with redis_server(appendonly=True) as durable:

        async def put() -> list[str]:
            async with RedisStreamQueue(durable.url, stream=stream) as queue:
                return await queue.put([track(i) for i in range(5)])

        async def take() -> list[Entry]:
            async with RedisStreamQueue(durable.url, stream=stream) as queue:
                return await take_until(queue, 5)

        ids = run(put())
        durable.kill()
        durable.start()
        entries = run(take())
    assert [entry.id for entry in entries] == ids


def test_the_same_queue_recovers_once_redis_is_back(stream: str) -> None:
    with redis_server(appendonly=True) as durable:

        async def scenario() -> tuple[QueueError, list[Entry]]:
            async with RedisStreamQueue(durable.url, stream=stream) as queue:
                await queue.put([track(0)])
                durable.kill()
                with pytest.raises(QueueError) as down:
                    await queue.take(1, block=0.05)
                durable.start()
                return down.value, await take_until(queue, 1)

        down, entries = run(scenario())
    assert down.code == "QUEUE_FAILED"
    assert entries[0].item.event["event"] == "E0"


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_length", 0), ("claim_idle", 0), ("max_tries", 0), ("partitions", 0)],
)
def test_options_out_of_range_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        RedisStreamQueue("redis://127.0.0.1:1/0", **{option: value})


def _bury_many(admin: redis.Redis, stream: str, count: int) -> list[str]:
    """Put ``count`` dead entries in ``{stream}:dead`` as the queue writes them; their IDs."""
    pipe = admin.pipeline(transaction=False)
    for n in range(count):
        fields = {
            "item": encode_item(track(n)),
            "entry_id": f"1-{n}",
            "tries": "5",
            "code": "TRIES_EXHAUSTED",
            "error": "personalize/Events: failed CONNECTION_FAILED",
            "failed_at": "1700000000.5",
        }
        pipe.xadd(f"{stream}:dead", fields)  # type: ignore[arg-type]
    return [str(dead_id) for dead_id in pipe.execute()]


@pytest.mark.parametrize("page", [1000, 7, 1050, 1051])
def test_the_whole_dead_stream_is_read_past_one_page(
    server: RedisServer, stream: str, admin: redis.Redis, page: int
) -> None:
    ids = _bury_many(admin, stream, 1050)

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        async with queue_for(server, stream) as queue:
            return await queue.dead_entries(page=page), await queue.dead_count()

    dead, count = run(scenario())
    assert count == 1050
    assert [entry["id"] for entry in dead] == ids
    assert [entry["event"]["event"] for entry in dead] == [f"E{n}" for n in range(1050)]
    assert {entry["code"] for entry in dead} == {"TRIES_EXHAUSTED"}


def test_a_dead_entry_edited_by_hand_is_listed_with_no_numbers(
    server: RedisServer, stream: str, admin: redis.Redis
) -> None:
    admin.xadd(f"{stream}:dead", {"item": "x", "tries": "many", "failed_at": "yesterday"})

    async def scenario() -> list[dict[str, Any]]:
        async with queue_for(server, stream) as queue:
            return await queue.dead_entries()

    [entry] = run(scenario())
    assert (entry["event"], entry["tries"], entry["failed_at"]) == (None, 0, 0.0)
    assert entry["code"] == "TRIES_EXHAUSTED"


def test_more_deferrals_at_once_than_connections_all_take_effect(
    server: RedisServer, stream: str
) -> None:
    # An endpoint pausing makes a worker defer every entry in its hands at once; redis-py's
    # default pool (100 connections) failed those past the hundredth with "Too many
    # connections", and their entries stayed in hand, holding their users.
    async def scenario() -> tuple[int, int]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put([track(n, user=f"u{n}") for n in range(300)])
            entries = await take_until(queue, 300)
            await asyncio.gather(
                *(queue.defer(entry, entry.item, at=time.time() + 3600) for entry in entries)
            )
            return await queue.waiting(), len(await queue.take(10, block=0.05))

    assert run(scenario()) == (300, 0)


def test_an_entry_failing_to_end_during_a_take_of_its_partition_is_handed_out_again(
    server: RedisServer, stream: str
) -> None:
    # A take already on its way to Redis when an ack fails must not clear the flag that makes
    # the next take hand the entry out again (it did: the entry stayed in hand for ever).
    async def scenario() -> list[str]:
        async with RedisStreamQueue(server.url, stream=stream) as queue:
            await queue.put([track(0), track(1)])
            [first] = await take_until(queue, 1)  # E1 waits behind E0 (one user, one take)
            real, home = queue._take, partition_streams(stream)[int(first.id.split("/")[0])]
            meanwhile: list[Entry] = []

            async def take_while_failing(**kwargs: Any) -> Any:
                if kwargs["keys"][0] == home and not meanwhile:
                    meanwhile.append(first)
                    queue._done_with([first.id], failed=True)  # the ack of E0 failed meanwhile
                return await real(**kwargs)

            queue._take = take_while_failing  # type: ignore[assignment]
            while not meanwhile:
                assert await queue.take(10, block=0) == []
            queue._take = real
            again = await take_until(queue, 1)
            return [str(e.item.event["event"]) for e in [first, *again]]

    assert run(scenario()) == ["E0", "E0"]
