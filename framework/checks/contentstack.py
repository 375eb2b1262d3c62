"""Check a Personalize project against what an instance (and a sync) can send to it.

The Edge API refuses events and attributes the project does not define. This check lists
the project's events and attributes through the Management API (``GET /events``,
``GET /attributes``), compares them with the keys the instance's mappings and a sync can
produce (see :mod:`framework.checks.keys`), and reports every key that is missing. With
``create_missing``, each missing attribute is created (``POST /attributes``); events are
never created, since an event also drives experiences' metrics and deserves a person's look.

The Management API needs a token: a user authtoken (sent as the ``authtoken`` header) or an
OAuth token (``Authorization: Bearer``). It is a secret: it never appears in results, errors
or logs. See ``docs/check.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from framework.checks.keys import OpenSource, ProducedKeys
from framework.errors import (
    ConnectionFailedError,
    DefinitionError,
    DeliveryTimeoutError,
    IntegrationError,
    InvalidAuthenticationError,
    Problem,
)

__all__ = [
    "MANAGEMENT_REGIONS",
    "CheckResult",
    "ManagementClient",
    "TokenType",
    "check_project",
    "management_url",
]

MANAGEMENT_REGIONS: dict[str, str] = {
    "aws-na": "https://personalize-api.contentstack.com",
    "aws-eu": "https://eu-personalize-api.contentstack.com",
    "aws-au": "https://au-personalize-api.contentstack.com",
    "azure-na": "https://azure-na-personalize-api.contentstack.com",
    "azure-eu": "https://azure-eu-personalize-api.contentstack.com",
    "gcp-na": "https://gcp-na-personalize-api.contentstack.com",
    "gcp-eu": "https://gcp-eu-personalize-api.contentstack.com",
}
"""Region name -> Personalize Management API base URL (Contentstack's API reference)."""

TokenType = Literal["authtoken", "oauth"]
"""``authtoken``: a user authtoken; ``oauth``: an OAuth access token (sent as a bearer)."""

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def management_url(value: str | None, edge_url: str | None = None) -> str:
    """The Management API base URL: a region name, a URL, or derived from the Edge URL.

    With no ``value``, the Edge API URL of the instance (``https://eu-personalize-edge...``)
    gives the same region's Management API (``https://eu-personalize-api...``). Only https,
    except loopback addresses (emulators). Raises :class:`DefinitionError` otherwise.
    """
    if value is None:
        host = urlsplit(edge_url or "").hostname or ""
        if host.endswith("personalize-edge.contentstack.com"):
            prefix = host.removesuffix("personalize-edge.contentstack.com")
            return f"https://{prefix}personalize-api.contentstack.com"
        raise DefinitionError(
            "The Management API URL cannot be derived from the instance's Edge API URL; "
            "give it with --management-url (a URL or a region: "
            f"{', '.join(MANAGEMENT_REGIONS)})."
        )
    if value in MANAGEMENT_REGIONS:
        return MANAGEMENT_REGIONS[value]
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise DefinitionError(
            "The Management API URL must be an https URL (or http on a loopback address) or a "
            f"region name: {', '.join(MANAGEMENT_REGIONS)}.",
            [Problem("management-url", "Not an https URL or a region name.", "INVALID_URL")],
        )
    return value.rstrip("/")


def _items(body: Any) -> list[dict[str, Any]] | None:
    """The list of a listing answer: a JSON array, or one under ``data`` or ``items``."""
    if isinstance(body, dict):
        body = body.get("data", body.get("items"))
    if isinstance(body, list) and all(isinstance(item, dict) for item in body):
        return body
    return None


class ManagementClient:
    """A small client of the Personalize Management API for one project.

    ``transport`` is for tests. Use as a context manager, or call :meth:`close`. Errors are
    actionkit's: :class:`InvalidAuthenticationError` (401, 403), :class:`IntegrationError`
    (another refusal, or an answer of the wrong shape), :class:`DeliveryTimeoutError` and
    :class:`ConnectionFailedError`. None of them carries the token.
    """

    def __init__(
        self,
        base_url: str,
        project_uid: str,
        token: str,
        *,
        token_type: TokenType = "authtoken",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        auth = (
            {"authtoken": token}
            if token_type == "authtoken"
            else {"authorization": f"Bearer {token}"}
        )
        self.base_url = base_url
        self._client = httpx.Client(
            base_url=base_url,
            headers={"x-project-uid": project_uid, "accept": "application/json", **auth},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ManagementClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, json: Any = None) -> Any:
        what = f"{method} {path} on the Personalize Management API"
        try:
            response = self._client.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise DeliveryTimeoutError(f"{what} did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise ConnectionFailedError(
                f"{what} could not be reached ({type(exc).__name__}); check the URL."
            ) from exc
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        status = response.status_code
        if status in (401, 403):
            raise InvalidAuthenticationError(
                f"{what} refused the token or the project (HTTP {status}); check the token, "
                "its type (authtoken or OAuth) and the instance's project UID.",
                status=status,
            )
        if status >= 400:
            detail = body.get("message") if isinstance(body, dict) else None
            reason = f": {detail}" if isinstance(detail, str) else ""
            raise IntegrationError(f"{what} answered HTTP {status}{reason}", status=status)
        return body

    def _list(self, path: str) -> list[dict[str, Any]]:
        items = _items(self._send("GET", path))
        if items is None:
            raise IntegrationError(
                f"GET {path} on the Personalize Management API did not answer a list."
            )
        return items

    def events(self) -> list[dict[str, Any]]:
        """The project's events (each with at least ``key``)."""
        return self._list("/events")

    def attributes(self) -> list[dict[str, Any]]:
        """The project's custom attributes (each with at least ``key``)."""
        return self._list("/attributes")

    def create_attribute(self, key: str, description: str) -> dict[str, Any]:
        """Create a custom attribute named and keyed ``key``; returns what the API answered."""
        body = self._send(
            "POST", "/attributes", {"name": key, "key": key, "description": description}
        )
        return body if isinstance(body, dict) else {"key": key}


@dataclass(slots=True)
class CheckResult:
    """What the check found: defined keys, missing ones (with who sends them), created ones."""

    project: str
    defined_events: list[str]
    defined_attributes: list[str]
    missing_events: dict[str, list[str]] = field(default_factory=dict)
    missing_attributes: dict[str, list[str]] = field(default_factory=dict)
    created_attributes: list[str] = field(default_factory=list)
    checked_events: list[str] = field(default_factory=list)
    checked_attributes: list[str] = field(default_factory=list)
    open: list[OpenSource] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every key that can be sent is defined (created ones count as defined)."""
        return not self.missing_events and not self.missing_attributes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "ok": self.ok,
            "project": self.project,
            "defined": {"events": self.defined_events, "attributes": self.defined_attributes},
            "checked": {"events": self.checked_events, "attributes": self.checked_attributes},
            "missing": {"events": self.missing_events, "attributes": self.missing_attributes},
            "created": {"attributes": self.created_attributes},
            "open": [source.to_dict() for source in self.open],
        }


def _keys(items: list[dict[str, Any]]) -> list[str]:
    return sorted({item["key"] for item in items if isinstance(item.get("key"), str)})


def check_project(
    client: ManagementClient,
    produced: ProducedKeys,
    *,
    project: str,
    create_missing: bool = False,
) -> CheckResult:
    """Compare ``produced`` with the project's events and attributes; create missing ones.

    With ``create_missing``, each missing attribute is created, then no longer reported
    missing; an attribute the API refuses to create stops the check with its error.
    """
    events = _keys(client.events())
    attributes = _keys(client.attributes())
    result = CheckResult(
        project=project,
        defined_events=events,
        defined_attributes=attributes,
        checked_events=sorted(produced.events),
        checked_attributes=sorted(produced.attributes),
        open=list(produced.open),
    )
    result.missing_events = _missing(produced.events, events)
    missing = _missing(produced.attributes, attributes)
    if create_missing:
        for key, origins in missing.items():
            client.create_attribute(key, f"Created by actionkit check for {origins[0]}.")
            result.created_attributes.append(key)
        missing = {}
    result.missing_attributes = missing
    return result


def _missing(produced: Mapping[str, list[str]], defined: list[str]) -> dict[str, list[str]]:
    known = set(defined)
    return {key: sorted(set(produced[key])) for key in sorted(produced) if key not in known}
