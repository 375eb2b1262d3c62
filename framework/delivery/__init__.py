"""Delivery: the router a pipeline embeds, HTTP sending, retries, batching, dead letters."""

from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.delivery.outcome import Delivery, Outcome
from framework.delivery.retry import RetryPolicy
from framework.delivery.router import DEFAULT_DEAD_LETTERS, Router

__all__ = [
    "DEFAULT_DEAD_LETTERS",
    "DeadLetter",
    "DeadLetterStore",
    "Delivery",
    "Outcome",
    "RetryPolicy",
    "Router",
]
