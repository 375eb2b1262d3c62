"""The result of routing one event to one subscription: a :class:`Delivery`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal[
    "delivered",
    "not_subscribed",
    "filtered",
    "invalid",
    "retryable_failure",
    "permanent_failure",
    "dead_lettered",
    "held",
    "dry_run",
]
"""How a delivery ended.

``delivered``: the API accepted it. ``not_subscribed``: the trigger did not match.
``filtered``: the event's integrations object turned the destination off. ``invalid``: the
event or the mapped payload is not valid (see the errors). ``retryable_failure`` /
``permanent_failure``: sending finally failed and no dead-letter store is configured (in
defer mode, ``retryable_failure`` also means: not yet, it waits for a retry; see
``retry_after``). ``dead_lettered``: sending finally failed and the event is in the
dead-letter store. ``held`` (defer mode only): not sent, because an earlier request of the same
user waits for a retry; it is not a failure, and is sent again after that one.
``dry_run``: the request was built and not sent.
"""

FINAL_FAILURES = frozenset({"retryable_failure", "permanent_failure", "dead_lettered"})
"""The outcomes that mean the event did not reach the destination although it should have."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one event for one subscription of one instance.

    ``request`` is the request sent (password values masked), ``response`` the start of the
    API's answer, ``attempts`` how many times it was sent, ``batch_size`` how many events
    shared the request. ``errors`` lists payload problems for ``invalid`` deliveries.
    ``retry_after``: for a ``retryable_failure``, the seconds the server (its Retry-After) or
    the endpoint's gate (a pause, an open circuit) asked to wait, None when none did.
    """

    instance: str
    mapping: str
    action: str
    outcome: Outcome
    message_id: str | None = None
    status: int | None = None
    request: dict[str, Any] | None = None
    response: str | None = None
    attempts: int = 0
    batch_size: int = 0
    latency: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    errors: tuple[dict[str, str], ...] = ()
    reason: str | None = None
    dead_letter_id: int | None = None
    retry_after: float | None = None

    @property
    def failed(self) -> bool:
        """Whether the event should have reached the destination and did not."""
        return self.outcome in FINAL_FAILURES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "instance": self.instance,
            "mapping": self.mapping,
            "action": self.action,
            "outcome": self.outcome,
            "message_id": self.message_id,
            "status": self.status,
            "attempts": self.attempts,
            "batch_size": self.batch_size,
            "latency_ms": round(self.latency * 1000, 3) if self.latency is not None else None,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "errors": list(self.errors),
            "reason": self.reason,
            "dead_letter_id": self.dead_letter_id,
            "retry_after": round(self.retry_after, 3) if self.retry_after is not None else None,
            "request": self.request,
            "response": self.response,
        }
