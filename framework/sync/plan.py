"""How a mapped row meets the delivery engine: as an identify call to Custom Attributes Sync.

The sync's instance is the destination instance the sync file names, with its subscriptions
replaced by one: the destination's ``customAttributesSync`` action with its default trigger and
mapping (``traits`` from ``$.traits``, ``userId`` from ``$.userId``). Each row to send becomes
an identify call carrying the row's user UID and attributes, so payload validation, the
request, batching, retries, rate limits and dead letters are the same as for events.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from framework.definitions.instance import Instance, Subscription
from framework.mapping import compile_mapping
from framework.sync.diff import MappedRow

__all__ = ["ACTION", "row_event", "sync_instance"]

ACTION = "customAttributesSync"
"""The action a sync sends rows through."""


def sync_instance(instance: Instance, sync_name: str) -> Instance:
    """``instance`` with one subscription: Custom Attributes Sync, as the sync sends it."""
    action = instance.destination.actions[ACTION]
    subscription = Subscription(
        name=f"sync:{sync_name}",
        action=action,
        trigger=action.default_trigger,
        mapping=compile_mapping(dict(action.default_mapping)),
        enabled=True,
    )
    return dataclasses.replace(instance, subscriptions=(subscription,))


def row_event(sync_name: str, row: MappedRow) -> dict[str, Any]:
    """The identify call that sets a mapped row's attributes on its user."""
    return {
        "type": "identify",
        "userId": row.uid,
        "traits": row.attributes or {},
        "messageId": f"sync:{sync_name}:{row.key}",
    }
