"""Building the HTTP request an action makes, and combining requests of a batch.

Pure: a request is built from a validated payload and the instance's settings; nothing is
sent here. A :class:`PlannedRequest` never shows the values of password settings in its
``repr`` or in :meth:`PlannedRequest.redacted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.definitions.models import BatchCombine, RequestTemplate
from framework.definitions.templates import Template
from framework.errors import MappingError, Problem, RequestBuildError
from framework.mapping import Mapping as CompiledMapping
from framework.mapping import compile_mapping

REDACTED = "[REDACTED]"


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, secrets) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """An HTTP request that would be sent: method, URL, headers and JSON body.

    ``secrets`` holds the instance's password values so that :meth:`redacted` and ``repr``
    can mask them; it is never part of the request itself.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any
    secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def redacted(self) -> dict[str, Any]:
        """The request as a JSON-ready dict, with every password value masked."""
        shown: dict[str, Any] = _redact(
            {
                "method": self.method,
                "url": self.url,
                "headers": dict(self.headers),
                "json": self.json,
            },
            self.secrets,
        )
        return shown

    def __repr__(self) -> str:
        shown = self.redacted()
        return (
            f"PlannedRequest(method={shown['method']!r}, url={shown['url']!r}, "
            f"headers={shown['headers']!r}, json={shown['json']!r})"
        )


class RequestBuilder:
    """The compiled request template of one action."""

    __slots__ = ("_body", "_headers", "_method", "_url")

    def __init__(
        self,
        method: str,
        url: Template,
        headers: tuple[tuple[str, Template], ...],
        body: CompiledMapping | None,
    ) -> None:
        self._method = method
        self._url = url
        self._headers = headers
        self._body = body

    @classmethod
    def compile(
        cls, template: RequestTemplate, pointer: str
    ) -> tuple[RequestBuilder | None, list[Problem]]:
        """Compile an action's request template; problems are located under ``pointer``."""
        problems: list[Problem] = []
        url, url_problems = Template.compile(template.url, f"{pointer}/url", url=True)
        problems.extend(url_problems)
        headers: list[tuple[str, Template]] = []
        for name, source in template.headers.items():
            header, header_problems = Template.compile(source, f"{pointer}/headers/{name}")
            problems.extend(header_problems)
            if header is not None:
                headers.append((name.lower(), header))
        body: CompiledMapping | None = None
        if template.body is not None:
            try:
                body = compile_mapping({"body": template.body})
            except MappingError as exc:
                problems.extend(
                    Problem(f"{pointer}{problem.pointer}", problem.message, problem.code)
                    for problem in exc.errors
                )
        if problems or url is None:
            return None, problems
        return cls(template.method, url, tuple(headers), body), []

    def build(
        self,
        payload: Mapping[str, Any],
        settings: Mapping[str, Any],
        secrets: frozenset[str] = frozenset(),
    ) -> PlannedRequest:
        """The request for one validated payload; raises :class:`RequestBuildError`."""
        data = {"settings": settings, "payload": payload}
        missing = self._url.missing(data)
        if missing:
            raise RequestBuildError(
                f"The request URL needs {', '.join(missing)}, which has no value."
            )
        headers = {}
        for name, template in self._headers:
            value = template.render(data)
            if value:
                headers[name] = value
        body = self._body.resolve(data).get("body") if self._body is not None else None
        return PlannedRequest(self._method, self._url.render(data), headers, body, secrets)


def combine_requests(requests: Sequence[PlannedRequest], how: BatchCombine) -> PlannedRequest:
    """One request carrying the bodies of ``requests`` (same method, URL and headers).

    ``concat`` joins array bodies in order; ``merge`` merges object bodies key by key, the
    later request's value winning. The first request gives the method, URL and headers.
    """
    if not requests:
        raise ValueError("combine_requests needs at least one request")
    first = requests[0]
    if how == "concat":
        items: list[Any] = []
        for request in requests:
            body = request.json
            items.extend(body if isinstance(body, list) else [body])
        combined: Any = items
    else:
        merged: dict[str, Any] = {}
        for request in requests:
            if isinstance(request.json, dict):
                merged.update(request.json)
        combined = merged
    return PlannedRequest(first.method, first.url, first.headers, combined, first.secrets)
