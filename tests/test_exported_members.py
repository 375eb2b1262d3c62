"""The public API is exactly what ``framework.__all__`` lists, and all of it is documented."""

from __future__ import annotations

from types import ModuleType

import framework


def test_all_names_are_exported_and_nothing_public_is_missing() -> None:
    public = {
        name
        for name, value in vars(framework).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(framework.__all__)


def test_every_exported_name_has_a_docstring() -> None:
    missing = [name for name in framework.__all__ if not getattr(framework, name).__doc__]
    assert missing == []
