"""The ``integrations`` object: whether an event may go to a destination, as Segment decides.

An event's ``integrations`` object maps destination names to flags, e.g.
``{"All": false, "Contentstack Web": true}``. Segment's rules (its "Common Fields" and
"Filtering your Segment Data" docs, and analytics-next's per-event destination filter):

- Names are matched exactly: they are case-sensitive, so ``"contentstack web"`` is another
  destination.
- A key for the destination wins over ``All``. ``false`` turns the destination off; ``true``
  or an object (per-destination options, even an empty one) turns it on. A key whose value is
  ``null`` counts as absent. Other values go by JavaScript truthiness, as in Segment's code
  (``0`` and ``""`` turn it off, any other string or number on); :class:`EventChecker
  <framework.definitions.events.EventChecker>` reports them as problems anyway.
- A destination known by several names (its name first, then its other names) is decided by
  the first of them that has a key.
- With no key for the destination, ``All`` decides, and it defaults to true: only
  ``"All": false`` turns the destination off (``"All": null`` or a missing ``All`` does not).
- A missing ``integrations`` object, or one that is not an object, leaves every destination
  on (the event checker reports the latter).
- ``"Segment.io"`` is, to a destination here, just another destination's name: in Segment it
  is the library's own delivery to Segment's API, which ``All: false`` does not stop. So
  ``{"All": false, "Segment.io": true}`` (what analytics.js sends for events a tracking plan
  blocks) reaches Segment but no destination, and here it reaches no destination either.

Segment's docs also list ``{"All": true, "Salesforce": false}`` as the default object: that is
a setting of Segment's classic Salesforce destination, not a rule of the object, and it is
not applied here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["integrations_decision"]


def integrations_decision(event: Mapping[str, Any], names: Sequence[str]) -> str | None:
    """Whether ``event`` may be sent to the destination known by ``names``.

    Returns None when it may, otherwise a short reason such as
    ``integrations["Contentstack Web"] is false``. ``names`` lists the destination's names in
    priority order (its own name first). Pure; never raises on a checked event.
    """
    integrations = event.get("integrations")
    if not isinstance(integrations, Mapping):
        return None
    for name in names:
        value = integrations.get(name)
        if value is None:
            continue
        if _truthy(value):
            return None
        return f"integrations[{_json(name)}] is {_json(value)}"
    if integrations.get("All") is False:
        if not names:
            return "integrations.All is false"
        return f"integrations.All is false and no {_either(names)} key enables it"
    return None


def _truthy(value: object) -> bool:
    """JavaScript truthiness, which Segment applies to a destination's flag."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    # Objects and arrays are truthy in JavaScript even when empty.
    return True


def _either(names: Sequence[str]) -> str:
    quoted = [_json(name) for name in names]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
