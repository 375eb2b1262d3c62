"""One Redis connection held for a caller's commands, written already framed.

The queue's puts are its hot path (every event a server accepts) and go one call at a time
(:class:`~framework.queue.redis_put.GroupedPuts`), so they need one connection, not the
pool's hand-out and return around each call, nor redis-py's command layer, which packs a
command's arguments one by one: about half the client's CPU of a call (a PING: 82 to 97 µs
through the client, 40 on a held connection; docs/benchmarks.md, "2026-12-05, later"). A
:class:`HeldConnection` takes one connection of redis-py's pool (so the URL's TLS, password,
database and timeouts apply as to every other call), writes a command its caller framed
(:func:`~framework.queue.redis_put.put_command`) and reads the reply with redis-py's parser.
Errors are redis-py's: a broken connection is dropped, and the command is sent once more on
a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError

__all__ = ["HeldConnection", "script_sha"]


def script_sha(script: str) -> str:
    """The SHA1 Redis names ``script`` by (``EVALSHA``)."""
    return hashlib.sha1(script.encode("utf-8")).hexdigest()


class HeldConnection:
    """One connection of ``redis``'s pool, held for commands sent one at a time.

    ``script`` is the Lua script the commands run by ``EVALSHA``: when Redis does not know it
    (a fresh or flushed server), it is loaded and the command sent again.
    """

    def __init__(self, redis: aioredis.Redis, script: str) -> None:
        self._redis = redis
        self._script = script
        self.sha = script_sha(script)
        self._connection: AbstractConnection | None = None
        self._lock = asyncio.Lock()

    async def call(self, command: list[bytes]) -> Any:
        """Send ``command`` (framed parts, written in turn) and read its reply.

        Raises redis-py's errors: a ``ResponseError`` for an error reply, a
        ``ConnectionError`` or ``TimeoutError`` when Redis cannot be reached.
        """
        async with self._lock:
            try:
                return await self._send(command)
            except NoScriptError:
                await self._redis.script_load(self._script)
                return await self._send(command)
            except ConnectionError:
                # Most often Redis closed the idle connection (a restart, a timeout) before
                # this command: sent once more on a new one. Were it lost after Redis ran it,
                # its entries are stored twice, as at-least-once allows.
                return await self._send(command)

    async def _send(self, command: list[bytes]) -> Any:
        connection = self._connection
        if connection is None:
            pool = self._redis.connection_pool
            connection = self._connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        # redis-py drops a connection whose command or reply was cut short (an error, a
        # cancellation): a reply still on its way is never read as the next command's.
        await connection.send_packed_command(command, check_health=False)
        return await connection.read_response()

    async def close(self) -> None:
        """Give the connection back to the pool, whose owner closes it.

        Never waits for a call on its way: its connection stays the pool's in-use one, which
        closing the pool closes too.
        """
        connection, self._connection = self._connection, None
        if connection is not None and not self._lock.locked():
            await self._redis.connection_pool.release(connection)
