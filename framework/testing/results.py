"""What a :class:`~framework.testing.DestinationTester` run returns: one result per subscription."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.definitions.instance import PlanStatus
from framework.delivery.outcome import Delivery, Outcome
from framework.errors import Problem

__all__ = ["ActionResult", "EventResult"]


@dataclass(frozen=True, slots=True)
class EventResult:
    """What one subscription did with one event.

    ``status`` is what planning decided (``ready``, ``not_subscribed``, ``filtered``,
    ``invalid``); ``payload`` the validated payload (the mapped one when it was invalid);
    ``errors`` every problem of the event (codes such as ``MISSING_IDENTITY``), or of the
    payload (``PAYLOAD_REQUIRED_FIELD_MISSING``), each at its JSON pointer; ``reason`` why it
    was filtered; ``delivery`` what the router did with it against the tester's mock API.
    """

    event: Any = field(repr=False)
    status: PlanStatus
    payload: dict[str, Any] | None
    errors: tuple[Problem, ...]
    reason: str | None
    delivery: Delivery

    @property
    def outcome(self) -> Outcome:
        """How the delivery ended (``delivered``, ``invalid``, ``not_subscribed``, ...)."""
        return self.delivery.outcome

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "status": self.status,
            "outcome": self.outcome,
            "payload": self.payload,
            "errors": [problem.to_dict() for problem in self.errors],
            "reason": self.reason,
            "attempts": self.delivery.attempts,
            "http_status": self.delivery.status,
        }


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What one action (or one subscription of an instance) did with the events given.

    ``events`` holds one :class:`EventResult` per event, in order. ``requests`` holds every
    HTTP request the mock API received for this subscription, in order (a batch is one
    request; a retried request appears once per attempt), each a dict of ``method``, ``url``,
    ``headers`` (those the destination sets) and ``json``, with password values masked.

    For a single event, ``status``, ``outcome``, ``payload`` and ``delivery`` read that
    event's; with several events they raise ``ValueError`` (read ``events[i]`` instead).
    """

    instance: str
    mapping: str
    action: str
    events: tuple[EventResult, ...]
    requests: tuple[dict[str, Any], ...]

    def _only(self) -> EventResult:
        if len(self.events) != 1:
            raise ValueError(
                f"This result holds {len(self.events)} events; read result.events[i] instead."
            )
        return self.events[0]

    @property
    def status(self) -> PlanStatus:
        """The planning status of the only event."""
        return self._only().status

    @property
    def outcome(self) -> Outcome:
        """The delivery outcome of the only event."""
        return self._only().outcome

    @property
    def payload(self) -> dict[str, Any] | None:
        """The validated payload of the only event."""
        return self._only().payload

    @property
    def delivery(self) -> Delivery:
        """The router's :class:`~framework.Delivery` for the only event."""
        return self._only().delivery

    @property
    def payloads(self) -> list[dict[str, Any] | None]:
        """The payload of each event, in order."""
        return [event.payload for event in self.events]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Every problem of every event, in event order."""
        return tuple(problem for event in self.events for problem in event.errors)

    @property
    def request(self) -> dict[str, Any] | None:
        """The one request sent, or None when none was; ``ValueError`` when several were."""
        if not self.requests:
            return None
        if len(self.requests) > 1:
            raise ValueError(
                f"{len(self.requests)} requests were sent; read result.requests[i] instead."
            )
        return self.requests[0]

    @property
    def ok(self) -> bool:
        """Whether every event was delivered."""
        return all(event.outcome == "delivered" for event in self.events)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "instance": self.instance,
            "mapping": self.mapping,
            "action": self.action,
            "events": [event.to_dict() for event in self.events],
            "requests": list(self.requests),
        }


def all_requests(results: Sequence[ActionResult]) -> list[dict[str, Any]]:
    """The requests of several results, in order."""
    return [request for result in results for request in result.requests]
