"""Destinations as data: definitions, instances, payload validation and request building."""

from framework.definitions.destination import Action, Destination
from framework.definitions.instance import (
    MAX_MAPPINGS,
    Instance,
    Planned,
    Subscription,
    load_instance,
)
from framework.definitions.loader import load_destination
from framework.definitions.request import PlannedRequest, combine_requests

__all__ = [
    "MAX_MAPPINGS",
    "Action",
    "Destination",
    "Instance",
    "Planned",
    "PlannedRequest",
    "Subscription",
    "combine_requests",
    "load_destination",
    "load_instance",
]
