"""Checks of a destination's account against what an instance or a sync can send to it.

``contentstack``: a Personalize project's events and attributes (``actionkit check
contentstack``); ``keys``: which event and attribute keys a definition can produce.
"""

from framework.checks.contentstack import (
    MANAGEMENT_REGIONS,
    CheckResult,
    ManagementClient,
    check_project,
    management_url,
)
from framework.checks.keys import OpenSource, ProducedKeys, instance_keys, sync_keys

__all__ = [
    "MANAGEMENT_REGIONS",
    "CheckResult",
    "ManagementClient",
    "OpenSource",
    "ProducedKeys",
    "check_project",
    "instance_keys",
    "management_url",
    "sync_keys",
]
