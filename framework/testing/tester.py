"""``DestinationTester``: run a destination's actions and instances on events, with no network.

Every run goes through the real engine and the real :class:`~framework.Router`: the event
check, the integrations object, triggers (for instances), the mapping, payload validation,
request building, batching and retries. Only the transport and the clock are replaced:
requests reach a :class:`~framework.testing.mockapi.MockApi` that records them and answers
as the test says, and runs happen on a :class:`~framework.testing.clock.JumpingLoop`, where
a wait (a ``Retry-After``, a backoff, a batch window) is honoured and takes no real time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from framework.definitions.destination import Destination
from framework.definitions.events import EventChecker
from framework.definitions.instance import Instance, Planned, Subscription, load_instance
from framework.definitions.loader import ProblemCollector, check_mapping_keys, load_destination
from framework.definitions.source import SourceDocument
from framework.delivery.deadletter import DeadLetterStore
from framework.delivery.gate import EndpointGate
from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy
from framework.delivery.router import Router
from framework.errors import DefinitionError, Problem
from framework.fql import parse_trigger
from framework.mapping import compile_mapping
from framework.testing.clock import JumpingLoop
from framework.testing.events import make_test_event
from framework.testing.mockapi import UNSET, Handler, MockApi, shown_request
from framework.testing.results import ActionResult, EventResult

__all__ = ["TEST_RETRY_POLICY", "DestinationTester"]

T = TypeVar("T")

TEST_RETRY_POLICY = RetryPolicy(max_attempts=5)
"""The tester's retries: production's backoff and ``Retry-After`` rules, at most 5 tries.

Runs happen on a :class:`~framework.testing.clock.JumpingLoop`, so every wait (a backoff, a
``Retry-After``, a paused endpoint) is honoured as delivery honours it and takes no real
time: a 429 with ``Retry-After: 1`` then a 200 is ``delivered`` after two requests. Pass
``retry=`` to change it.
"""

# run_action skips the action's trigger; every checked event has a type, so this matches all.
_EVERY_EVENT = parse_trigger("type != null")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_jumping(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_jumping, coroutine).result()


def _run_jumping(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a :class:`JumpingLoop`: delivery's waits take no real time."""
    with asyncio.Runner(loop_factory=JumpingLoop) as runner:
        return runner.run(coroutine)


def _event_list(event: Any) -> list[Any]:
    if event is None:
        return [make_test_event()]
    if isinstance(event, list | tuple):
        return list(event)
    return [event]


class DestinationTester:
    """Runs one destination's actions, presets and instances on events, with no network.

    ``slug_or_path``: a destination slug (``"contentstack"``), the path of its
    ``destination.yaml`` or folder, or a loaded :class:`~framework.Destination`.
    ``settings`` are used by every run (a run's own ``settings`` go over them); they are
    checked like an instance's, and password values never appear in results.
    ``retry`` defaults to :data:`TEST_RETRY_POLICY`; ``dead_letters`` (a path or a store)
    keeps final failures, which are then ``dead_lettered`` instead of ``*_failure``.

    Events: ``event`` is one event (used exactly as given; build a full one with
    :func:`~framework.testing.make_test_event`), a list of events (sent together, so the
    requests show how they batch), or None for one ``make_test_event()``.
    """

    def __init__(
        self,
        slug_or_path: str | Path | Destination,
        *,
        settings: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        dead_letters: str | Path | DeadLetterStore | None = None,
    ) -> None:
        if isinstance(slug_or_path, Destination):
            self.destination = slug_or_path
        else:
            self.destination = load_destination(slug_or_path)
        self.settings: dict[str, Any] = dict(settings or {})
        self.retry = retry or TEST_RETRY_POLICY
        self.dead_letters = dead_letters
        self.api = MockApi()
        self._checker = EventChecker()
        self._header_names = frozenset(
            name.lower()
            for action in self.destination.actions.values()
            for name in action.definition.request.headers
        )

    def __repr__(self) -> str:
        return f"DestinationTester({self.destination.slug!r})"

    # -- the mock API ----------------------------------------------------------------------

    def respond(
        self,
        status_or_handler: int | Handler = 200,
        *,
        json: Any = UNSET,
        headers: Mapping[str, str] | None = None,
        text: str | None = None,
        optional: bool = False,
    ) -> None:
        """Queue the answer the next request gets: a status with a JSON body, or a handler.

        Answers are used in order, one per request, and the last one keeps answering; with
        none queued every request gets ``200 {}``. ``json`` defaults to ``{}``; ``text``
        replaces it; a handler takes the ``httpx.Request`` and returns an ``httpx.Response``.
        An answer that no request reached is listed by :meth:`unused_answers`, unless it is
        ``optional``.
        """
        self.api.respond(
            status_or_handler, json=json, headers=headers, text=text, optional=optional
        )

    def unused_answers(self) -> list[str]:
        """The queued answers no request reached since the last reset (optional ones aside).

        Each is named by its place and status, ``answer 2 (503)``; a test that queued an
        answer meant a request that was not sent.
        """
        return self.api.unused()

    def reset(self) -> None:
        """Forget the queued answers and the requests the mock API received."""
        self.api.reset()

    # -- runs ------------------------------------------------------------------------------

    def run_action(
        self,
        action: str,
        event: Any = None,
        *,
        mapping: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        use_default_mappings: bool = True,
    ) -> ActionResult:
        """Run one action on the event(s), skipping its trigger (as Segment's ``testAction``).

        The mapping is the action's default mapping with ``mapping`` over it, or only
        ``mapping`` when ``use_default_mappings`` is false. The event check and the
        integrations object still apply. Raises :class:`~framework.DefinitionError` for an
        unknown action, a mapping that does not compile or names no field of the action, or
        invalid settings (pointers ``/action``, ``/mapping/...``, ``/settings/...``).
        """
        found = self.destination.actions.get(action)
        if found is None:
            known = ", ".join(sorted(self.destination.actions))
            raise DefinitionError(
                f"The destination '{self.destination.slug}' has no action '{action}'.",
                [
                    Problem(
                        "/action",
                        f"There is no action '{action}'; the actions are: {known}.",
                        "UNKNOWN_ACTION",
                    )
                ],
            )
        given = dict(mapping or {})
        collector = ProblemCollector(SourceDocument(given, "<mapping>"))
        check_mapping_keys(given, found.definition, action, "/mapping", collector)
        collector.mapping(given, "/mapping")
        collector.raise_if_any(f"The mapping for the action '{action}' is invalid.")
        merged = {**found.default_mapping, **given} if use_default_mappings else given
        subscription = Subscription(action, found, _EVERY_EVENT, compile_mapping(merged), True)
        instance = replace(self._instance(settings), subscriptions=(subscription,))
        [result] = self._run_instance(instance, _event_list(event))
        return result

    def run_preset(
        self,
        preset: str,
        event: Any = None,
        *,
        mapping: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> ActionResult:
        """Run one preset on the event(s) through its trigger, the preset turned on.

        ``mapping`` goes over the preset's mapping, as in an instance.
        """
        entry: dict[str, Any] = {"name": preset, "preset": preset, "enabled": True}
        if mapping is not None:
            entry["mapping"] = dict(mapping)
        definition = {
            "destination": str(self.destination.path),
            "name": "test",
            "settings": {**self.settings, **(settings or {})},
            "mappings": [entry],
            # The testing switch, as for the tester's own instances: nothing leaves the mock.
            "delivery": {"allowLoopback": True},
        }
        [result] = self.run_instance(definition, event)
        return result

    def run_instance(
        self, instance: Instance | str | Path | Mapping[str, Any], event: Any = None
    ) -> list[ActionResult]:
        """Run an instance on the event(s): one result per enabled subscription, in order.

        ``instance`` is an :class:`~framework.Instance`, a path, or a dict; a dict without
        ``destination`` is for the tester's destination. Triggers and the integrations object
        decide as in production; a malformed event is ``invalid`` for every subscription.
        """
        if isinstance(instance, Mapping) and "destination" not in instance:
            instance = {"destination": str(self.destination.path), **instance}
        loaded = instance if isinstance(instance, Instance) else load_instance(instance)
        return self._run_instance(loaded, _event_list(event))

    # -- internals -------------------------------------------------------------------------

    def _instance(self, settings: Mapping[str, Any] | None) -> Instance:
        empty = Instance("test", self.destination, {}, ())
        return empty.with_settings({**self.settings, **(settings or {})}, allow_loopback=True)

    def _run_instance(self, instance: Instance, events: list[Any]) -> list[ActionResult]:
        subscriptions = [sub for sub in instance.subscriptions if sub.enabled]
        routed = _run(self._route(instance, subscriptions, events))
        results = []
        for subscription, (deliveries, received) in zip(subscriptions, routed, strict=True):
            single = replace(instance, subscriptions=(subscription,))
            outcomes = tuple(
                self._event_result(single, event, delivery)
                for event, delivery in zip(events, deliveries, strict=True)
            )
            names = self._header_names | _chosen_header_names(instance)
            requests = tuple(
                shown_request(request, names, instance.secrets) for request in received
            )
            results.append(
                ActionResult(
                    instance.name, subscription.name, subscription.action.key, outcomes, requests
                )
            )
        return results

    async def _route(
        self, instance: Instance, subscriptions: Sequence[Subscription], events: list[Any]
    ) -> list[tuple[list[Delivery], list[Any]]]:
        """Route the events through each subscription on its own, so requests are its own."""
        routed = []
        for subscription in subscriptions:
            single = replace(instance, subscriptions=(subscription,))
            start = len(self.api.received)
            async with Router(
                [single],
                dead_letters=self.dead_letters,
                retry=self.retry,
                transport=self.api.transport(),
                # The gate reads the loop's clock, so a Retry-After's pause passes at once.
                gate=EndpointGate(clock=asyncio.get_running_loop().time),
            ) as router:
                # All events are routed in one go, as they would arrive together.
                deliveries = [
                    found[0]
                    async for found in router.aroute_many(events, concurrency=len(events) or 1)
                ]
            routed.append((deliveries, list(self.api.received[start:])))
        return routed

    def _event_result(self, instance: Instance, event: Any, delivery: Delivery) -> EventResult:
        problems = self._checker.problems(event)
        if problems:
            return EventResult(event, "invalid", None, tuple(problems), None, delivery)
        [plan] = instance.plan(event)
        return _from_plan(event, plan, delivery)


def _from_plan(event: Any, plan: Planned, delivery: Delivery) -> EventResult:
    return EventResult(event, plan.status, plan.payload, plan.errors, plan.reason, delivery)


def _chosen_header_names(instance: Instance) -> frozenset[str]:
    """The header names the instance's settings choose (``{{settings.userUidHeader}}``)."""
    names: set[str] = set()
    for action in instance.destination.actions.values():
        names |= action.request.header_names(instance.settings)
    return frozenset(names)
