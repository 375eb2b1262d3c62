"""Where the bundled JSON Schemas and destination definitions live.

In a checkout (or an editable install) they are the project's ``schemas/`` and
``destinations/`` folders; a wheel carries copies inside the package (``framework/_bundled``).
``ACTIONKIT_DESTINATIONS`` (a path list) adds folders searched for destination slugs first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent.parent
_CHECKOUT = _PACKAGE.parent
_BUNDLED = _PACKAGE / "_bundled"


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def schemas_dir() -> Path:
    """The folder of the JSON Schemas (destination, instance, event)."""
    return _first_existing(_CHECKOUT / "schemas", _BUNDLED / "schemas")


def destination_dirs() -> list[Path]:
    """The folders searched for ``<slug>/destination.yaml``, in order."""
    extra = os.environ.get("ACTIONKIT_DESTINATIONS", "")
    dirs = [Path(part) for part in extra.split(os.pathsep) if part]
    dirs.append(_first_existing(_CHECKOUT / "destinations", _BUNDLED / "destinations"))
    return dirs


def load_schema(name: str) -> dict[str, Any]:
    """Read one bundled JSON Schema by file name (``destination.schema.json``)."""
    with (schemas_dir() / name).open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema
