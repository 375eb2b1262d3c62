"""A generic capture emulator: any destination's API on loopback, from its definition alone.

For a destination with no emulator of its own, ``actionkit run --emulate`` and ``actionkit
emulate`` start a :class:`CaptureEmulator`. It answers ``200 {}`` to each request that one of
the destination's actions declares, and ``400`` with the problems to one that none does; it
records every request, and its state shows what it received per action. The fault injection
and control endpoints are the server's (:class:`~framework.emulators.server.EmulatorServer`).

A request matches an action when all of these hold:

- the method is the action's (for a method a setting chooses, ``{{settings.method}}``, any
  of the setting's ``choices``, or any method without them), and the path fits the path of
  the action's URL template (each placeholder stands for one path segment; the query is not
  compared);
- every header the template gives a fixed value has it (names compared case-insensitively),
  and every header with literal text around its placeholders (``Bearer {{settings.apiKey}}``)
  is present; a header that is only a placeholder may render empty and be left out;
- the body is JSON of the declared shape: an object whose keys are among the body mapping's
  keys (or a list of such objects when the action batches), a list when the body is a list;
  a body that is one directive (``{"@path": "$.payload"}``) may be any JSON. When several
  actions fit, the request counts for the first (in the definition's order) whose body has a
  declared shape, else the first.

The instance is pointed at the emulator through the settings its URL templates start with
(``{{settings.baseUrl}}/events``): :func:`emulated_settings` names them, and refuses a
destination whose URLs do not start with a setting, with a sentence saying which.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from framework.definitions.destination import Destination
from framework.definitions.models import HTTP_METHODS, ActionDefinition, FieldDefinition
from framework.definitions.payload_wording import describe
from framework.definitions.templates import PLACEHOLDER
from framework.emulators.api import ApiError, Request, Response
from framework.emulators.server import EmulatorServer

_LEADING_SETTING: Final = re.compile(r"^\{\{\s*settings\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

SHOWN_REQUESTS: Final = 20
"""The most recent requests the state shows (the request log holds more)."""


class NotEmulable(ValueError):
    """A destination the capture emulator cannot stand in for (a URL not led by a setting)."""


def emulated_settings(destination: Destination) -> list[str]:
    """The settings that lead the destination's URL templates: set them to the emulator's URL.

    Raises :class:`NotEmulable` when an action's URL does not start with a setting (a fixed
    host, or a URL taken from the payload), since nothing could then point it at loopback.
    """
    names: list[str] = []
    for key, action in destination.definition.actions.items():
        match = _LEADING_SETTING.match(action.request.url)
        if match is None:
            raise NotEmulable(
                f"The action '{key}' sends to {action.request.url!r}, which does not start "
                "with a setting ({{settings.baseUrl}}/...), so it cannot be pointed at a "
                "local emulator."
            )
        if match[1] not in names:
            names.append(match[1])
    return names


def _path_pattern(url: str) -> re.Pattern[str]:
    """The path of a URL template after its leading setting, as a pattern of request paths."""
    rest = _LEADING_SETTING.sub("", url, count=1).split("?", 1)[0]
    pattern = ""
    position = 0
    for match in PLACEHOLDER.finditer(rest):
        pattern += re.escape(rest[position : match.start()]) + "[^/]*"
        position = match.end()
    pattern += re.escape(rest[position:])
    return re.compile(pattern or "/?")


@dataclass(frozen=True, slots=True)
class _Expected:
    """What one action's requests look like."""

    key: str
    methods: frozenset[str]
    path: re.Pattern[str]
    fixed_headers: Mapping[str, str]
    present_headers: frozenset[str]
    body: Any
    batches: bool

    @classmethod
    def of(
        cls, key: str, action: ActionDefinition, settings: Mapping[str, FieldDefinition]
    ) -> _Expected:
        fixed: dict[str, str] = {}
        present: set[str] = set()
        for name, value in action.request.headers.items():
            if PLACEHOLDER.search(name):
                continue  # a name a setting chooses: which one is the instance's business
            if not PLACEHOLDER.search(value):
                fixed[name.lower()] = value
            elif PLACEHOLDER.sub("", value).strip():
                present.add(name.lower())
        return cls(
            key,
            _methods(action.request.method, settings),
            _path_pattern(action.request.url),
            fixed,
            frozenset(present),
            action.request.body,
            action.batch is not None,
        )

    def problems(self, request: Request) -> list[dict[str, str]]:
        """Why ``request`` is not one of this action's; empty when it is."""
        found: list[dict[str, str]] = []
        for name, value in self.fixed_headers.items():
            got = request.header(name)
            if got is None:
                found.append(_problem(f"/headers/{name}", f"The header '{name}' is missing."))
            elif got.split(";")[0].strip().lower() != value.split(";")[0].strip().lower():
                found.append(
                    _problem(f"/headers/{name}", f"The header '{name}' is {got!r}, not {value!r}.")
                )
        for name in sorted(self.present_headers):
            if not request.header(name):
                found.append(_problem(f"/headers/{name}", f"The header '{name}' is missing."))
        return found + self._body_problems(request)

    def _body_problems(self, request: Request) -> list[dict[str, str]]:
        if self.body is None:
            return []
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            return [_problem("/body", "The body is not JSON, but the action sends JSON.")]
        if _is_directive(self.body):
            return []
        if isinstance(self.body, list):
            if isinstance(body, list):
                return []
            return [_problem("/body", f"The body should be a list, but it is {describe(body)}.")]
        if isinstance(self.body, dict):
            items = body if self.batches and isinstance(body, list) else [body]
            found = []
            for index, item in enumerate(items):
                where = f"/body/{index}" if items is body else "/body"
                if not isinstance(item, dict):
                    found.append(
                        _problem(where, f"Expected an object, but it is {describe(item)}.")
                    )
                    continue
                unknown = sorted(set(item) - set(self.body))
                if unknown:
                    names = ", ".join(f"'{key}'" for key in unknown)
                    found.append(
                        _problem(where, f"The body has keys the action never sends: {names}.")
                    )
            return found
        return []


def _methods(method: str, settings: Mapping[str, FieldDefinition]) -> frozenset[str]:
    """The methods an action's requests may have: its own, or those its setting allows."""
    match = PLACEHOLDER.fullmatch(method)
    if match is None:
        return frozenset({method.upper()})
    spec = settings.get(match[1].removeprefix("settings."))
    if spec is None or not spec.choices:
        return frozenset(HTTP_METHODS)
    return frozenset(str(choice.value) for choice in spec.choices)


def _is_directive(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith("@")


def _problem(pointer: str, message: str) -> dict[str, str]:
    return {"pointer": pointer, "message": message}


class CaptureApi:
    """The emulated API of :class:`CaptureEmulator`: matches, records and answers requests."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        settings = destination.definition.settings
        self._expected = [
            _Expected.of(key, action, settings)
            for key, action in destination.definition.actions.items()
        ]
        self.reset()

    def reset(self) -> None:
        """Forget what was received."""
        self._counts: Counter[str] = Counter()
        self._unmatched = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=SHOWN_REQUESTS)

    def handle(self, request: Request) -> Response:
        """``200 {}`` for a request an action declares; ``400 UNEXPECTED_REQUEST`` otherwise."""
        candidates = [
            expected
            for expected in self._expected
            if request.method in expected.methods and expected.path.fullmatch(request.path)
        ]
        # The most specific first: a body of a declared shape (a batch's array) before a body
        # that is one directive and may be any JSON, so a batch is counted as the batch.
        candidates.sort(key=lambda expected: _is_directive(expected.body))
        problems: list[dict[str, str]] = []
        for expected in candidates:
            problems = expected.problems(request)
            if not problems:
                self._counts[expected.key] += 1
                self._remember(request, expected.key, [])
                return Response(200, {})
        self._unmatched += 1
        if not candidates:
            declared = ", ".join(
                sorted({f"{'|'.join(sorted(e.methods))} {e.path.pattern}" for e in self._expected})
            )
            problems = [
                _problem(
                    "",
                    f"No action of {self.destination.slug} sends {request.method} "
                    f"{request.path}; they send: {declared}.",
                )
            ]
        self._remember(request, None, problems)
        raise ApiError(
            400,
            "UNEXPECTED_REQUEST",
            "The request is not one the destination's actions declare.",
            errors=tuple(problems),
        )

    def _remember(
        self, request: Request, action: str | None, problems: list[dict[str, str]]
    ) -> None:
        try:
            body: Any = json.loads(request.body) if request.body else None
        except ValueError:
            body = request.body.decode("utf-8", "replace")
        self._recent.append(
            {
                "action": action,
                "method": request.method,
                "path": request.path,
                "body": body,
                "problems": problems,
            }
        )

    def state(self) -> dict[str, Any]:
        """``{"destination", "received": {action: count}, "unmatched", "recent": [...]}``."""
        return {
            "destination": self.destination.slug,
            "received": dict(sorted(self._counts.items())),
            "unmatched": self._unmatched,
            "recent": list(self._recent),
        }


class CaptureEmulator(EmulatorServer):
    """Any destination's API on loopback, from its definition: ``with CaptureEmulator(d) as api``.

    See :class:`CaptureApi` for what it accepts and :class:`EmulatorServer` for the rest
    (faults, outages, the request log, the control endpoints).
    """

    def __init__(
        self,
        destination: Destination,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_logged_requests: int | None = 1000,
    ) -> None:
        self.capture = CaptureApi(destination)
        super().__init__(
            self.capture, host=host, port=port, max_logged_requests=max_logged_requests
        )
