"""Every place an event that did not get through is kept, read as one list for ``actionkit dlq``.

Three places, each row naming the one it is in (``where``):

- ``dead-letters``: the dead-letter store (a SQLite file), deliveries that finally failed;
  their ids are numbers (``3``). Rows of syncs are there too, with the mapping ``sync:NAME``.
- ``queue``: the embedded SQLite queue's dead entries, events answered 200 whose handling
  failed ``max_tries`` times; ids ``queue:N``. They are read beside the server that owns the
  file, while it runs (:class:`~framework.queue.sqlite.SqliteDeadEntries`: WAL lets another
  process read, and only the owner's lock file says who owns the queue).
- ``redis``: a Redis stream's dead entries (``{stream}:dead``), read whole a page at a time;
  ids ``redis:ID``.

A place that does not exist holds nothing; one that cannot be read is reported with its error,
and the others are still read.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.errors import NotFoundError, StorageError
from framework.queue.base import DeadEntries

T = TypeVar("T")

LETTERS = "dead-letters"
QUEUE = "queue"
REDIS = "redis"

_REDIS_ID = re.compile(r"\d+-\d+")


@dataclass(frozen=True, slots=True)
class DeadId:
    """An id as ``actionkit dlq`` takes it: the place and the key within it."""

    where: str
    key: str

    def __str__(self) -> str:
        return self.key if self.where == LETTERS else f"{self.where}:{self.key}"


class DeadIdType(click.ParamType[DeadId, Any]):
    """``3`` (a dead letter), ``queue:3`` or ``redis:1712345678901-0`` (a queue's dead entry)."""

    name = "ID"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> DeadId:
        """The :class:`DeadId` of ``value``, or a usage error saying the forms it may take."""
        if isinstance(value, DeadId):
            return value
        text = str(value)
        if text.isdigit():
            return DeadId(LETTERS, str(int(text)))
        prefix, _, key = text.partition(":")
        if (prefix == QUEUE and key.isdigit()) or (prefix == REDIS and _REDIS_ID.fullmatch(key)):
            return DeadId(prefix, key)
        raise click.BadParameter(
            f"{text!r} is not an id: use a number for a dead letter, queue:N or redis:ID for "
            "a queue's dead entry (as `actionkit dlq list` shows them).",
            ctx,
            param,
        )


@dataclass(frozen=True, slots=True)
class DeadRow:
    """One event that did not get through, where it is kept, and why."""

    id: DeadId
    location: str
    created_at: str | None
    instances: tuple[str, ...]
    mapping: str | None
    error_code: str
    error_message: str
    attempts: int
    status: int | None = None
    message_id: str | None = None
    event: dict[str, Any] | None = None
    letter: DeadLetter | None = None

    @property
    def where(self) -> str:
        """``dead-letters``, ``queue`` or ``redis``."""
        return self.id.where

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: a dead letter's own fields, then where it is kept."""
        if self.letter is not None:
            data = self.letter.to_dict()
        else:
            data = {
                "id": str(self.id),
                "created_at": self.created_at,
                "instance": ",".join(self.instances) or None,
                "mapping": None,
                "action": None,
                "message_id": self.message_id,
                "error_code": self.error_code,
                "error_message": self.error_message,
                "status": None,
                "attempts": self.attempts,
                "event": self.event,
                "request": None,
            }
        return data | {
            "where": self.where,
            "location": self.location,
            "instances": list(self.instances),
        }


def _letter_row(letter: DeadLetter, location: str) -> DeadRow:
    return DeadRow(
        id=DeadId(LETTERS, str(letter.id)),
        location=location,
        created_at=letter.created_at,
        instances=(letter.instance,),
        mapping=letter.mapping,
        error_code=letter.error_code,
        error_message=letter.error_message,
        attempts=letter.attempts,
        status=letter.status,
        message_id=letter.message_id,
        event=letter.event,
        letter=letter,
    )


def _entry_row(where: str, location: str, entry: dict[str, Any]) -> DeadRow:
    event = entry.get("event")
    message_id = event.get("messageId") if isinstance(event, dict) else None
    failed_at = entry.get("failed_at")
    created = (
        datetime.fromtimestamp(failed_at, UTC).isoformat(timespec="milliseconds")
        if isinstance(failed_at, float | int) and failed_at > 0
        else None
    )
    return DeadRow(
        id=DeadId(where, str(entry["id"])),
        location=location,
        created_at=created,
        instances=tuple(entry.get("instances") or ()),
        mapping=None,
        error_code=str(entry.get("code") or ""),
        error_message=str(entry.get("error") or ""),
        attempts=int(entry.get("tries") or 0),
        message_id=message_id if isinstance(message_id, str) else None,
        event=event if isinstance(event, dict) else None,
    )


@dataclass(slots=True)
class DeadPlaces:
    """The places ``actionkit dlq`` looks in; a file that does not exist is skipped.

    ``problems`` collects the places that could not be read (their error), in order.
    """

    store: Path
    queue: Path | None
    redis_url: str | None = None
    stream: str = "actionkit:events"
    problems: list[tuple[str, StorageError]] = field(default_factory=list)
    _letters: DeadLetterStore | None = None

    def __enter__(self) -> DeadPlaces:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._letters is not None:
            self._letters.close()
            self._letters = None

    @property
    def anything(self) -> bool:
        """Whether there is any place to look in."""
        return (
            self.store.exists()
            or (self.queue is not None and self.queue.exists())
            or self.redis_url is not None
        )

    def letters(self) -> DeadLetterStore | None:
        """The dead-letter store, opened once; None when there is no file."""
        if self._letters is None and self.store.exists():
            self._letters = DeadLetterStore(self.store)
        return self._letters

    def _queue_places(self) -> list[tuple[str, str]]:
        places = []
        if self.queue is not None and self.queue.exists():
            places.append((QUEUE, str(self.queue)))
        if self.redis_url is not None:
            places.append((REDIS, f"{self.stream}:dead"))
        return places

    def on_queue(self, where: str, work: Callable[[DeadEntries], Awaitable[T]]) -> T:
        """Run ``work`` on the dead entries of ``where`` (opened, then closed); StorageError
        if they cannot be read."""
        return asyncio.run(self._on_queue(where, work))

    async def _on_queue(self, where: str, work: Callable[[DeadEntries], Awaitable[T]]) -> T:
        queue: DeadEntries
        if where == QUEUE and self.queue is not None:
            from framework.queue.sqlite import SqliteDeadEntries

            # A reader beside the file's owner: never the queue itself, which would need
            # the server to be stopped.
            queue = SqliteDeadEntries(self.queue)
        elif where == REDIS and self.redis_url is not None:
            # Imported here: only --redis needs redis-py.
            from framework.queue.redis_stream import RedisStreamQueue

            queue = RedisStreamQueue(self.redis_url, stream=self.stream)
        else:  # pragma: no cover - callers name a place they have
            raise ValueError(f"no queue for {where}")
        try:
            return await work(queue)
        finally:
            await queue.close()

    def _read(self, location: str, read: Callable[[], list[DeadRow]]) -> list[DeadRow]:
        try:
            return read()
        except StorageError as exc:
            self.problems.append((location, exc))
            return []

    def _entries(self, where: str, location: str) -> list[DeadRow]:
        async def read(queue: DeadEntries) -> list[dict[str, Any]]:
            return await queue.dead_entries()

        return [_entry_row(where, location, entry) for entry in self.on_queue(where, read)]

    def rows(self, *, instance: str | None = None) -> list[DeadRow]:
        """Every row of every place (only ``instance``'s when given), place by place."""
        found: list[DeadRow] = []

        def letters() -> list[DeadRow]:
            store = self.letters()
            if store is None:
                return []
            return [
                _letter_row(letter, str(self.store)) for letter in store.list(instance=instance)
            ]

        found += self._read(str(self.store), letters)
        for where, location in self._queue_places():
            rows = self._read(location, functools.partial(self._entries, where, location))
            found += [
                row
                for row in rows
                if instance is None or not row.instances or instance in row.instances
            ]
        return found

    def find(self, dead_id: DeadId) -> DeadRow:
        """The row of one id; NotFoundError when its place does not hold it (or is absent)."""
        if dead_id.where == LETTERS:
            store = self.letters()
            letter = store.get(int(dead_id.key)) if store is not None else None
            if letter is not None:
                return _letter_row(letter, str(self.store))
            source = str(self.store)
        else:
            places = dict(self._queue_places())
            location = places.get(dead_id.where)
            if location is not None:
                for row in self._entries(dead_id.where, location):
                    if row.id == dead_id:
                        return row
                source = location
            else:
                source = (
                    "no --redis URL was given"
                    if dead_id.where == REDIS
                    else f"no queue file at {self.queue}"
                )
        raise NotFoundError(
            f"There is no dead {'letter' if dead_id.where == LETTERS else 'entry'} {dead_id} "
            f"({source}); `actionkit dlq list` shows the ids there are.",
            key=str(dead_id),
            source=source,
        )

    def forget(self, row: DeadRow) -> None:
        """Remove a queue's dead entry that was replayed."""

        async def remove(queue: DeadEntries) -> int:
            return await queue.remove_dead([row.id.key])

        self.on_queue(row.where, remove)
