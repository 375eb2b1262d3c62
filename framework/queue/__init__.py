"""Durable event queues between ingestion and delivery, and the consumer that drains them.

``EventQueue`` is the contract (``base.py``); the embedded default keeps events in a SQLite
file, the scale-out one in a Redis stream; ``consume`` routes what a queue holds and
acknowledges an entry only once every one of its deliveries has ended.
"""

from framework.queue.base import Entry, EventQueue, QueuedEvent
from framework.queue.consumer import (
    Retrying,
    consume,
    consume_supervised,
    finish_within,
    handle_entry,
)
from framework.queue.horizon import DEFAULT_RETRY_FOR, ENDED_OUTCOMES, QueueBackoff

__all__ = [
    "DEFAULT_RETRY_FOR",
    "ENDED_OUTCOMES",
    "Entry",
    "EventQueue",
    "QueueBackoff",
    "QueuedEvent",
    "Retrying",
    "consume",
    "consume_supervised",
    "finish_within",
    "handle_entry",
]
