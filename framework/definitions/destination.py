"""A loaded destination: its definition with every trigger, mapping and template compiled.

Built by :func:`framework.definitions.loader.load_destination`; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.definitions.models import ActionDefinition, DestinationDefinition, Preset
from framework.definitions.payload import PayloadValidator
from framework.definitions.request import RequestBuilder
from framework.definitions.templates import Template
from framework.fql import Trigger


@dataclass(frozen=True, slots=True)
class Action:
    """One action, ready to run: default trigger and mapping compiled, payload schema built."""

    key: str
    definition: ActionDefinition
    default_trigger: Trigger
    default_mapping: Mapping[str, Any]
    validator: PayloadValidator
    request: RequestBuilder
    batch_key: Template | None

    @property
    def title(self) -> str:
        """The action's title for people."""
        return self.definition.title


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination definition, loaded and compiled; shared by all its instances."""

    definition: DestinationDefinition
    path: Path
    actions: Mapping[str, Action]
    settings_validator: PayloadValidator
    secret_settings: frozenset[str]

    @property
    def slug(self) -> str:
        """The destination's identifier, as instances name it."""
        return self.definition.slug

    @property
    def name(self) -> str:
        """The destination's name for people."""
        return self.definition.name

    @property
    def integration_names(self) -> tuple[str, ...]:
        """The names the destination answers to in an event's ``integrations`` object."""
        return self.definition.integration_names or (self.definition.name,)

    @property
    def presets(self) -> Mapping[str, Preset]:
        """The destination's presets, by slug."""
        return self.definition.presets

    def resolve_setting_aliases(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Settings with aliased values replaced (a region name by its base URL)."""
        resolved = dict(settings)
        for name, spec in self.definition.settings.items():
            value = resolved.get(name)
            if spec.aliases and isinstance(value, str) and value in spec.aliases:
                resolved[name] = spec.aliases[value]
        return resolved
