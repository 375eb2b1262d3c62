"""The hypothesis profiles of the suite: derandomized in CI, exploring on a developer's machine.

``tests/conftest.py`` calls :func:`load` before any test module is imported, so every
``@settings(...)`` in a test file starts from the loaded profile and changes only what it
names. No test file sets ``derandomize`` or ``database`` (``tests/test_hypothesis_profiles.py``
checks it), so CI runs the same examples on every run and a red CI run is a real bug, while
local runs keep finding new examples (and replay the failures hypothesis saved in
``.hypothesis/``). ``pytest --hypothesis-profile NAME`` still picks a profile by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hypothesis import HealthCheck, settings

CI = "ci"
"""Derandomized (the same examples on every run), no example database, no deadline."""
DEV = "dev"
"""Random examples, saved failures replayed from ``.hypothesis/``, no deadline."""

# Both: no deadline and no too_slow health check, which time the test and the data generation
# and fail on a loaded machine. A test's own suppress_health_check list replaces this one.
_NO_TIMING = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}

# Both start from hypothesis's own defaults, not from whatever profile is loaded now: hypothesis
# loads its built-in "ci" profile by itself whenever a CI variable exists, even CI="".
_BASE = settings.get_profile("default")
settings.register_profile(CI, _BASE, derandomize=True, database=None, print_blob=True, **_NO_TIMING)
settings.register_profile(DEV, _BASE, print_blob=True, **_NO_TIMING)


def profile_name(environ: Mapping[str, str]) -> str:
    """The profile for this environment: ``ci`` when ``CI`` is set (``CI=true``), else ``dev``."""
    value = environ.get("CI", "").strip().lower()
    return DEV if value in ("", "0", "false", "no") else CI


def load(environ: Mapping[str, str] = os.environ) -> str:
    """Load the profile for ``environ`` and return its name."""
    name = profile_name(environ)
    settings.load_profile(name)
    return name
