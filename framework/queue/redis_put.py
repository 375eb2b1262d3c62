"""The arguments of the Redis queue's PUT script, built for many items at once.

For each item the script takes five values (:data:`framework.queue.redis_scripts.PUT`):
its partition's index in KEYS (from 1), its stored text, its order keys as a JSON list, and
the partition of its marker (0: none) with the marker's keys. Before them come the bound,
the number of puts in the call and each put's item count (:func:`put_argv`): the puts that
arrive while a call is on its way go together in the next one (:class:`GroupedPuts`), each
all or none.

:func:`put_args` builds the values from the items' partitions and texts. A server's puts go
the fast way: :func:`fresh_put_args` chooses their partitions and writes their values
straight as the Redis protocol's bulk strings (:func:`bulk_strings`), with a shortcut for the
common event (one user, no alias: its one key chose its partition, so it needs no marker,
and its keys' text is written without a JSON encoder), and :func:`put_command` frames a
call's puts as one ``EVALSHA`` command, sent by :class:`~framework.queue.redis_wire.HeldConnection`.
The stored text travels as the item's own bytes: no JSON array around the texts to write, nor
for the script to decode, and no client layer packing arguments one by one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cache
from itertools import chain

from framework.delivery.ordering import order_keys
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item_bytes, encode_item_drafts
from framework.queue.redis_partitions import StreamKeys

__all__ = [
    "GroupedPuts",
    "PutResult",
    "bulk_strings",
    "fresh_put_args",
    "keys_json",
    "put_args",
    "put_argv",
    "put_command",
    "script_command",
]


def keys_json(keys: Sequence[str]) -> str:
    """``json.dumps(list(keys))``, the same text, written directly for one plain key.

    A plain key is printable ASCII without a quote or a backslash: exactly the strings
    ``json.dumps`` writes between quotes unchanged.
    """
    if len(keys) == 1:
        key = keys[0]
        if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
            return '["' + key + '"]'
    return json.dumps(list(keys))


def bulk_strings(values: Iterable[str | int | bytes]) -> bytes:
    """``values`` as the Redis protocol's bulk strings (``$<length>\\r\\n<bytes>\\r\\n``), as
    Redis clients send a command's arguments: text as UTF-8, an integer in decimal."""
    parts = []
    for value in values:
        data = (
            value
            if isinstance(value, bytes)
            else (str(value) if isinstance(value, int) else value).encode("utf-8")
        )
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


@cache
def _index(number: int) -> bytes:
    """``number`` as a bulk string (a partition's index in KEYS)."""
    return bulk_strings([number])


def put_args(keys: StreamKeys, rows: list[tuple[int, str, QueuedEvent | None]]) -> list[str | int]:
    """The PUT script's five values for each item of ``rows``: ``(partition, stored text,
    the item or None when unreadable)``."""
    args: list[str | int] = []
    for place, text, item in rows:
        users = list(order_keys(item.event)) if item is not None else []
        marker = keys.marker_of(users, place)
        args += [place + 1, text, keys_json(users)]
        args += [marker[0] + 1, json.dumps(marker[1])] if marker else [0, ""]
    return args


def fresh_put_args(keys: StreamKeys, items: list[QueuedEvent]) -> tuple[list[int], bytes]:
    """The partition of each item, and the PUT script's values for all of them in order as
    bulk strings.

    ``bulk_strings(put_args(...))`` for the items with the partitions ``keys.partition_of``
    chooses, one item after the other (so that items without a user are spread as before).
    Raises :class:`~framework.errors.QueueError` for an item holding a lone surrogate
    (:func:`~framework.queue.codec.encode_item_bytes`).
    """
    texts = encode_item_drafts(items)
    # ``null`` looked for once in all the drafts: where one holds it (perhaps a NaN orjson
    # wrote as null), or orjson refused the item, the item is written exactly.
    if None in texts or b"null" in b"".join(text for text in texts if text is not None):
        texts = [
            text if text is not None and b"null" not in text else encode_item_bytes(item)
            for item, text in zip(items, texts, strict=True)
        ]
    partitions = keys.partitions
    known = _ONE_USER
    places: list[int] = []
    parts: list[bytes] = []
    append = parts.append
    for item, text in zip(items, texts, strict=True):
        assert text is not None
        event = item.event
        key = None
        if event.__class__ is dict and event.get("type") != "alias":
            # Its one order key is its lane key (order_keys), which chose the partition.
            user = event.get("userId")
            key = user if isinstance(user, str) and user else None
            if key is None:
                anonymous = event.get("anonymousId")
                key = anonymous if isinstance(anonymous, str) and anonymous else None
        if key is not None:
            # Its partition, text and keys_json((key,)), no marker.
            written = known.get((key, partitions))
            if written is None:
                written = _one_user(key, keys)
            place, head, tail = written
            append(head)
            append(b"%d\r\n" % len(text))
            append(text)
            append(tail)
        else:
            place = keys.partition_of(item)
            values: list[str | int | bytes] = [*put_args(keys, [(place, "", item)])]
            values[1] = text
            append(bulk_strings(values))
        places.append(place)
    return places, b"".join(parts)


_ONE_USER: dict[tuple[str, int], tuple[int, bytes, bytes]] = {}
"""For a user key and a partition count: the partition of the user's events, and what a
one-user item's values hold before its text's length and after its text (:func:`_one_user`).
A server sees the same users again and again; the cache is emptied when it reaches
:data:`_ONE_USER_MOST` keys."""

_ONE_USER_MOST = 16_384


def _one_user(key: str, keys: StreamKeys) -> tuple[int, bytes, bytes]:
    """Partition, head and tail of the values of an item whose one order key is ``key``."""
    place = keys.partition_of_key(key)
    users = keys_json((key,)).encode("ascii")  # json.dumps escapes every non-ASCII character
    head = _index(place + 1) + b"$"
    tail = b"\r\n" + bulk_strings([users, 0, ""])
    if len(_ONE_USER) >= _ONE_USER_MOST:
        _ONE_USER.clear()
    _ONE_USER[key, keys.partitions] = written = (place, head, tail)
    return written


def put_argv(max_length: int, groups: list[list[str | int]]) -> list[str | int]:
    """The PUT script's ARGV for ``groups`` (each a put's values, five an item, as
    :func:`put_args` gives them): ``max_length`` (-1: no bound), the number of groups, each
    group's item count, then every group's values in turn."""
    counts = [len(group) // 5 for group in groups]
    return [max_length, len(groups), *counts, *chain.from_iterable(groups)]


def script_command(
    sha: str, keys: Sequence[str], args: Sequence[str | int], values: Sequence[bytes], count: int
) -> list[bytes]:
    """The ``EVALSHA`` of the script ``sha`` on ``keys`` with ``args``, then ``count`` more
    arguments already written as bulk strings in ``values``, framed as the Redis protocol
    sends a command. Parts to write one after the other."""
    head: list[str | int] = ["EVALSHA", sha, len(keys), *keys, *args]
    return [b"*%d\r\n" % (len(head) + count), bulk_strings(head), *values]


def put_command(
    sha: str, keys: Sequence[str], max_length: int, groups: Sequence[tuple[int, bytes]]
) -> list[bytes]:
    """The ``EVALSHA`` of the PUT script (``sha``, on ``keys``: ``StreamKeys.put_keys``) for
    ``groups``, each a put's item count and its values as bulk strings
    (:func:`fresh_put_args`): the same ARGV as :func:`put_argv`."""
    counts = [count for count, _ in groups]
    args = [max_length, len(groups), *counts]
    return script_command(sha, keys, args, [values for _, values in groups], 5 * sum(counts))


PutResult = str | int
"""What the PUT script gives a group: its new IDs joined by commas, or the entries stored when
it was full."""

SendGroups = Callable[[list[tuple[int, bytes]]], Awaitable[list[PutResult]]]
"""Runs the PUT script on some groups (each a put's item count and values); a result for each,
in order."""


class GroupedPuts:
    """Puts that arrive while one script call is on its way go together in the next call.

    Each put is a group of its own, stored all or none in turn (a put that would pass the
    bound is refused alone, as it would be on its own); each caller waits for its call's
    answer, so a put still returns only once its entries are appended. Under concurrent
    requests one call carries several puts, and its cost (the command's framing and the round
    trip) is shared; a put on its own goes at the next turn of the event loop. One call is on
    its way at a time.
    """

    def __init__(self, send: SendGroups) -> None:
        self._send = send
        self._waiting: list[tuple[tuple[int, bytes], asyncio.Future[PutResult]]] = []
        self._task: asyncio.Task[None] | None = None

    async def put(self, count: int, values: bytes) -> PutResult:
        """Send one put (``count`` items, their ``values``) with the next call; what the
        script gives it.

        Raises what the call raised, for every put that went with it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PutResult] = loop.create_future()
        self._waiting.append(((count, values), future))
        if self._task is None:
            self._task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[tuple[int, bytes], asyncio.Future[PutResult]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._send([group for group, _ in batch])
                except Exception as exc:  # handed to every put of the call, never swallowed
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._task = None
            # Cancelled (the loop is closing): no put is left waiting for good.
            for _, future in [*batch, *self._waiting]:
                if not future.done():
                    future.cancel()
