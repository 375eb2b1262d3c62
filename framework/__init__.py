"""actionkit: Segment Actions-style destinations defined as data.

The public API, re-exported in one place; every other module is an implementation detail.
"""

from framework.errors import (
    ActionkitError,
    DefinitionError,
    EventError,
    InputError,
    MappingError,
    Problem,
    TriggerSyntaxError,
)
from framework.fql import Trigger, parse_trigger, trigger_from_segment_ast
from framework.mapping import Mapping, compile_mapping

__all__ = [
    "ActionkitError",
    "DefinitionError",
    "EventError",
    "InputError",
    "Mapping",
    "MappingError",
    "Problem",
    "Trigger",
    "TriggerSyntaxError",
    "compile_mapping",
    "parse_trigger",
    "trigger_from_segment_ast",
]
