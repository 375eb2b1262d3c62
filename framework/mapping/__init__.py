"""The mapping kit: Segment's mapping directives, validated once and compiled into closures.

``compile_mapping(mapping)`` checks a mapping (raising ``MappingError`` with every problem at
its JSON pointer) and returns a :class:`Mapping`, whose ``resolve(event)`` builds the payload.
See ``docs/mapping.md`` for the directives and ``docs/compatibility.md`` for where we differ
from Segment's ``@segment/actions-core``.
"""

from framework.mapping.compile import Mapping, compile_mapping

__all__ = ["Mapping", "compile_mapping"]
