"""How a queued event is stored: one compact JSON object, the same in every queue.

``{"event": {...}, "instances": [...]}``, UTF-8 kept as is. A queue written by one version
of actionkit is read by the next; a text that is not such an object decodes to None, so that
a queue can set it aside (dead-letter it) rather than fail on it.
"""

from __future__ import annotations

import json

from framework.queue.base import QueuedEvent

__all__ = ["decode_item", "encode_item"]


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
        data = json.loads(text)
        event, instances = data["event"], data["instances"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(event, dict) or not isinstance(instances, list):
        return None
    return QueuedEvent(event, tuple(str(name) for name in instances))
