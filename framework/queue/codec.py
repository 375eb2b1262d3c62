"""How a queued event is stored: one compact JSON object, the same in every queue.

``{"event": {...}, "instances": [...]}``, UTF-8 kept as is. A queue written by one version
of actionkit is read by the next; a text that is not such an object decodes to None, so that
a queue can set it aside (dead-letter it) rather than fail on it.
"""

from __future__ import annotations

import json

from framework.errors import EventJsonError
from framework.event_json import MAX_DEPTH, decode_event_json
from framework.queue.base import QueuedEvent

__all__ = ["decode_item", "encode_item"]

_ITEM_DEPTH = 1
"""The level the stored form adds around an event (the object holding it)."""


def encode_item(item: QueuedEvent) -> str:
    """The stored form of ``item``."""
    return json.dumps(
        {"event": item.event, "instances": list(item.instances)},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_item(text: str | None) -> QueuedEvent | None:
    """The queued event stored as ``text``; None when it is not one."""
    if text is None:
        return None
    try:
        # The rule events came in under (framework.event_json), so that whatever else wrote
        # to a shared queue (a Redis stream) cannot make the consumer fail: at worst an
        # entry is set aside. A lone surrogate becomes invalid UTF-8 here, and is refused.
        data = decode_event_json(
            text.encode("utf-8", "surrogatepass"), max_depth=MAX_DEPTH + _ITEM_DEPTH
        )
        event, instances = data["event"], data["instances"]
    except (EventJsonError, TypeError, KeyError):
        return None
    if not isinstance(event, dict) or not isinstance(instances, list):
        return None
    return QueuedEvent(event, tuple(str(name) for name in instances))
