"""``actionkit test --watch``: rerun the cases a change touches, on the OS's file events.

watchfiles (Rust's ``notify``) tells which files changed, grouping the events of one save;
:func:`watch_cases` maps them to the case files to run again (:func:`affected`) and calls
back. A case file's destination folder holds what its cases depend on (the definition, the
events, the cases), so a change there reruns that destination's case files; a change
elsewhere under the watched folders (an instance shared by several destinations) reruns
them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from framework.testing.cases import find_case_files

__all__ = ["affected", "watch_cases", "watched_folders"]


def watched_folders(roots: Sequence[Path]) -> list[Path]:
    """The folders to watch for ``roots``: a folder itself, a case file's destination folder."""
    folders: list[Path] = []
    for root in roots:
        folder = root if root.is_dir() else root.resolve().parent.parent
        if folder not in folders:
            folders.append(folder)
    return folders


def _case_files(roots: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        for path in find_case_files(root):
            if path.exists() and path not in found:
                found.append(path)
    return found


def affected(roots: Sequence[Path], changed: Iterable[Path]) -> list[Path]:
    """The case files under ``roots`` to run again after ``changed`` files changed (see the
    module doc); found afresh, so a new case file is run and a deleted one is not."""
    files = _case_files(roots)
    chosen: set[Path] = set()
    for path in (Path(p).resolve() for p in changed):
        owners = [f for f in files if path.is_relative_to(f.resolve().parent.parent)]
        if not owners:
            return files
        chosen.update(owners)
    return [f for f in files if f in chosen]


def watch_cases(
    roots: Sequence[Path],
    rerun: Callable[[list[Path], list[Path]], None],
    *,
    stop_event: threading.Event | None = None,
) -> None:
    """Call ``rerun(case_files, changed)`` after each group of changes under ``roots``, until
    ``stop_event`` is set (or Ctrl-C, which raises ``KeyboardInterrupt``).

    ``case_files`` are those :func:`affected` chooses, ``changed`` the files that changed.
    """
    from watchfiles import watch

    folders = watched_folders(roots)
    for changes in watch(*folders, stop_event=stop_event):
        changed = sorted({Path(path) for _, path in changes})
        rerun(affected(roots, changed), changed)
