"""An action's request template bound to one instance's settings, once, at instance load.

:meth:`.request.RequestBuilder.build` renders every part of the request for every event,
though the method, the URL's settings, headers made of settings only, the headers a setting
object gives, the signer and the batch size are the same for every event of an instance.
:func:`bind_request` resolves those once; :meth:`BoundRequest.build` then renders only what
reads the payload (the URL's payload placeholders, headers with payload placeholders, the
body) and gives exactly what the unbound build gives: the same request, or the same
:class:`~framework.errors.RequestBuildError` (tests/test_request_bound.py compares them over
random payloads).

Settings the unbound build would refuse (a missing URL setting, a header value a header
cannot carry, a method setting that is no method: what the instance's check refuses) leave
the request unbound: its build is then the unbound build, so the errors stay the same, and
such settings never reach the hot path of a checked instance anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.definitions.combine import part_refusal
from framework.definitions.request import (
    PlannedRequest,
    RequestBuilder,
    dot_segment_error,
    header_value,
    rendered_header_name,
    url_missing_error,
)
from framework.definitions.signing import Signer
from framework.definitions.templates import Template, header_value_refusal
from framework.errors import RequestBuildError

_DOT_SEGMENTS = frozenset({".", ".."})


class BoundRequest:
    """The request of one action for one instance: ``build(payload)`` per event."""

    __slots__ = (
        "_batch",
        "_batch_limit",
        "_body",
        "_builder",
        "_fixed_headers",
        "_headers",
        "_method",
        "_secrets",
        "_segments",
        "_settings",
        "_signer",
        "_unbound",
        "_url",
        "_url_text",
    )

    def __init__(
        self,
        builder: RequestBuilder,
        settings: Mapping[str, Any],
        secrets: frozenset[str] = frozenset(),
    ) -> None:
        self._builder = builder
        self._settings = settings
        self._secrets = secrets
        parts = builder.parts
        self._body = parts.body
        self._batch = parts.batch
        self._segments = tuple(path for path in parts.segments if path[0] == "payload")
        self._unbound = True
        self._url: Template | None = None
        self._url_text: str | None = None
        self._headers: tuple[tuple[str, str | Template], ...] = ()
        self._fixed_headers: dict[str, str] = {}
        self._method = ""
        self._signer: Signer | None = None
        self._batch_limit: int | None = None
        try:
            self._bind(builder, settings)
        except RequestBuildError:
            return  # the unbound build raises it again, for every event, as before

    def _bind(self, builder: RequestBuilder, settings: Mapping[str, Any]) -> None:
        parts = builder.parts
        url = parts.url.bind(settings, parts.encoded)
        if url is None:
            return
        data = {"settings": settings}
        headers: list[tuple[str, str | Template]] = []
        for name, template in parts.headers:
            rendered = name if isinstance(name, str) else rendered_header_name(name, settings)
            for _, text in template.values(data):
                if header_value_refusal(text) is not None:
                    return
            bound = template.bind(settings, missing_ok=True)
            if bound is None:  # pragma: no cover - missing_ok binds every setting
                return
            if bound.reads_payload:
                headers.append((rendered, bound))
            else:
                headers.append((rendered, bound.render({}).strip(" \t")))
        self._fixed_headers = builder.object_headers(settings)
        self._method = builder.method_for(settings)
        self._signer = builder.signer_for(settings)
        self._batch_limit = builder.batch_limit(settings)
        self._headers = tuple(headers)
        self._url = url
        if not url.reads_payload:
            self._url_text = url.render({})
        self._unbound = False

    @property
    def bound(self) -> bool:
        """Whether the settings were bound (False: every build is the unbound build)."""
        return not self._unbound

    def build(self, payload: Mapping[str, Any]) -> PlannedRequest:
        """The request for one validated payload, exactly as
        ``RequestBuilder.build(payload, settings, secrets)`` makes it; raises
        :class:`RequestBuildError` as it does."""
        if self._unbound or self._url is None:
            return self._builder.build(payload, self._settings, self._secrets)
        data = {"payload": payload}
        url = self._url
        url_text = self._url_text
        missing = url.missing(data) if url_text is None else None
        if missing:
            raise url_missing_error(missing)
        if self._segments and url_text is None:
            for path, text in url.values(data):
                if path in self._segments and text in _DOT_SEGMENTS:
                    raise dot_segment_error(path, text)
        headers: dict[str, str] = {}
        for name, value in self._headers:
            if isinstance(value, str):
                if value:
                    headers[name] = value
                continue
            text = header_value(name, value, data)
            if text:
                headers[name] = text
        headers.update(self._fixed_headers)
        body = None
        if self._body is not None:
            body = self._body.resolve({"settings": self._settings, "payload": payload}).get("body")
        if self._batch is not None:
            refusal = part_refusal(body, self._batch)
            if refusal is not None:
                raise RequestBuildError(refusal, reason="BATCH_BODY_INVALID")
        if self._signer is not None and body is not None:
            headers[self._signer.header] = self._signer.sign(body)
        return PlannedRequest(
            self._method,
            url.render(data) if url_text is None else url_text,
            headers,
            body,
            self._secrets,
            self._signer,
            self._batch_limit,
        )


def bind_request(
    builder: RequestBuilder, settings: Mapping[str, Any], secrets: frozenset[str] = frozenset()
) -> BoundRequest:
    """``builder`` bound to an instance's ``settings`` (and its password values)."""
    return BoundRequest(builder, settings, secrets)
