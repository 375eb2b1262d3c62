"""Build hook: the built wheel carries the project's schemas and bundled destinations.

``schemas/`` and ``destinations/`` stay at the top of the project, the one source of truth.
A standard wheel gets copies of them at ``framework/_bundled/schemas`` and
``framework/_bundled/destinations``, where :mod:`framework.definitions.resources` reads them
through ``importlib.resources``. An editable install gets no copy: it reads the checkout's
folders in place, so an edit counts at once and no stale copy lands in site-packages. The sdist
carries the top-level folders (hatchling's default selection), so a wheel built from the sdist
has them too.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLED = {
    "schemas": "framework/_bundled/schemas",
    "destinations": "framework/_bundled/destinations",
}


class BundleHook(BuildHookInterface):
    """Adds the bundled folders to the standard wheel."""

    PLUGIN_NAME = "bundle"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Force-include ``schemas/`` and ``destinations/`` unless the wheel is editable."""
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"].update(BUNDLED)
