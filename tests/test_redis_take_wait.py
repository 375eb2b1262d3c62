"""A Redis take with nothing to hand out waits; it does not spin on a partition it gave up."""

from __future__ import annotations

import asyncio

from redis_server import RedisServer

from framework.queue import QueuedEvent
from framework.queue.redis_stream import RedisStreamQueue


def test_a_due_time_of_a_partition_given_up_does_not_make_a_take_spin(
    server: RedisServer, stream: str
) -> None:
    # Seen in an outage run: a worker that had given a partition up kept its past due time,
    # and every take of its own empty partitions then looped without waiting, at 60% CPU.

    async def scenario() -> tuple[int, list[str]]:
        async with RedisStreamQueue(server.url, stream=stream, partitions=4) as queue:
            await queue.put([QueuedEvent({"type": "track", "userId": "u1", "event": "E"}, ())])
            [entry] = await queue.take(1, block=5)
            await queue.ack([entry.id])
            given_up = queue.ownership.active()[-1]
            queue.ownership.leaving.add(given_up)  # being given up: no longer taken from
            queue._next_due[given_up] = queue.clock() - 60  # a due time left from before
            rounds = 0
            original = queue._take_once

            async def counted(max_count: int) -> list[object]:
                nonlocal rounds
                rounds += 1
                return await original(max_count)  # type: ignore[return-value]

            queue._take_once = counted  # type: ignore[assignment,method-assign]
            taken = await queue.take(1, block=0.5)
            return rounds, [str(e) for e in taken]

    rounds, taken = asyncio.run(scenario())
    assert taken == []
    assert rounds < 50  # about one look per 0.1 s poll; a spin makes thousands
