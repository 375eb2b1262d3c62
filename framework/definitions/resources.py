"""Where the bundled JSON Schemas and destinations are, and where destination slugs are searched.

The bundled files. The project's top-level ``schemas/`` and ``destinations/`` folders are the
one source of truth; nothing is copied into ``framework/`` in git. A built wheel carries copies
of them inside the package, at ``framework/_bundled/schemas`` and
``framework/_bundled/destinations`` (the build hook ``hatch_build.py`` adds them to a standard
wheel; the sdist carries the top-level folders, so a wheel built from it has them too). They are
read through :mod:`importlib.resources` (``files("framework") / "_bundled"``), never through a
path relative to the source tree. A checkout, or an editable install of one, has no
``_bundled`` folder: when the package's parent folder is the project itself (it holds this
project's ``pyproject.toml`` beside ``schemas/``), its top-level folders are read in place, so
an edit to a schema or a bundled destination counts at once. Anything else (an installed
package with neither) is an installation error, reported as such.

The destination search. A slug (``contentstack``) is looked for as ``<slug>/destination.yaml``
in these folders, in this order:

1. the folders given with ``--destinations DIR`` on the command line (repeatable), in order;
2. the folders of the ``ACTIONKIT_DESTINATIONS`` variable (a path list, ``:``-separated);
3. ``destinations/`` in the current working directory, when there is one;
4. the bundled destinations.

The first three are the user's folders. A slug defined in two of them is an error
(``DUPLICATE_DESTINATION``, naming both files), whichever order they come in: a user who keeps
two definitions of one slug should say which one is meant by its path. A user's folder may
define a slug the bundled destinations also define: it shadows the bundled one (deliberately:
a fixed copy of a bundled destination is used without waiting for a release), and
``actionkit destinations list`` reports it. A folder listed twice (or the checkout's own
``destinations/``, which is the bundled folder when running from a checkout) is searched once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from framework.errors import DefinitionError

DEFINITION_FILE = "destination.yaml"
"""The file that defines a destination, in a folder named by its slug."""

ENVIRONMENT_VARIABLE = "ACTIONKIT_DESTINATIONS"
"""The variable holding a path list of folders of destinations."""

Origin = Literal["option", "environment", "working-directory", "bundled"]
"""Where a destination folder comes from: ``--destinations``, ``ACTIONKIT_DESTINATIONS``,
``./destinations`` or the bundled destinations."""

_option_folders: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class DestinationFolder:
    """One folder searched for ``<slug>/destination.yaml``, and where it comes from."""

    path: Path
    origin: Origin

    @property
    def bundled(self) -> bool:
        """True for the bundled destinations (which a user's folder may shadow)."""
        return self.origin == "bundled"


def _is_checkout(folder: Path) -> bool:
    project = folder / "pyproject.toml"
    if not (project.is_file() and (folder / "schemas").is_dir()):
        return False
    return 'name = "actionkit"' in project.read_text(encoding="utf-8")


@cache
def bundled_root() -> Traversable:
    """The folder holding ``schemas/`` and ``destinations/``: the package's, or the checkout's.

    Raises :class:`DefinitionError` when actionkit is installed without them.
    """
    package = files("framework")
    bundled = package / "_bundled"
    if bundled.is_dir():
        return bundled
    if isinstance(package, Path) and _is_checkout(package.parent):
        return package.parent
    raise DefinitionError(
        "actionkit is installed without its bundled schemas and destinations (no "
        "framework/_bundled in the package, and not a checkout of the project); reinstall it "
        "from a wheel built from the project or its sdist.",
        source=str(package),
    )


def bundled_destinations() -> Path | None:
    """The folder of the bundled destinations, when it is a folder on disk."""
    folder = bundled_root() / "destinations"
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def load_schema(name: str) -> dict[str, Any]:
    """Read one bundled JSON Schema by file name (``destination.schema.json``)."""
    text = (bundled_root() / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@contextmanager
def searching(folders: Iterable[Path]) -> Iterator[None]:
    """Search ``folders`` first for destination slugs while the block runs.

    What ``--destinations DIR`` does on the command line; the folders come before
    ``ACTIONKIT_DESTINATIONS``. Blocks nest: the inner folders come first.
    """
    global _option_folders
    saved = _option_folders
    _option_folders = (*folders, *saved)
    try:
        yield
    finally:
        _option_folders = saved


def destination_folders() -> list[DestinationFolder]:
    """The folders searched for ``<slug>/destination.yaml``, in order, each listed once."""
    candidates: list[DestinationFolder] = [
        DestinationFolder(path, "option") for path in _option_folders
    ]
    extra = os.environ.get(ENVIRONMENT_VARIABLE, "")
    candidates.extend(
        DestinationFolder(Path(part), "environment") for part in extra.split(os.pathsep) if part
    )
    candidates.append(DestinationFolder(Path.cwd() / "destinations", "working-directory"))
    bundled = bundled_destinations()
    seen: set[Path] = set()
    if bundled is not None:
        seen.add(bundled.resolve())
    folders: list[DestinationFolder] = []
    for folder in candidates:
        key = folder.path.resolve()
        if key in seen or (folder.origin == "working-directory" and not folder.path.is_dir()):
            continue
        seen.add(key)
        folders.append(folder)
    if bundled is not None:
        folders.append(DestinationFolder(bundled, "bundled"))
    return folders


def destination_dirs() -> list[Path]:
    """The folders searched for ``<slug>/destination.yaml``, in order."""
    return [folder.path for folder in destination_folders()]


@dataclass(frozen=True, slots=True)
class FoundDestination:
    """A slug's definition file as the search finds it.

    ``path`` is the file that loads, from ``folder``; ``shadows`` the bundled definition of the
    same slug it hides, if any; ``duplicate`` another user folder's definition of the same slug,
    which makes the slug ambiguous (an error when it is looked up).
    """

    slug: str
    path: Path
    folder: DestinationFolder
    shadows: Path | None = None
    duplicate: Path | None = None


def _found(slug: str, hits: list[tuple[DestinationFolder, Path]]) -> FoundDestination:
    users = [(folder, path) for folder, path in hits if not folder.bundled]
    bundled = [path for folder, path in hits if folder.bundled]
    folder, path = hits[0]
    return FoundDestination(
        slug,
        path,
        folder,
        shadows=bundled[0] if users and bundled else None,
        duplicate=users[1][1] if len(users) > 1 else None,
    )


def find_slug(slug: str) -> FoundDestination | None:
    """Where the search finds ``<slug>/destination.yaml``, or None when no folder has it."""
    hits = [
        (folder, folder.path / slug / DEFINITION_FILE)
        for folder in destination_folders()
        if (folder.path / slug / DEFINITION_FILE).is_file()
    ]
    return _found(slug, hits) if hits else None


def all_destinations() -> list[FoundDestination]:
    """Every slug of every searched folder, in search order (bundled ones last)."""
    hits: dict[str, list[tuple[DestinationFolder, Path]]] = {}
    for folder in destination_folders():
        if not folder.path.is_dir():
            continue
        for child in sorted(folder.path.iterdir()):
            if (child / DEFINITION_FILE).is_file():
                hits.setdefault(child.name, []).append((folder, child / DEFINITION_FILE))
    return [_found(slug, found) for slug, found in hits.items()]
