"""The Contentstack Personalize Edge API, emulated: manifest, events, user attributes, merges.

:class:`PersonalizeEdge` is the behaviour (an :class:`~framework.emulators.server.EmulatedApi`);
:class:`ContentstackEmulator` serves it on loopback. What it checks and answers, and where it
had to choose because Contentstack's documentation is silent, is described in
``docs/emulator.md``. In short:

- ``x-project-uid`` missing or blank: 400; another project than the one served: 403.
- The user UID, in ``x-cs-personalize-user-uid`` or Segment's ``x-cs-eclipse-user-uid``,
  missing or blank on ``/events`` and ``/user-attributes``: 400. ``GET /manifest`` makes a new
  UID when none is sent, and answers it in ``x-cs-personalize-user-uid``.
- ``content-type`` other than ``application/json``, ``text/plain`` or none: 415. Body not JSON
  or of the wrong shape, or naming an event or attribute the project does not define: 400,
  with every problem listed.
- Success: 200 with ``{"message": ...}``. A request is all or nothing: refused, it changes
  nothing.

Edge API requests carry no message id, so a request sent twice cannot be told from two
requests that happen to be the same: :meth:`PersonalizeEdge.duplicates` counts, per project and
user, the accepted requests that repeat an earlier accepted one exactly (same method, path and
JSON body; for a merge, under its ``targetUserUid``).
"""

from __future__ import annotations

import copy
import itertools
import json
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.emulators.cors import preflight, with_cors
from framework.emulators.edge_bodies import (
    check_attributes,
    check_events,
    check_merge,
    recorded_event,
    refuse,
)
from framework.emulators.manifest import Experience, manifest, parse_experiences
from framework.emulators.server import (
    CONTROL_PREFIX,
    ApiError,
    EmulatorServer,
    Request,
    Response,
    Route,
    dispatch,
    parse_json,
)

__all__ = [
    "ATTRIBUTES_PATH",
    "EVENTS_PATH",
    "JSON_MEDIA_TYPES",
    "MANIFEST_PATH",
    "MERGE_PATH",
    "PROJECT_HEADER",
    "SEGMENT_USER_HEADER",
    "USER_HEADER",
    "USER_HEADERS",
    "ContentstackEmulator",
    "PersonalizeEdge",
    "check_attributes",
    "check_events",
    "check_merge",
]

EVENTS_PATH = "/events"
ATTRIBUTES_PATH = "/user-attributes"
MERGE_PATH = "/user-attributes/actions/merge"
MANIFEST_PATH = "/manifest"
PROJECT_HEADER = "x-project-uid"
USER_HEADER = "x-cs-personalize-user-uid"
"""The user UID header Contentstack documents, and the one its SDK sends and reads back."""
SEGMENT_USER_HEADER = "x-cs-eclipse-user-uid"
"""The user UID header every Segment Contentstack action sends."""
USER_HEADERS = (USER_HEADER, SEGMENT_USER_HEADER)
"""The user UID headers accepted, in order of precedence."""
JSON_MEDIA_TYPES = frozenset({"application/json", "text/plain", ""})
"""Media types a JSON body may be sent as: ``text/plain`` is what ``fetch`` sends for a string
body (the SDK, Segment's web actions), ``""`` is no content-type at all."""
LIVE_ATTRIBUTES_HEADER = "x-live-attributes"
# What a page sends to the Edge API: allowed by a preflight that does not list its headers.
_REQUEST_HEADERS = (
    "content-type",
    PROJECT_HEADER,
    USER_HEADER,
    SEGMENT_USER_HEADER,
    LIVE_ATTRIBUTES_HEADER,
    "x-page-url",
    "x-user-agent",
)
PROJECT_NOT_FOUND = "personalize.MANIFEST.PROJECT_NOT_FOUND"


@dataclass(slots=True)
class _User:
    attributes: dict[str, Any] = field(default_factory=dict)
    # (arrival number, event): merging two users keeps their events in arrival order.
    events: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass(slots=True)
class _Project:
    users: dict[str, _User] = field(default_factory=dict)
    merges: list[dict[str, str]] = field(default_factory=list)


def _query(query: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(query, keep_blank_values=True)


class PersonalizeEdge:
    """The Edge API's behaviour and state, per project, then per user.

    ``project_uid`` (None: any) is the only project served; others get 403.
    ``defined_events`` and ``defined_attributes`` (None: any key) are the event and attribute
    keys defined in the project; a request naming another is refused with 400.
    ``experiences`` (in priority order) are what ``GET /manifest`` evaluates for each user;
    the attribute :attr:`experiences` may be replaced at any time.
    """

    def __init__(
        self,
        project_uid: str | None = None,
        defined_events: Iterable[str] | None = None,
        defined_attributes: Iterable[str] | None = None,
        experiences: Sequence[Experience] = (),
    ) -> None:
        self.project_uid = project_uid
        self.defined_events = None if defined_events is None else frozenset(defined_events)
        self.defined_attributes = (
            None if defined_attributes is None else frozenset(defined_attributes)
        )
        self.experiences: tuple[Experience, ...] = tuple(experiences)
        self._projects: dict[str, _Project] = {}
        self._arrivals = itertools.count()
        # (project, user) -> how many times each accepted request was seen, by fingerprint.
        self._seen: dict[tuple[str, str], Counter[str]] = {}
        self._routes: dict[str, dict[str, Route]] = {
            EVENTS_PATH: {"POST": self._track_events},
            ATTRIBUTES_PATH: {"PATCH": self._set_attributes},
            MERGE_PATH: {"POST": self._merge_users},
            MANIFEST_PATH: {"GET": self._manifest},
        }

    def handle(self, request: Request) -> Response:
        """Answer one request to the Edge API; a browser's ``OPTIONS`` preflight of an API
        path is allowed, and every answer lets a page of any origin read it (CORS)."""
        methods = self._routes.get(request.path)
        if request.method == "OPTIONS" and methods is not None:
            return preflight(request, methods, _REQUEST_HEADERS)
        try:
            response = dispatch(self._routes, request)
        except ApiError as exc:
            response = exc.response()
        return with_cors(response, (USER_HEADER,))

    def state(self) -> dict[str, Any]:
        """``{"projects": {uid: {"users": {uid: {"attributes", "events"}}, "merges": [...]}}}``."""
        return {
            "projects": {
                project_uid: {
                    "users": {
                        user_uid: {
                            "attributes": copy.deepcopy(user.attributes),
                            "events": [dict(event) for _, event in user.events],
                        }
                        for user_uid, user in project.users.items()
                    },
                    "merges": [dict(merge) for merge in project.merges],
                }
                for project_uid, project in self._projects.items()
            }
        }

    def reset(self) -> None:
        """Forget every project, user, event, attribute, merge and duplicate count."""
        self._projects.clear()
        self._arrivals = itertools.count()
        self._seen.clear()

    def duplicates(self) -> dict[str, dict[str, int]]:
        """``{project: {user: n}}``: how many accepted requests for each user repeated an
        earlier accepted one exactly (same method, path and JSON body, keys in any order).

        Only users with at least one repeat are listed. A merge counts under its
        ``targetUserUid``; requests that change nothing (an empty array or object) and refused
        ones are not counted. The counts are kept under the UIDs sent: a merge moves none.
        """
        found: dict[str, dict[str, int]] = {}
        for (project_uid, user_uid), seen in self._seen.items():
            repeats = sum(times - 1 for times in seen.values())
            if repeats:
                found.setdefault(project_uid, {})[user_uid] = repeats
        return found

    def _note(self, project_uid: str, user_uid: str, request: Request, body: Any) -> None:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        fingerprint = f"{request.method} {request.path} {canonical}"
        self._seen.setdefault((project_uid, user_uid), Counter())[fingerprint] += 1

    # Endpoints

    def _track_events(self, request: Request) -> Response:
        project_uid = self._project_uid(request)
        user_uid = self._user_uid(request)
        body = self._json_body(request)
        problems = check_events(body, self.defined_events)
        if problems:
            raise refuse(problems)
        if body:
            user = self._project(project_uid).users.setdefault(user_uid, _User())
            user.events.extend((next(self._arrivals), recorded_event(item)) for item in body)
            self._note(project_uid, user_uid, request, body)
        return Response(200, {"message": "Events triggered successfully"})

    def _set_attributes(self, request: Request) -> Response:
        project_uid = self._project_uid(request)
        user_uid = self._user_uid(request)
        body = self._json_body(request)
        problems = check_attributes(body, self.defined_attributes)
        if problems:
            raise refuse(problems)
        if body:
            user = self._project(project_uid).users.setdefault(user_uid, _User())
            user.attributes.update(body)
            self._note(project_uid, user_uid, request, body)
        return Response(200, {"message": "User Attributes added successfully"})

    def _merge_users(self, request: Request) -> Response:
        project_uid = self._project_uid(request)
        body = self._json_body(request)
        problems = check_merge(body)
        if problems:
            raise refuse(problems)
        source, target = body["sourceUserUid"], body["targetUserUid"]
        project = self._project(project_uid)
        moved = project.users.pop(source, None) if source != target else None
        if moved is not None:
            into = project.users.setdefault(target, _User())
            # Contentstack: on a conflict, the source user's attribute value wins.
            into.attributes = {**into.attributes, **moved.attributes}
            into.events = sorted(into.events + moved.events, key=lambda pair: pair[0])
        project.merges.append({"sourceUserUid": source, "targetUserUid": target})
        self._note(project_uid, target, request, body)
        return Response(200, {"message": "User Attributes merged successfully"})

    def _manifest(self, request: Request) -> Response:
        project_uid = self._project_uid(request, missing_status=404)
        user_uid = self._sent_user_uid(request) or str(uuid.uuid4())
        live = self._live_attributes(request)
        user = self._projects.get(project_uid, _Project()).users.get(user_uid)
        attributes = {**(user.attributes if user else {}), **live}
        tags = [value for key, value in _query(request.query) if key in ("tags[]", "tags")]
        body = manifest(self.experiences, attributes, tags)
        return Response(200, body, ((USER_HEADER, user_uid),))

    def _live_attributes(self, request: Request) -> dict[str, Any]:
        raw = request.header(LIVE_ATTRIBUTES_HEADER)
        if raw is None:
            return {}
        try:
            value = parse_json(raw.encode())
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ApiError(
                400,
                "INVALID_LIVE_ATTRIBUTES",
                f"The {LIVE_ATTRIBUTES_HEADER} header must be a JSON object of attributes.",
            )
        return value

    # Checks shared by the endpoints

    def _project_uid(self, request: Request, missing_status: int = 403) -> str:
        value = request.header(PROJECT_HEADER)
        if value is None or not value.strip():
            raise ApiError(400, "MISSING_PROJECT_UID", f"The {PROJECT_HEADER} header is required.")
        if self.project_uid is not None and value != self.project_uid and missing_status == 404:
            # The SDK reads this code from a 404 and says "Project not found: <uid>".
            raise ApiError(
                404,
                PROJECT_NOT_FOUND,
                f"The {PROJECT_HEADER} header names a project this Edge API does not serve.",
                extra={"error": PROJECT_NOT_FOUND},
            )
        if self.project_uid is not None and value != self.project_uid:
            raise ApiError(
                403,
                "UNKNOWN_PROJECT",
                f"The {PROJECT_HEADER} header names a project this Edge API does not serve.",
            )
        return value

    def _sent_user_uid(self, request: Request) -> str | None:
        """The first non-blank user UID header (the documented one first), or None."""
        for name in USER_HEADERS:
            value = request.header(name)
            if value is not None and value.strip():
                return value
        return None

    def _user_uid(self, request: Request) -> str:
        value = self._sent_user_uid(request)
        if value is None:
            raise ApiError(
                400,
                "MISSING_USER_UID",
                f"The {USER_HEADER} header (or Segment's {SEGMENT_USER_HEADER}) is required.",
            )
        return value

    def _json_body(self, request: Request) -> Any:
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "The body must be JSON, sent as application/json, as text/plain or with no "
                "content-type.",
            )
        return request.json()

    def _project(self, project_uid: str) -> _Project:
        return self._projects.setdefault(project_uid, _Project())


class ContentstackEmulator(EmulatorServer):
    """The Personalize Edge API on loopback: ``with ContentstackEmulator() as api: api.url``.

    ``edge`` is its :class:`PersonalizeEdge` (see it for ``project_uid``, ``defined_events``
    and ``defined_attributes``); see :class:`~framework.emulators.server.EmulatorServer` for the
    rest: :meth:`state`, :meth:`reset`, :meth:`inject`, :meth:`fail_for`,
    :meth:`start_outage`, :meth:`end_outage`, :attr:`requests`. :meth:`duplicates` (and
    ``GET /_emulator/duplicates``) counts requests that repeated an earlier one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        project_uid: str | None = None,
        *,
        defined_events: Iterable[str] | None = None,
        defined_attributes: Iterable[str] | None = None,
        experiences: Sequence[Experience] = (),
        max_logged_requests: int | None = 1000,
    ) -> None:
        self.edge = PersonalizeEdge(project_uid, defined_events, defined_attributes, experiences)
        super().__init__(self.edge, host=host, port=port, max_logged_requests=max_logged_requests)

    def duplicates(self) -> dict[str, dict[str, int]]:
        """Per project and user, the accepted requests that repeated an earlier one exactly
        (see :meth:`PersonalizeEdge.duplicates`)."""
        with self._lock:
            return self.edge.duplicates()

    def set_experiences(self, experiences: Sequence[Experience]) -> None:
        """Replace the project's experiences that ``GET /manifest`` evaluates."""
        with self._lock:
            self.edge.experiences = tuple(experiences)

    def control_routes(self) -> dict[str, dict[str, Route]]:
        """The server's control endpoints, plus ``GET /_emulator/duplicates`` and
        ``PUT /_emulator/experiences`` (a JSON array, see
        :func:`~framework.emulators.manifest.parse_experiences`)."""
        routes = super().control_routes()
        routes[CONTROL_PREFIX + "duplicates"] = {
            "GET": lambda _: Response(200, {"duplicates": self.duplicates()})
        }
        routes[CONTROL_PREFIX + "experiences"] = {"PUT": self._control_experiences}
        return routes

    def _control_experiences(self, request: Request) -> Response:
        try:
            experiences = parse_experiences(request.json())
        except ValueError as exc:
            raise ApiError(400, "INVALID_EXPERIENCES", str(exc)) from exc
        self.edge.experiences = experiences
        return Response(200, {"experiences": len(experiences)})
