"""The Redis queue's put shortcuts give the script the arguments the general path gives.

:func:`framework.queue.redis_put.fresh_put_args` chooses partitions and writes the PUT
script's arguments as the Redis protocol's bulk strings, with a shortcut for one-user events,
and :func:`keys_json` writes a plain key's JSON by hand; these tests hold both to the general
rule on random items. The command is framed by hand and sent on a held connection: what
Redis stores is each item's text and keys exactly, whatever characters they hold.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import RedisServer

from framework.delivery.ordering import order_keys
from framework.errors import QueueError
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_partitions import StreamKeys
from framework.queue.redis_put import (
    GroupedPuts,
    PutResult,
    bulk_strings,
    fresh_put_args,
    keys_json,
    put_args,
    put_argv,
    put_command,
)
from framework.queue.redis_scripts import PUT
from framework.queue.redis_stream import RedisStreamQueue
from framework.queue.redis_wire import script_sha
from framework.queue.sqlite import SqliteQueue

IDS = st.one_of(
    st.none(),
    st.just(""),
    st.integers(),
    st.sampled_from(["u1", "u2", 'a"b', "a\\b", "é", "\x7f", "tab\there"]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=8),  # lone surrogates: below
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
    assert fresh_put_args(fresh, batch) == (places, bulk_strings(expected))


def test_bulk_strings_are_what_redis_py_sends_for_the_same_arguments() -> None:
    values: list[str | int | bytes] = ["EVALSHA", 3, -1, "", "é \r\n \x00", b"raw"]
    packed = redis.Redis().connection_pool.make_connection().pack_command(*values)
    ours = b"*%d\r\n" % len(values) + bulk_strings(values)
    assert b"".join(packed) == ours


@given(
    st.lists(st.lists(st.sampled_from(["a", "é", 7, -1, ""]), max_size=10), max_size=4),
)
def test_the_framed_command_is_evalsha_with_put_argv(groups: list[list[str | int]]) -> None:
    groups = [group[: len(group) // 5 * 5] for group in groups]  # five values an item
    streams = ["{s}:p0", "{s}:p1"]
    framed = put_command(
        "f" * 40, streams, 9, [(len(group) // 5, bulk_strings(group)) for group in groups]
    )
    argv = put_argv(9, groups)
    values = ["EVALSHA", "f" * 40, len(streams), *streams, *argv]
    assert b"".join(framed) == b"*%d\r\n" % len(values) + bulk_strings(values)
    assert script_sha(PUT) == redis.Redis().register_script(PUT).sha


TEXTS = st.text(
    st.characters(exclude_categories=["Cs"]),  # a lone surrogate is refused (the last test)
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
    calls: list[list[tuple[int, bytes]]] = []

    async def send(groups: list[tuple[int, bytes]]) -> list[PutResult]:
        calls.append(groups)
        await asyncio.sleep(0)
        if any(values == b"boom" for _, values in groups):
            raise QueueError("Redis cannot be used.")
        return [f"id-{count}" for count, _ in groups]

    async def scenario() -> list[Any]:
        puts = GroupedPuts(send)
        first = await asyncio.gather(*(puts.put(n, b"v%d" % n) for n in range(4)))
        failed = await asyncio.gather(
            puts.put(1, b"boom"), puts.put(9, b"v"), return_exceptions=True
        )
        return [first, failed]

    first, failed = asyncio.run(scenario())
    assert first == ["id-0", "id-1", "id-2", "id-3"]
    assert calls[0] == [(n, b"v%d" % n) for n in range(4)]  # all four waited for one call
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


def test_an_event_holding_a_lone_surrogate_is_refused_and_nothing_is_queued(
    server: RedisServer, tmp_path: Path
) -> None:
    good = QueuedEvent({"type": "track", "userId": "u1", "event": "fine"})
    bad = QueuedEvent({"type": "track", "userId": "u2", "event": "bad \ud800"})

    async def put(queue: RedisStreamQueue | SqliteQueue) -> tuple[str, int]:
        async with queue:
            with pytest.raises(QueueError) as refused:
                await queue.put([good, bad])
            return str(refused.value), await queue.depth()

    redis.Redis.from_url(server.url).flushall()
    for queue in (RedisStreamQueue(server.url, stream="s"), SqliteQueue(tmp_path / "q.sqlite")):
        message, depth = asyncio.run(put(queue))
        assert "lone surrogate" in message
        assert depth == 0


def test_puts_go_on_after_the_script_is_flushed_and_the_connection_killed(
    server: RedisServer,
) -> None:
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    admin.flushall()

    def event(n: int) -> QueuedEvent:
        return QueuedEvent({"type": "track", "userId": f"u{n}", "event": f"e{n}"})

    async def scenario() -> int:
        async with RedisStreamQueue(server.url, stream="s") as queue:
            await queue.put([event(0)])
            admin.script_flush()  # Redis forgets the script: it is loaded again
            await queue.put([event(1)])
            admin.client_kill_filter(_type="normal", skipme=True)  # the held connection too
            await queue.put([event(2)])  # sent again on a new connection
            return await queue.depth()

    assert asyncio.run(scenario()) == 3
    admin.close()


def test_a_put_cancelled_on_its_way_leaves_the_connection_usable(server: RedisServer) -> None:
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    admin.flushall()

    async def scenario() -> tuple[bool, list[str], int]:
        async with RedisStreamQueue(server.url, stream="s") as queue:
            await queue.put([QueuedEvent({"type": "track", "userId": "u0"})])
            admin.client_pause(300)  # the next command waits in Redis, unanswered
            waiting = asyncio.ensure_future(
                queue.put([QueuedEvent({"type": "track", "userId": "u1"})])
            )
            await asyncio.sleep(0.1)
            waiting.cancel()
            cancelled = False
            try:
                await waiting
            except asyncio.CancelledError:
                cancelled = True
            # The reply of the cancelled command must never be read as this put's.
            ids = await queue.put([QueuedEvent({"type": "track", "userId": "u2"})])
            return cancelled, ids, await queue.depth()

    cancelled, ids, depth = asyncio.run(scenario())
    assert cancelled
    assert len(ids) == 1
    [(_, fields)] = admin.xrange("{s}:p" + ids[0].split("/")[0], ids[0].split("/")[1], "+")
    assert '"userId":"u2"' in fields["item"]
    assert depth in (2, 3)  # the cancelled put may have been stored: at least once
    admin.close()
