"""Which user an event belongs to, for keeping each user's events in order.

A user's requests must reach an API in the order of the events that caused them: an attribute
set later must not be overwritten by an earlier one that was retried, and an alias merge must
not overtake the user's earlier updates. Two functions name the user:

- :func:`lane_key` is the one user an event's requests are ordered with in the router: its
  ``userId``, else its ``anonymousId`` (None when it has neither: it is ordered with nothing).
- :func:`order_keys` are every user an event touches, which a durable queue keeps in order: the
  lane key, and for an ``alias`` call its ``previousId`` too (the user merged away). A queue
  hands out an event only once every earlier event sharing one of its keys has ended.

Both are pure and never raise, whatever the event holds; a key is the identifier as it is
(the same text as a user ID and as an anonymous ID is one user: they name one Personalize UID).
"""

from __future__ import annotations

from typing import Any

__all__ = ["lane_key", "order_keys"]


def _identifier(event: dict[str, Any], field: str) -> str | None:
    value = event.get(field)
    return value if isinstance(value, str) and value else None


def lane_key(event: Any) -> str | None:
    """The user an event's requests are ordered with: ``userId``, else ``anonymousId``."""
    if not isinstance(event, dict):
        return None
    return _identifier(event, "userId") or _identifier(event, "anonymousId")


def order_keys(event: Any) -> tuple[str, ...]:
    """Every user the event touches, in a fixed order, without repeats (empty: none).

    The lane key first; an ``alias`` call adds its ``previousId``.
    """
    primary = lane_key(event)
    keys = [primary] if primary is not None else []
    if isinstance(event, dict) and event.get("type") == "alias":
        previous = _identifier(event, "previousId")
        if previous is not None and previous not in keys:
            keys.append(previous)
    return tuple(keys)
