"""Which Personalize event keys and attribute keys an instance or a sync can send.

Pure: it reads compiled triggers and mapping sources, and sends nothing. A key is *known*
when it is written in the definition:

- an event key of an Events Sync subscription: the ``event`` field mapped to a literal string,
  or read from the event (``{"@path": "$.event"}``) under a trigger that restricts that field
  to literal values (``event = "Signed Up"``, ``event in ("A", "B")``, combined with ``and``
  and ``or``);
- an attribute key of a Custom Attributes Sync subscription: a key of a ``traits`` mapping
  written as an object (``traits: {plan: {"@path": "$.traits.plan"}}``);
- an attribute key of a sync: each field's name, and each key of its ``mapping`` object.

Anything else (traits copied whole from the event, an event key read from a field the trigger
does not restrict, a template) cannot be listed: it is reported as *open*, with the reason, so
the person running the check knows what was not checked. Disabled subscriptions are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.definitions.instance import Instance, Subscription
from framework.fql.ast import And, Comparison, Field, Membership, Node, Or

__all__ = [
    "ATTRIBUTES_ACTION",
    "EVENTS_ACTION",
    "OpenSource",
    "ProducedKeys",
    "instance_keys",
    "literal_values",
    "sync_keys",
]

EVENTS_ACTION = "eventsSync"
"""The action whose ``event`` field is a Personalize event key."""
ATTRIBUTES_ACTION = "customAttributesSync"
"""The action whose ``traits`` field holds Personalize attribute keys."""

_SIMPLE_PATH = re.compile(r"^\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class OpenSource:
    """Keys that cannot be listed from the definition: where (``origin``) and why."""

    kind: str  # "event" or "attribute"
    origin: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready view."""
        return {"kind": self.kind, "origin": self.origin, "reason": self.reason}


@dataclass(slots=True)
class ProducedKeys:
    """Event and attribute keys that can be sent, each with the origins that send it."""

    events: dict[str, list[str]] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    open: list[OpenSource] = field(default_factory=list)

    def add_event(self, key: str, origin: str) -> None:
        """Note that ``origin`` can send the event key ``key``."""
        self.events.setdefault(key, []).append(origin)

    def add_attribute(self, key: str, origin: str) -> None:
        """Note that ``origin`` can send the attribute key ``key``."""
        self.attributes.setdefault(key, []).append(origin)


def _path_steps(source: Any) -> tuple[str, ...] | None:
    """The steps of a plain ``{"@path": "$.a.b"}`` mapping, or None for anything else."""
    if not (isinstance(source, dict) and set(source) == {"@path"}):
        return None
    path = source["@path"]
    if not (isinstance(path, str) and _SIMPLE_PATH.match(path)):
        return None
    return tuple(path[2:].split("."))


def literal_values(node: Node, path: tuple[str, ...]) -> frozenset[str] | None:
    """The string values the field at ``path`` can have when ``node`` matches; None: any.

    ``a = "x"`` and ``a in ("x", "y")`` restrict the field; ``and`` keeps what every
    restricting operand allows, ``or`` what any operand allows (any, if one does not restrict).
    A negation restricts nothing.
    """
    target = Field(path)
    if isinstance(node, Comparison):
        if node.field == target and node.op == "=" and node.value.kind == "string":
            return frozenset({str(node.value.value)})
        return None
    if isinstance(node, Membership):
        if node.field == target and not node.negated:
            return frozenset(str(v.value) for v in node.values if v.kind == "string")
        return None
    if isinstance(node, And):
        restricted = [
            v for v in (literal_values(op, path) for op in node.operands) if v is not None
        ]
        if not restricted:
            return None
        return frozenset.intersection(*restricted)
    if isinstance(node, Or):
        parts = [literal_values(op, path) for op in node.operands]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(part for part in parts if part is not None))
    return None


def _event_keys(subscription: Subscription, origin: str, keys: ProducedKeys) -> None:
    source = subscription.mapping.source
    value = source.get("event") if isinstance(source, Mapping) else None
    if isinstance(value, str):
        keys.add_event(value, origin)
        return
    steps = _path_steps(value)
    if steps is None:
        keys.open.append(
            OpenSource("event", origin, "The event key is computed by a mapping directive.")
        )
        return
    values = literal_values(subscription.trigger.tree, steps)
    where = "$." + ".".join(steps)
    if values is None:
        keys.open.append(
            OpenSource(
                "event",
                origin,
                f"The event key is read from {where} and the trigger does not restrict it; "
                f'add e.g. {".".join(steps)} in ("Signed Up", "Order Completed") to check it.',
            )
        )
        return
    for key in sorted(values):
        keys.add_event(key, origin)


def _attribute_keys(subscription: Subscription, origin: str, keys: ProducedKeys) -> None:
    source = subscription.mapping.source
    traits = source.get("traits") if isinstance(source, Mapping) else None
    if isinstance(traits, dict) and traits and not any(k.startswith("@") for k in traits):
        for key in traits:
            keys.add_attribute(key, origin)
        return
    keys.open.append(
        OpenSource(
            "attribute",
            origin,
            "The traits are copied from the event, so their keys are only known per event; "
            "map them key by key to check them.",
        )
    )


def instance_keys(instance: Instance, keys: ProducedKeys | None = None) -> ProducedKeys:
    """The keys the instance's enabled subscriptions can send (added to ``keys`` if given)."""
    keys = ProducedKeys() if keys is None else keys
    for subscription in instance.subscriptions:
        if not subscription.enabled:
            continue
        origin = f"mapping '{subscription.name}'"
        if subscription.action.key == EVENTS_ACTION:
            _event_keys(subscription, origin, keys)
        elif subscription.action.key == ATTRIBUTES_ACTION:
            _attribute_keys(subscription, origin, keys)
    return keys


def sync_keys(
    name: str,
    field_names: Iterable[str],
    extra_mapping: Any,
    keys: ProducedKeys | None = None,
) -> ProducedKeys:
    """The attribute keys a sync sends: its fields' names and its ``mapping`` object's keys.

    ``extra_mapping`` is the source of the sync's ``mapping`` (None when it has none).
    """
    keys = ProducedKeys() if keys is None else keys
    origin = f"sync '{name}'"
    for field_name in field_names:
        keys.add_attribute(field_name, origin)
    if extra_mapping is None:
        return keys
    if isinstance(extra_mapping, dict) and not any(k.startswith("@") for k in extra_mapping):
        for key in extra_mapping:
            keys.add_attribute(key, origin)
    else:
        keys.open.append(
            OpenSource(
                "attribute",
                origin,
                "The sync's mapping is a directive, so its keys are only known per row.",
            )
        )
    return keys
