"""Destination instances: settings plus at most 50 subscriptions, and planning an event.

:func:`load_instance` checks an instance completely (schema, the destination's settings
fields, every subscription's trigger and mapping) and refuses it with every problem listed.
:meth:`Instance.plan` then takes one event through the engine up to the request, without
sending anything: the integrations object, each subscription's trigger, its mapping, payload
validation, and the request the action would make.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from framework.definitions.bound import BoundRequest, bind_request
from framework.definitions.destination import Action, Destination
from framework.definitions.events import EventChecker
from framework.definitions.integrations import integrations_decision
from framework.definitions.loader import (
    ProblemCollector,
    check_mapping_keys,
    load_destination,
)
from framework.definitions.models import DeliveryOptions, InstanceDefinition, MappingEntry
from framework.definitions.network import NetworkPolicy, url_problems, url_text_refusal
from framework.definitions.request import REDACTED, PlannedRequest
from framework.definitions.schema_check import bundled_validator, schema_problems
from framework.definitions.settings_wording import settings_problem
from framework.definitions.source import SourceDocument, join_pointer, read_document
from framework.errors import (
    DefinitionError,
    PayloadValidationError,
    Problem,
    RequestBuildError,
)
from framework.fql import Trigger
from framework.fql.index import cached_index
from framework.mapping import Mapping as CompiledMapping
from framework.mapping import compile_mapping
from framework.mapping.jsvalues import js_string
from framework.suggestions import did_you_mean

MAX_MAPPINGS = 50
"""The most subscriptions (mappings) one destination instance may hold."""

PlanStatus = Literal["ready", "not_subscribed", "filtered", "invalid"]
"""What planning decided for one subscription and one event.

``ready``: the trigger matched and the request is built. ``not_subscribed``: the trigger did not
match. ``filtered``: the trigger matched, but the event's integrations object turned this
destination off. ``invalid``:
the payload failed validation, or its request could not be built.
"""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One compiled subscription of an instance: an action, its trigger and mapping."""

    name: str
    action: Action
    trigger: Trigger
    mapping: CompiledMapping
    enabled: bool
    preset: str | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    """What one subscription would do with one event (nothing is sent while planning)."""

    instance: str
    mapping: str
    action: str
    status: PlanStatus
    payload: dict[str, Any] | None = None
    errors: tuple[Problem, ...] = ()
    request: PlannedRequest | None = None
    # A batch key may be built from a password setting: repr leaves it out.
    batch_key: str | None = field(default=None, repr=False)
    reason: str | None = None
    batch_group: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    """The values the batch key is made of, each as JSON, in the key's order: the lane the
    event waits in. Unlike ``batch_key``, two events have the same group only when every
    value is the same (``{{payload.a}}-{{payload.b}}`` renders ``a--b`` for a="a-", b="b" and
    for a="a", b="-b", which are two groups)."""

    @property
    def matched(self) -> bool:
        """Whether the subscription's trigger matched the event."""
        return self.status in ("ready", "invalid", "filtered")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, with password values masked."""
        return {
            "instance": self.instance,
            "mapping": self.mapping,
            "action": self.action,
            "status": self.status,
            "matched": self.matched,
            "reason": self.reason,
            "payload": self.payload,
            "errors": [error.to_dict() for error in self.errors],
            "request": self.request.redacted() if self.request is not None else None,
            "batch_key": self.shown_batch_key(),
        }

    def shown_batch_key(self) -> str | None:
        """The batch key with password values masked (a key may be built from a setting)."""
        if self.batch_key is None or self.request is None:
            return self.batch_key
        key = self.batch_key
        for secret in self.request.secrets:
            key = key.replace(secret, REDACTED)
        return key


@dataclass(frozen=True, slots=True, repr=False)
class Instance:
    """A destination instance ready to plan events; its settings are checked and resolved.

    The ``repr`` never shows settings (they may hold secrets).
    """

    name: str
    destination: Destination
    settings: Mapping[str, Any]
    subscriptions: tuple[Subscription, ...]
    secrets: frozenset[str] = field(default=frozenset(), compare=False)
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    _events: EventChecker = field(default_factory=EventChecker, compare=False)
    _requests: Mapping[str, BoundRequest] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each action's request template bound to the settings once (framework/definitions/
        # bound.py): per event, only what reads the payload renders.
        bound = {
            key: bind_request(action.request, self.settings, self.secrets)
            for key, action in self.destination.actions.items()
        }
        object.__setattr__(self, "_requests", bound)

    def __repr__(self) -> str:
        return (
            f"Instance(name={self.name!r}, destination={self.destination.slug!r}, "
            f"subscriptions={len(self.subscriptions)})"
        )

    @property
    def network(self) -> NetworkPolicy:
        """Which non-public addresses this instance may send to (its ``delivery`` block)."""
        return _network(self.delivery)

    def with_settings(
        self, overrides: Mapping[str, Any], *, allow_loopback: bool | None = None
    ) -> Instance:
        """The same instance with some settings replaced (checked like the originals).

        ``allow_loopback=True`` turns on the testing switch (``delivery.allowLoopback``), for
        pointing the instance at a local emulator; None keeps the instance's own. Raises
        :class:`DefinitionError` when the new settings are invalid or send somewhere refused.
        """
        delivery = self.delivery
        if allow_loopback is not None:
            delivery = delivery.model_copy(update={"allow_loopback": allow_loopback})
        collector = ProblemCollector(SourceDocument(None, f"<instance {self.name}>"))
        settings = _check_settings(self.destination, {**self.settings, **overrides}, collector)
        collector.raise_if_any("The new settings are invalid.")
        changed = replace(self, settings=settings, delivery=delivery)
        _check_urls(self.destination, settings, changed.network, collector)
        _check_header_settings(self.destination, settings, collector)
        collector.raise_if_any("The new settings are invalid.")
        return replace(changed, secrets=_secret_values(self.destination, settings))

    def redacted_settings(self) -> dict[str, Any]:
        """The settings with every password setting's value masked."""
        return {
            key: REDACTED if key in self.destination.secret_settings else value
            for key, value in self.settings.items()
        }

    def plan(self, event: Any) -> list[Planned]:
        """For each enabled subscription, what would happen to ``event``.

        Raises :class:`framework.EventError` when the event is not a Segment event: it is
        reported, never silently dropped.
        """
        self._events.check(event)
        reason = integrations_decision(event, self.destination.integration_names)
        plans: list[Planned] = []
        subscriptions = self.subscriptions
        # All triggers evaluated together (framework/fql/index.py), once per event.
        index = cached_index(subscriptions, lambda: [s.trigger for s in subscriptions])
        matching = index.matching(event)
        for position, subscription in enumerate(subscriptions):
            if not subscription.enabled:
                continue
            action_key = subscription.action.key
            if position not in matching:
                plans.append(Planned(self.name, subscription.name, action_key, "not_subscribed"))
            elif reason is not None:
                plans.append(
                    Planned(self.name, subscription.name, action_key, "filtered", reason=reason)
                )
            else:
                plans.append(self._plan_match(subscription, event))
        return plans

    def _plan_match(self, subscription: Subscription, event: Mapping[str, Any]) -> Planned:
        action = subscription.action
        mapped = subscription.mapping.resolve(event)
        try:
            payload = action.validator.validate(mapped)
        except PayloadValidationError as exc:
            return Planned(
                self.name,
                subscription.name,
                action.key,
                "invalid",
                payload=mapped,
                errors=tuple(exc.errors),
            )
        try:
            request = self._requests[action.key].build(payload)
        except RequestBuildError as exc:
            return Planned(
                self.name,
                subscription.name,
                action.key,
                "invalid",
                payload=payload,
                errors=(Problem(exc.pointer, exc.message, exc.code),),
            )
        batch_key = None
        batch_group = None
        if action.batch_key is not None:
            data = {"settings": self.settings, "payload": payload}
            batch_key = action.batch_key.render(data)
            batch_group = tuple(_json_at(data, path) for path in action.batch_key.paths)
        return Planned(
            self.name,
            subscription.name,
            action.key,
            "ready",
            payload=payload,
            request=request,
            batch_key=batch_key,
            batch_group=batch_group,
        )


_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr)
"""Made once: ``json.dumps`` with options makes an encoder per call (2 us of a plan)."""


def _json_at(data: Mapping[str, Any], path: tuple[str, ...]) -> str:
    """The value at ``path`` as JSON text (``null`` when missing, as the key renders nothing)."""
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return _KEY_JSON.encode(value)


def _secret_values(destination: Destination, settings: Mapping[str, Any]) -> frozenset[str]:
    values: set[str] = set()
    for name in destination.secret_settings:
        value = settings.get(name)
        # A secret object (headers from a setting) keeps each of its values secret.
        for item in value.values() if isinstance(value, Mapping) else (value,):
            if item not in (None, ""):
                values.add(str(item))
    return frozenset(values)


def _check_settings(
    destination: Destination, given: Mapping[str, Any], collector: ProblemCollector
) -> dict[str, Any]:
    defaults = {
        name: spec.default
        for name, spec in destination.definition.settings.items()
        if spec.has_default()
    }
    _check_setting_names(destination, given, collector)
    settings = destination.resolve_setting_aliases({**defaults, **given})
    try:
        return destination.settings_validator.validate(settings)
    except PayloadValidationError as exc:
        for problem in exc.errors:
            collector.add(settings_problem(destination, given, problem))
        return {}


def _check_setting_names(
    destination: Destination, given: Mapping[str, Any], collector: ProblemCollector
) -> None:
    """A problem for each given setting the destination does not have."""
    known = destination.definition.settings
    for key in sorted(str(key) for key in given if key not in known):
        collector.add(
            Problem(
                f"/settings/{key}",
                f"The destination '{destination.slug}' has no setting '{key}'; its settings "
                f"are: {', '.join(sorted(known))}.{did_you_mean(key, known)}",
                "UNKNOWN_SETTING",
            )
        )


def _network(options: DeliveryOptions) -> NetworkPolicy:
    return NetworkPolicy(
        allow_private=options.allow_private_network, allow_loopback=options.allow_loopback
    )


def _check_header_settings(
    destination: Destination, settings: Mapping[str, Any], collector: ProblemCollector
) -> None:
    """Refuse settings sent in a header that a header cannot carry (a line break, non-ASCII)."""
    for action in destination.actions.values():
        for problem in action.request.setting_problems(settings):
            collector.add(problem)


def _check_urls(
    destination: Destination,
    settings: Mapping[str, Any],
    policy: NetworkPolicy,
    collector: ProblemCollector,
) -> None:
    """Refuse settings that would send requests somewhere they must not go.

    Only the settings that make a request URL's base (``{{settings.baseUrl}}/events``,
    ``https://{{settings.host}}/v1``; see :func:`.request.url_setting_places`) are inserted
    as they are; every other setting in a URL is percent-encoded like a payload value, so it
    stays one path segment or query value whatever it holds. A base setting may not hold a
    space, a control character or a backslash (:func:`.network.url_text_refusal`), nor ``?``
    or ``#`` (the query or fragment would swallow the path the action adds); the URL it makes
    may not carry a user name or password, and its host may not be an address ``policy``
    refuses (:mod:`.network`). Names are resolved, and their addresses checked, when the
    delivery client connects. Each problem is reported once, at the setting's pointer.
    """
    reported: set[tuple[str, str]] = set()

    def add(pointer: str, message: str, code: str) -> None:
        if (pointer, code) not in reported:
            reported.add((pointer, code))
            collector.add(Problem(pointer, message, code))

    for action in destination.actions.values():
        builder = action.request
        for problem in builder.url_setting_problems(settings):
            add(problem.pointer, problem.message, problem.code)
        base = builder.url_base_settings
        values = [_setting_at(settings, path[1:]) for path in base]
        if not base or any(value is None for value in values):
            continue
        refused = False
        for path, value in zip(base, values, strict=True):
            pointer = join_pointer(*path)
            text = js_string(value)
            refusal = url_text_refusal(text)
            if refusal is not None:
                refused = True
                add(
                    pointer,
                    f"The setting is the base of request URLs and holds {refusal}, which a URL "
                    "cannot carry as it is. Give the scheme, host, port and path only, "
                    "percent-encoded where needed (%20 for a space).",
                    "URL_NOT_ALLOWED",
                )
            elif "?" in text or "#" in text:
                refused = True
                add(
                    pointer,
                    "The setting is used in request URLs and must not contain '?' or "
                    "'#': a query or fragment would swallow the path each action adds. "
                    "Give the scheme, host, port and path only.",
                    "URL_NOT_ALLOWED",
                )
        if refused:
            continue
        url = builder.url(settings, {})
        for code, sentence in url_problems(url, policy):
            add(
                join_pointer(*base[0]),
                f"The setting gives the host of request URLs. {sentence}",
                code,
            )


def _setting_at(settings: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _compile_subscription(
    destination: Destination,
    entry: MappingEntry,
    pointer: str,
    collector: ProblemCollector,
) -> Subscription | None:
    preset = None
    if entry.preset is not None:
        preset = destination.presets.get(entry.preset)
        if preset is None:
            known = ", ".join(sorted(destination.presets)) or "none"
            collector.add(
                Problem(
                    f"{pointer}/preset",
                    f"The destination '{destination.slug}' has no preset '{entry.preset}'; "
                    f"its presets are: {known}.{did_you_mean(entry.preset, destination.presets)}",
                    "UNKNOWN_PRESET",
                )
            )
            return None
    action_key = entry.action or (preset.action if preset else None)
    if preset is not None and entry.action is not None and entry.action != preset.action:
        collector.add(
            Problem(
                f"{pointer}/action",
                f"The preset '{entry.preset}' is for the action '{preset.action}', "
                f"not '{entry.action}'.",
                "PRESET_ACTION_MISMATCH",
            )
        )
        return None
    action = destination.actions.get(action_key or "")
    if action is None:
        known = ", ".join(sorted(destination.actions))
        collector.add(
            Problem(
                f"{pointer}/action",
                f"The destination '{destination.slug}' has no action '{action_key}'; "
                f"its actions are: {known}.{did_you_mean(action_key or '', destination.actions)}",
                "UNKNOWN_ACTION",
            )
        )
        return None
    expression = entry.trigger or (preset.trigger if preset else None)
    trigger = action.default_trigger
    parsed = None if expression is None else collector.trigger(expression, f"{pointer}/trigger")
    # The mapping is checked even when the trigger is broken, so one run shows every problem.
    given = entry.mapping or {}
    check_mapping_keys(given, action.definition, action.key, f"{pointer}/mapping", collector)
    merged = {**action.default_mapping, **((preset.mapping or {}) if preset else {}), **given}
    if not collector.mapping(given, f"{pointer}/mapping"):
        return None
    if expression is not None:
        if parsed is None:
            return None
        trigger = parsed
    enabled = entry.enabled if entry.enabled is not None else (preset.enabled if preset else True)
    return Subscription(entry.name, action, trigger, compile_mapping(merged), enabled, entry.preset)


def _destination_target(name: str, base_dir: Path | None) -> str | Path:
    """What ``destination:`` names: a slug, or a file relative to the instance's folder."""
    if base_dir is not None and ("/" in name or name.endswith((".yaml", ".yml", ".json"))):
        return base_dir / name
    return name


def _check_beyond_schema(data: Any, base_dir: Path | None, collector: ProblemCollector) -> None:
    """With the document's shape broken, still check what can be, so one run shows it all.

    When the destination loads: the setting names, and each mapping's preset, action,
    trigger and mapping, taken from whatever of them has the right type.
    """
    if not isinstance(data, dict) or not isinstance(data.get("destination"), str):
        return
    try:
        destination = load_destination(_destination_target(data["destination"], base_dir))
    except DefinitionError:
        return  # reported once the shape is fixed, with the destination's own problems
    settings = data.get("settings")
    if isinstance(settings, dict):
        _check_setting_names(destination, settings, collector)
    mappings = data.get("mappings")
    for index, raw in enumerate(mappings if isinstance(mappings, list) else []):
        if not isinstance(raw, dict):
            continue
        entry = MappingEntry.model_construct(
            name=str(raw.get("name", "")),
            preset=_text(raw.get("preset")),
            action=_text(raw.get("action")),
            trigger=_text(raw.get("trigger")),
            mapping=raw.get("mapping") if isinstance(raw.get("mapping"), dict) else None,
            enabled=None,
        )
        if entry.preset is None and entry.action is None:
            continue
        _compile_subscription(destination, entry, join_pointer("mappings", index), collector)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def build_instance(document: SourceDocument, base_dir: Path | None) -> Instance:
    """Check and compile a parsed instance document; raises :class:`DefinitionError`."""
    collector = ProblemCollector(document)
    data = document.data
    mappings = data.get("mappings") if isinstance(data, dict) else None
    if isinstance(mappings, list) and len(mappings) > MAX_MAPPINGS:
        collector.add(
            Problem(
                "/mappings",
                f"An instance holds at most {MAX_MAPPINGS} mappings; this one has "
                f"{len(mappings)}. Split it into several instances.",
                "TOO_MANY_MAPPINGS",
            )
        )
    schema = bundled_validator("instance.schema.json")
    collector.extend(
        [
            problem
            for problem in schema_problems(schema, data)
            if not (problem.pointer == "/mappings" and "At most" in problem.message)
        ]
    )
    if collector.problems:
        _check_beyond_schema(data, base_dir, collector)
    collector.raise_if_any("The destination instance is invalid.")
    definition = collector.model(InstanceDefinition, data)
    collector.raise_if_any("The destination instance is invalid.")
    if definition is None:  # pragma: no cover - model() recorded a problem
        raise DefinitionError("The destination instance is invalid.", source=document.name)
    try:
        destination = load_destination(_destination_target(definition.destination, base_dir))
    except DefinitionError as exc:
        collector.nested(exc, "/destination")
        collector.raise_if_any("The destination instance is invalid.")
        raise
    settings = _check_settings(destination, definition.settings, collector)
    if not collector.problems:  # URLs and headers are checked on settings that are valid
        _check_urls(destination, settings, _network(definition.delivery), collector)
        _check_header_settings(destination, settings, collector)
    subscriptions: list[Subscription] = []
    seen: set[str] = set()
    for index, entry in enumerate(definition.mappings):
        pointer = join_pointer("mappings", index)
        if entry.name in seen:
            collector.add(
                Problem(
                    f"{pointer}/name",
                    f"Another mapping is already named '{entry.name}'; names must be unique.",
                    "DUPLICATE_NAME",
                )
            )
        seen.add(entry.name)
        subscription = _compile_subscription(destination, entry, pointer, collector)
        if subscription is not None:
            subscriptions.append(subscription)
    collector.raise_if_any("The destination instance is invalid.")
    secrets = _secret_values(destination, settings)
    name = definition.name or destination.slug
    return Instance(name, destination, settings, tuple(subscriptions), secrets, definition.delivery)


def load_instance(path_or_dict: str | Path | Mapping[str, Any]) -> Instance:
    """Load a destination instance from a YAML/JSON file or from a dict.

    A relative destination path in the file is resolved from the file's folder. Raises
    :class:`DefinitionError` listing every problem, including a 51st mapping.
    """
    if isinstance(path_or_dict, Mapping):
        document = SourceDocument(dict(path_or_dict), "<instance>")
        return build_instance(document, None)
    path = Path(path_or_dict)
    return build_instance(read_document(path), path.parent)
