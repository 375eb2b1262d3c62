"""FQL triggers: which events a subscription receives.

``parse_trigger("type = \\"track\\" and properties.revenue > 100")`` parses and compiles an
expression once; ``Trigger.matches(event)`` then tests events. The language is Segment's FQL
with operator precedence and a few additions; docs/triggers.md is the reference and
docs/compatibility.md lists where it deliberately differs from Segment.
"""

from framework.fql.trigger import Trigger, parse_trigger, trigger_from_segment_ast

__all__ = ["Trigger", "parse_trigger", "trigger_from_segment_ast"]
