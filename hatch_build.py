"""Build hook: the built wheel carries the project's schemas and bundled destinations.

``schemas/`` and ``destinations/`` stay at the top of the project, the one source of truth.
A standard wheel gets copies of them at ``framework/_bundled/schemas`` and
``framework/_bundled/destinations``, where :mod:`framework.definitions.resources` reads them
through ``importlib.resources``. A destination's ``tests/`` folder is left out of the wheel: its
cases are the project's tests and read files of the repository (``examples/``); they run from a
checkout or the sdist. An editable install gets no copy: it reads the checkout's folders in
place, so an edit counts at once and no stale copy lands in site-packages. The sdist carries
the top-level folders, so a wheel built from the sdist has them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLED = "framework/_bundled"
LEFT_OUT = {"tests", "__pycache__"}


def bundled_files(root: Path) -> dict[str, str]:
    """What the wheel carries: each source path (relative to ``root``) and its place."""
    inclusion = {"schemas": f"{BUNDLED}/schemas"}
    for destination in sorted((root / "destinations").iterdir()):
        if not destination.is_dir():
            continue
        for entry in sorted(destination.iterdir()):
            if entry.name not in LEFT_OUT:
                relative = entry.relative_to(root).as_posix()
                inclusion[relative] = f"{BUNDLED}/{relative}"
    return inclusion


class BundleHook(BuildHookInterface):
    """Adds the bundled folders to the standard wheel."""

    PLUGIN_NAME = "bundle"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Force-include ``schemas/`` and ``destinations/`` unless the wheel is editable."""
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"].update(bundled_files(Path(self.root)))
