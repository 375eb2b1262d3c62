"""Which emulator stands in for a destination, and which settings point an instance at it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from framework.definitions.destination import Destination
from framework.emulators.capture import CaptureEmulator, NotEmulable, emulated_settings
from framework.emulators.contentstack import ContentstackEmulator
from framework.emulators.server import EmulatorServer

__all__ = ["NotEmulable", "StandIn", "stand_in_for"]

_OWN: Final[dict[str, tuple[Callable[[], EmulatorServer], tuple[str, ...]]]] = {
    "contentstack": (ContentstackEmulator, ("personalizeEdgeApiBaseUrl",)),
}
"""Destinations with an emulator of their own, and the settings that point at it."""


@dataclass(frozen=True, slots=True)
class StandIn:
    """An emulator (not started yet) and the settings to set to its URL."""

    emulator: EmulatorServer
    settings: tuple[str, ...]
    generic: bool


def stand_in_for(destination: Destination) -> StandIn:
    """The destination's own emulator, or the generic capture emulator built from its definition.

    Raises :class:`~framework.emulators.capture.NotEmulable` when neither can stand in.
    """
    own = _OWN.get(destination.slug)
    if own is not None:
        factory, settings = own
        return StandIn(factory(), settings, generic=False)
    return StandIn(CaptureEmulator(destination), tuple(emulated_settings(destination)), True)
