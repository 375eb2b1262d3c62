"""The arguments of the Redis queue's PUT script, built for many items at once.

For each item the script takes five values (:data:`framework.queue.redis_scripts.PUT`):
its partition's index in KEYS (from 1), its stored text, its order keys as a JSON list, and
the partition of its marker (0: none) with the marker's keys. They go to Redis as one JSON
array (:func:`put_argv`), which the script decodes: one argument for the puts of a call
(each put a group of its own), where packing five arguments an item was the largest cost of
a put. :class:`GroupedPuts` sends the puts that arrive while a call is on its way together in
the next one. :func:`put_args` builds the
values from the items' partitions and texts; :func:`fresh_put_args` does it for the items a server
puts, choosing their partitions too, with a shortcut for the common event (one user, no
alias): its one key chose its partition, so it needs no marker, and its keys' text is written
without a JSON encoder when ``json.dumps`` would write it as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable, Sequence

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json writes the same values
    orjson = None  # type: ignore[assignment]

from framework.delivery.ordering import order_keys
from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_partitions import StreamKeys

__all__ = ["GroupedPuts", "PutResult", "fresh_put_args", "keys_json", "put_args", "put_argv"]


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


def put_args(keys: StreamKeys, rows: list[tuple[int, str, QueuedEvent | None]]) -> list[str | int]:
    """The PUT script's arguments for each item of ``rows`` after max_length and the count:
    ``(partition, stored text, the item or None when unreadable)``."""
    args: list[str | int] = []
    for place, text, item in rows:
        users = list(order_keys(item.event)) if item is not None else []
        marker = keys.marker_of(users, place)
        args += [place + 1, text, keys_json(users)]
        args += [marker[0] + 1, json.dumps(marker[1])] if marker else [0, ""]
    return args


def fresh_put_args(keys: StreamKeys, items: list[QueuedEvent]) -> tuple[list[int], list[str | int]]:
    """The partition of each item and the PUT script's arguments for all of them, in order.

    What ``put_args`` gives for the items with the partitions ``keys.partition_of`` chooses,
    one item after the other (so that items without a user are spread as before).
    """
    partitions = keys.partitions
    places: list[int] = []
    args: list[str | int] = []
    for item in items:
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
            place = zlib.crc32(key.encode("utf-8", "surrogatepass")) % partitions
            args += [place + 1, encode_item(item), keys_json((key,)), 0, ""]
        else:
            place = keys.partition_of(item)
            args += put_args(keys, [(place, encode_item(item), item)])
        places.append(place)
    return places, args


def put_argv(max_length: int, groups: list[list[str | int]]) -> list[str | int]:
    """The PUT script's ARGV: ``max_length`` (-1: no bound) and ``groups`` (for each put, the
    five values of each of its items, as :func:`put_args` gives them) as one JSON array.

    The array's strings decode in the script to the texts given, whichever JSON writer wrote
    them: orjson, or ``json`` for a string orjson refuses (a lone surrogate, which Redis's
    client then refuses to send, as it did each text on its own).
    """
    blob = None
    if orjson is not None:
        with contextlib.suppress(TypeError):  # a lone surrogate: json writes it
            blob = orjson.dumps(groups).decode("utf-8")
    if blob is None:
        blob = json.dumps(groups, ensure_ascii=False)
    return [max_length, blob]


PutResult = list[str] | int
"""What the PUT script gives a group: its new IDs, or the entries stored when it was full."""

SendGroups = Callable[[list[list[str | int]]], Awaitable[list[PutResult]]]
"""Runs the PUT script on some groups (each a put's values); a result for each, in order."""


class GroupedPuts:
    """Puts that arrive while one script call is on its way go together in the next call.

    Each put is a group of its own, stored all or none in turn (a put that would pass the
    bound is refused alone, as it would be on its own); each caller waits for its call's
    answer, so a put still returns only once its entries are appended. Under concurrent
    requests one call carries several puts, and its cost (the client's command path and the
    round trip) is shared; a put on its own goes at the next turn of the event loop.
    """

    def __init__(self, send: SendGroups) -> None:
        self._send = send
        self._waiting: list[tuple[list[str | int], asyncio.Future[PutResult]]] = []
        self._task: asyncio.Task[None] | None = None

    async def put(self, rows: list[str | int]) -> PutResult:
        """Send ``rows`` (one put's values) with the next call; what the script gives it.

        Raises what the call raised, for every put that went with it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PutResult] = loop.create_future()
        self._waiting.append((rows, future))
        if self._task is None:
            self._task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[list[str | int], asyncio.Future[PutResult]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._send([rows for rows, _ in batch])
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
