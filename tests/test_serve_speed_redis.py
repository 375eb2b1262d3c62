"""The Redis queue's put shortcuts give the script the arguments the general path gives.

:func:`framework.queue.redis_put.fresh_put_args` chooses partitions and builds the PUT
script's arguments with a shortcut for one-user events, and :func:`keys_json` writes a plain
key's JSON by hand; these tests hold both to the general rule on random items. The arguments
travel as one JSON array that the script decodes: what Redis stores is each item's text and
keys exactly, whatever characters they hold.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, redis_server

from framework.delivery.ordering import order_keys
from framework.errors import QueueError
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_partitions import StreamKeys
from framework.queue.redis_put import GroupedPuts, PutResult, fresh_put_args, keys_json, put_args
from framework.queue.redis_stream import RedisStreamQueue

IDS = st.one_of(
    st.none(),
    st.just(""),
    st.integers(),
    st.sampled_from(["u1", "u2", 'a"b', "a\\b", "é", "\x7f", "tab\there", "\ud800"]),
    st.text(max_size=8),
)


@st.composite
def items(draw: st.DrawFn) -> QueuedEvent:
    event: dict[str, Any] = {"type": draw(st.sampled_from(["track", "identify", "alias"]))}
    for field in ("userId", "anonymousId", "previousId"):
        value = draw(IDS)
        if value is not None or draw(st.booleans()):
            event[field] = value
    return QueuedEvent(event, ("bench",))


@given(st.lists(st.text(max_size=6), max_size=3))
def test_keys_json_is_json_dumps(keys: list[str]) -> None:
    assert keys_json(keys) == json.dumps(keys)


@given(st.lists(items(), max_size=12), st.integers(1, 20))
def test_fresh_put_args_are_the_general_rule_item_by_item(
    batch: list[QueuedEvent], partitions: int
) -> None:
    general, fresh = StreamKeys("s", partitions), StreamKeys("s", partitions)
    places = [general.partition_of(item) for item in batch]
    expected = put_args(
        general,
        [(place, encode_item(item), item) for place, item in zip(places, batch, strict=True)],
    )
    assert fresh_put_args(fresh, batch) == (places, expected)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


TEXTS = st.text(
    st.characters(exclude_categories=["Cs"]),  # no lone surrogate: Redis's client refuses one
    max_size=12,
)


@settings(max_examples=25)
@given(st.lists(st.tuples(TEXTS, TEXTS, st.sampled_from(["track", "alias"])), max_size=6))
def test_redis_stores_each_items_text_and_keys_exactly(
    server: RedisServer, rows: list[tuple[str, str, str]]
) -> None:
    batch = [
        QueuedEvent({"type": kind, "userId": user, "previousId": "p" + user, "event": name})
        for user, name, kind in rows
    ]
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    admin.flushall()

    async def put() -> list[str]:
        async with RedisStreamQueue(server.url, stream="s", partitions=3) as queue:
            return await queue.put(batch)

    ids = asyncio.run(put())
    for entry_id, item in zip(ids, batch, strict=True):
        place, _, stream_id = entry_id.partition("/")
        [(_, fields)] = admin.xrange("{s}:p" + place, stream_id, stream_id)
        assert fields["item"] == encode_item(item)
        assert fields["keys"] == keys_json(order_keys(item.event))
    admin.close()


def test_puts_waiting_together_go_in_one_call_and_errors_reach_each() -> None:
    calls: list[list[list[str | int]]] = []

    async def send(groups: list[list[str | int]]) -> list[PutResult]:
        calls.append(groups)
        await asyncio.sleep(0)
        if any("boom" in rows for rows in groups):
            raise QueueError("Redis cannot be used.")
        return [[f"id-{rows[0]}"] for rows in groups]

    async def scenario() -> list[Any]:
        puts = GroupedPuts(send)
        first = await asyncio.gather(*(puts.put([n]) for n in range(4)))
        failed = await asyncio.gather(puts.put(["boom"]), puts.put([9]), return_exceptions=True)
        return [first, failed]

    first, failed = asyncio.run(scenario())
    assert first == [["id-0"], ["id-1"], ["id-2"], ["id-3"]]
    assert calls[0] == [[0], [1], [2], [3]]  # all four waited for the same call
    assert [type(result) for result in failed] == [QueueError, QueueError]


def test_puts_of_one_call_meet_the_bound_in_turn_each_all_or_none(server: RedisServer) -> None:
    sizes = [3, 3, 2, 1]

    async def scenario() -> tuple[list[Any], int]:
        async with RedisStreamQueue(server.url, stream="bound", max_length=5) as queue:
            batches = [
                [QueuedEvent({"type": "track", "userId": f"u{n}{i}"}) for i in range(size)]
                for n, size in enumerate(sizes)
            ]
            results = await asyncio.gather(
                *(queue.put(batch) for batch in batches), return_exceptions=True
            )
            return results, await queue.depth()

    redis.Redis.from_url(server.url).flushall()
    results, depth = asyncio.run(scenario())
    assert [len(r) if isinstance(r, list) else r.code for r in results] == [
        3,
        "QUEUE_FULL",  # 3 + 3 > 5: refused alone
        2,
        "QUEUE_FULL",  # 5 stored
    ]
    assert depth == 5
