"""Problems of an instance's settings, said about the settings rather than a "root value".

The settings are checked by the same payload validator as an action's fields, whose
sentences follow Segment's (``The root value is missing the required field 'apiKey'.``).
For settings that reads oddly, so the sentence is reworded, and a setting that takes aliases
(a region name for a URL) lists them, with the closest to what was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from framework.definitions.destination import Destination
from framework.errors import Problem
from framework.suggestions import did_you_mean

_MISSING: Final = re.compile(r"^The root value is missing the required field '(?P<name>.+)'\.$")


def settings_problem(
    destination: Destination, given: Mapping[str, Any], problem: Problem
) -> Problem:
    """``problem`` (from validating the settings) at ``/settings...``, worded for settings."""
    pointer = f"/settings{problem.pointer}"
    missing = _MISSING.match(problem.message)
    if missing is not None:
        name = missing["name"]
        return Problem(
            pointer, f"The settings are missing the required setting '{name}'.", problem.code
        )
    name = problem.pointer.split("/")[1] if problem.pointer.count("/") == 1 else None
    spec = destination.definition.settings.get(name) if name else None
    value = given.get(name) if name else None
    if spec is not None and spec.aliases and isinstance(value, str):
        aliases = ", ".join(sorted(spec.aliases))
        hint = did_you_mean(value, spec.aliases)
        message = f"{problem.message} '{value}' is not one of its aliases either: {aliases}.{hint}"
        return Problem(pointer, message, problem.code)
    return Problem(pointer, problem.message, problem.code)
