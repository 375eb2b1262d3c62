"""The public API is exactly what ``framework.__all__`` lists, and all of it is documented."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

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


PACKAGES = [
    "framework.checks",
    "framework.debugger",
    "framework.definitions",
    "framework.delivery",
    "framework.emulators",
    "framework.fql",
    "framework.mapping",
    "framework.queue",
    "framework.server",
    "framework.sync",
    "framework.testing",
    "framework.worker",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_lists_what_it_exports_and_documents_it(name: str) -> None:
    package = importlib.import_module(name)
    exported = set(package.__all__)
    public = {
        key
        for key, value in vars(package).items()
        if not key.startswith("_") and not isinstance(value, ModuleType)
    }
    public -= {"annotations"}  # from __future__ import annotations
    assert public <= exported, f"{name} exports names its __all__ does not list"
    assert all(hasattr(package, key) for key in exported)
    undocumented = [
        key
        for key in exported
        if inspect.isclass(getattr(package, key)) or inspect.isfunction(getattr(package, key))
        if not getattr(package, key).__doc__
    ]
    assert undocumented == []
