"""actionkit: Segment Actions-style destinations defined as data.

The public API, re-exported in one place; every other module is an implementation detail.
"""

from framework.definitions import (
    MAX_MAPPINGS,
    Destination,
    Instance,
    Planned,
    PlannedRequest,
    load_destination,
    load_instance,
)
from framework.delivery import DeadLetterStore, Delivery, RetryPolicy, Router
from framework.errors import (
    ActionkitError,
    AddressNotAllowedError,
    DefinitionError,
    DeliveryError,
    EventError,
    InputError,
    IntegrationError,
    InvalidAuthenticationError,
    MappingError,
    PayloadValidationError,
    Problem,
    RequestBuildError,
    RetryableError,
    TriggerSyntaxError,
)
from framework.fql import Trigger, parse_trigger, trigger_from_segment_ast
from framework.mapping import Mapping, compile_mapping

__all__ = [
    "MAX_MAPPINGS",
    "ActionkitError",
    "AddressNotAllowedError",
    "DeadLetterStore",
    "DefinitionError",
    "Delivery",
    "DeliveryError",
    "Destination",
    "EventError",
    "InputError",
    "Instance",
    "IntegrationError",
    "InvalidAuthenticationError",
    "Mapping",
    "MappingError",
    "PayloadValidationError",
    "Planned",
    "PlannedRequest",
    "Problem",
    "RequestBuildError",
    "RetryPolicy",
    "RetryableError",
    "Router",
    "Trigger",
    "TriggerSyntaxError",
    "compile_mapping",
    "load_destination",
    "load_instance",
    "parse_trigger",
    "trigger_from_segment_ast",
]
