"""The Contentstack Personalize Management API, emulated: a project's events and attributes.

:class:`PersonalizeManagement` is the behaviour (an
:class:`~framework.emulators.server.EmulatedApi`); :class:`ManagementEmulator` serves it on
loopback. Only what ``actionkit check contentstack`` uses is emulated:

- ``GET /events``: the project's events, a JSON array of ``{uid, key, description}``.
- ``GET /attributes``: the project's custom attributes, a JSON array of
  ``{uid, name, key, description}``.
- ``POST /attributes``: create one (``{"name", "key", "description"}``); 201 with the new
  attribute; 409 when the key is taken; 400 for a body of the wrong shape.

Every request needs credentials: an ``authtoken`` header, or ``Authorization: Bearer <token>``
(an OAuth token); otherwise 401, and 401 for a token the emulator was not told to accept.
The project is the ``x-project-uid`` header: missing, 400; another project than the one
served, 403 (Contentstack answers "not found or not permitted"; the emulator keeps them apart).
What Contentstack's documentation does and does not say about these endpoints, and where the
emulator had to choose, is listed in ``docs/check.md``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from framework.emulators.server import (
    ApiError,
    EmulatorServer,
    Request,
    Response,
    Route,
    dispatch,
)

__all__ = [
    "MANAGEMENT_ATTRIBUTES_PATH",
    "MANAGEMENT_EVENTS_PATH",
    "ManagementEmulator",
    "PersonalizeManagement",
]

MANAGEMENT_EVENTS_PATH = "/events"
MANAGEMENT_ATTRIBUTES_PATH = "/attributes"
_PROJECT_HEADER = "x-project-uid"
# Contentstack's attribute keys: letters, digits and underscores, not starting with a digit
# (the UI refuses others); the emulator refuses the same.
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PersonalizeManagement:
    """The Management API's events and attributes of one project.

    ``project_uid`` is the project served; ``tokens`` the credentials accepted (an authtoken
    or an OAuth bearer token; None: any non-empty token). ``events`` and ``attributes`` are
    the keys defined at the start (and after :meth:`reset`).
    """

    def __init__(
        self,
        project_uid: str = "project",
        *,
        tokens: Iterable[str] | None = None,
        events: Iterable[str] = (),
        attributes: Iterable[str] = (),
    ) -> None:
        self.project_uid = project_uid
        self.tokens = None if tokens is None else frozenset(tokens)
        self._initial_events = tuple(events)
        self._initial_attributes = tuple(attributes)
        self._uids = itertools.count(1)
        self._events: dict[str, dict[str, Any]] = {}
        self._attributes: dict[str, dict[str, Any]] = {}
        self._routes: dict[str, dict[str, Route]] = {
            MANAGEMENT_EVENTS_PATH: {"GET": self._list_events},
            MANAGEMENT_ATTRIBUTES_PATH: {
                "GET": self._list_attributes,
                "POST": self._create_attribute,
            },
        }
        self.reset()

    def handle(self, request: Request) -> Response:
        """Answer one request to the Management API."""
        self._authenticate(request)
        self._project(request)
        return dispatch(self._routes, request)

    def state(self) -> dict[str, Any]:
        """``{"project": uid, "events": [...], "attributes": [...]}``, in creation order."""
        return {
            "project": self.project_uid,
            "events": [dict(event) for event in self._events.values()],
            "attributes": [dict(attribute) for attribute in self._attributes.values()],
        }

    def reset(self) -> None:
        """Back to the events and attributes given at construction."""
        self._uids = itertools.count(1)
        self._events = {key: self._event(key) for key in self._initial_events}
        self._attributes = {key: self._attribute(key, key, "") for key in self._initial_attributes}

    # Endpoints

    def _list_events(self, _: Request) -> Response:
        return Response(200, [dict(event) for event in self._events.values()])

    def _list_attributes(self, _: Request) -> Response:
        return Response(200, [dict(attribute) for attribute in self._attributes.values()])

    def _create_attribute(self, request: Request) -> Response:
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "The body must be JSON, sent with content-type: application/json.",
            )
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_BODY", "The body must be a JSON object.")
        problems = [
            {"pointer": f"/{name}", "message": f"The attribute needs a {name} (a string)."}
            for name in ("name", "key")
            if not (isinstance(body.get(name), str) and body[name].strip())
        ]
        key = str(body.get("key"))
        if not problems and not _KEY.match(key):
            problems.append(
                {
                    "pointer": "/key",
                    "message": "An attribute key holds only letters, digits and underscores, "
                    "and does not start with a digit.",
                }
            )
        if problems:
            raise ApiError(400, "INVALID_BODY", problems[0]["message"], errors=tuple(problems))
        if key in self._attributes:
            raise ApiError(409, "DUPLICATE_KEY", "An attribute with this key already exists.")
        description = body.get("description")
        attribute = self._attribute(
            body["name"], key, description if isinstance(description, str) else ""
        )
        self._attributes[key] = attribute
        return Response(201, dict(attribute))

    # Checks shared by the endpoints

    def _authenticate(self, request: Request) -> None:
        token = request.header("authtoken")
        if token is None:
            scheme, _, value = (request.header("authorization") or "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if not token:
            raise ApiError(
                401,
                "UNAUTHORIZED",
                "Send an authtoken header or an Authorization: Bearer header with an OAuth token.",
            )
        if self.tokens is not None and token not in self.tokens:
            raise ApiError(401, "UNAUTHORIZED", "The token is not valid or has expired.")

    def _project(self, request: Request) -> None:
        value = request.header(_PROJECT_HEADER)
        if value is None or not value.strip():
            raise ApiError(400, "MISSING_PROJECT_UID", f"The {_PROJECT_HEADER} header is required.")
        if value != self.project_uid:
            raise ApiError(
                403,
                "UNKNOWN_PROJECT",
                f"The {_PROJECT_HEADER} header names a project this token cannot access.",
            )

    def _event(self, key: str) -> dict[str, Any]:
        return {"uid": f"event{next(self._uids):06d}", "key": key, "description": ""}

    def _attribute(self, name: str, key: str, description: str) -> dict[str, Any]:
        return {
            "uid": f"attr{next(self._uids):06d}",
            "name": name,
            "key": key,
            "description": description,
        }


class ManagementEmulator(EmulatorServer):
    """The Personalize Management API on loopback: ``with ManagementEmulator(...) as api``.

    ``management`` is its :class:`PersonalizeManagement` (see it for the arguments); see
    :class:`~framework.emulators.server.EmulatorServer` for the rest (``url``, ``state()``,
    ``requests``, ``inject``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        project_uid: str | None = None,
        *,
        tokens: Iterable[str] | None = None,
        events: Iterable[str] = (),
        attributes: Iterable[str] = (),
        max_logged_requests: int = 1000,
    ) -> None:
        self.management = PersonalizeManagement(
            project_uid or "project", tokens=tokens, events=events, attributes=attributes
        )
        super().__init__(
            self.management, host=host, port=port, max_logged_requests=max_logged_requests
        )
