"""Building the HTTP request an action makes, and combining requests of a batch.

Pure: a request is built from a validated payload and the instance's settings; nothing is
sent here. A :class:`PlannedRequest` never shows the values of password settings in its
``repr`` or in :meth:`PlannedRequest.redacted`.

Whatever is built can be sent as it is: a value a header cannot carry (a line break, a control
character, a character outside ASCII; see :func:`.templates.header_value_refusal`) is refused
with a :class:`RequestBuildError` at the payload field it came from, and so is a body that the
action's batch could not combine (:mod:`.combine`). Header values are trimmed of leading and
trailing spaces and tabs, which HTTP ignores anyway (RFC 9110, 5.5). A header name is an RFC
9110 token, or a template over settings only (``{{settings.userUidHeader}}``) whose rendered
name the instance's check vouches for (:meth:`RequestBuilder.setting_problems`). In the URL, payload
values and every setting but the URL's base are percent-encoded (:func:`url_setting_places`),
and a value that would be a whole ``.`` or ``..`` path segment is refused, so no value can
move a request to another path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from framework.definitions.combine import (
    check_batch,
    combine_bodies,
    outside_part,
    part_refusal,
)
from framework.definitions.models import (
    HTTP_METHODS,
    ActionDefinition,
    BatchCombine,
    BatchSpec,
    SignSpec,
)
from framework.definitions.request_forms import (
    count_refusal,
    method_template,
    setting_at,
    setting_path,
    sign_spec,
)
from framework.definitions.signing import Signer
from framework.definitions.source import escape_pointer_token, join_pointer
from framework.definitions.templates import (
    PLACEHOLDER,
    Template,
    header_name_refusal,
    header_value_refusal,
)
from framework.errors import MappingError, Problem, RequestBuildError
from framework.mapping import Mapping as CompiledMapping
from framework.mapping import compile_mapping
from framework.mapping.jsvalues import js_string

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
    can mask them; it is never part of the request itself. ``signer`` (when the action signs
    its bodies) signs a batch's combined body again; ``batch_limit`` is the most requests of
    a batch that may combine into one (the instance's batch size), None for the action's own.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any
    secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    signer: Signer | None = field(default=None, repr=False, compare=False)
    batch_limit: int | None = field(default=None, repr=False, compare=False)

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


@dataclass(frozen=True, slots=True)
class RequestParts:
    """A compiled request template's parts, as :mod:`.bound` binds them to settings.

    ``encoded``: the URL's settings that are percent-encoded (all but its base); ``segments``:
    the URL's placeholders that are whole path segments (a ``.`` or ``..`` value is refused).
    """

    url: Template
    encoded: frozenset[tuple[str, ...]]
    segments: frozenset[tuple[str, ...]]
    headers: tuple[tuple[str | Template, Template], ...]
    body: CompiledMapping | None
    batch: BatchSpec | None


class RequestBuilder:
    """The compiled request template of one action (and the batch its bodies take part in)."""

    __slots__ = (
        "_base",
        "_batch",
        "_body",
        "_count_from",
        "_encoded",
        "_headers",
        "_headers_from",
        "_method",
        "_segments",
        "_sign",
        "_url",
    )

    def __init__(
        self,
        method: str | Template,
        url: Template,
        headers: tuple[tuple[str | Template, Template], ...],
        body: CompiledMapping | None,
        batch: BatchSpec | None = None,
        *,
        headers_from: tuple[str, ...] | None = None,
        sign: tuple[SignSpec, Template] | None = None,
        count_from: tuple[str, ...] | None = None,
    ) -> None:
        self._method = method
        self._url = url
        self._headers = headers
        self._body = body
        self._batch = batch
        self._headers_from = headers_from
        self._sign = sign
        self._count_from = count_from
        self._base, self._encoded = url_setting_places(url.source)
        self._segments = _path_placeholders(url.source, self._base)

    @property
    def parts(self) -> RequestParts:
        """The compiled template's parts, for binding it to an instance (:mod:`.bound`)."""
        return RequestParts(
            self._url,
            frozenset(self._encoded),
            self._segments,
            self._headers,
            self._body,
            self._batch,
        )

    def method_for(self, settings: Mapping[str, Any]) -> str:
        """The method of the requests made with ``settings``; raises :class:`RequestBuildError`
        (``METHOD_INVALID``) when a method setting holds no allowed method."""
        if isinstance(self._method, str):
            return self._method
        method = self._method.render({"settings": settings})
        if method not in HTTP_METHODS:
            raise RequestBuildError(
                f"The request method comes from '{self._method.source}', which is not one of "
                f"{', '.join(HTTP_METHODS)}, so nothing was sent.",
                reason="METHOD_INVALID",
            )
        return method

    def object_headers(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """The headers the ``headersFrom`` setting gives (names lowercased, values trimmed,
        empty ones left out); raises :class:`RequestBuildError` for what a header cannot be."""
        headers: dict[str, str] = {}
        problems = self._object_header_problems(settings, headers)
        if problems:
            raise RequestBuildError(
                f"{problems[0].message} Nothing was sent.", reason=problems[0].code
            )
        return headers

    def signer_for(self, settings: Mapping[str, Any]) -> Signer | None:
        """What signs the bodies made with ``settings``; None when the action does not sign,
        or its secret renders empty."""
        if self._sign is None:
            return None
        spec, secret = self._sign
        key = secret.render({"settings": settings})
        if not key:
            return None
        return Signer(spec.header.lower(), spec.algorithm, key.encode("utf-8"))

    def batch_limit(self, settings: Mapping[str, Any]) -> int | None:
        """The most events a request carries with ``settings`` when a setting lowers the
        batch's ``maxCount`` (``maxCountFrom``), else None; an invalid setting gives None
        (the instance's check refuses it)."""
        if self._count_from is None or self._batch is None:
            return None
        value = setting_at(settings, self._count_from[1:])
        if count_refusal(value, self._batch.max_count) is not None:
            return None
        return int(value)

    def header_names(self, settings: Mapping[str, Any]) -> frozenset[str]:
        """The (lower-case) names of the headers this action may send with ``settings``.

        A name a setting chooses is rendered; one the settings cannot make is left out (the
        instance's check refuses such settings).
        """
        names = set()
        for name, _ in self._headers:
            try:
                names.add(rendered_header_name(name, settings).lower())
            except RequestBuildError:
                continue
        if self._sign is not None:
            names.add(self._sign[0].header.lower())
        if self._headers_from is not None:
            given = setting_at(settings, self._headers_from[1:])
            if isinstance(given, Mapping):
                names.update(str(name).lower() for name in given)
        return frozenset(names)

    def _template_names(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """The names the template's own headers (and the signature) send, each mapped to
        where it comes from; a header whose value the settings alone leave empty (so it is
        not sent), or whose name they cannot make, is left out."""
        names: dict[str, str] = {}
        data = {"settings": settings}
        for name, template in self._headers:
            if not template.reads_payload and not template.render(data).strip(" \t"):
                continue  # left out with these settings: another may take its name
            try:
                rendered = rendered_header_name(name, settings)
            except RequestBuildError:
                continue
            names[rendered] = name if isinstance(name, str) else name.source
        if self._sign is not None:
            names[self._sign[0].header.lower()] = "sign"
        return names

    def _object_header_problems(
        self, settings: Mapping[str, Any], out: dict[str, str]
    ) -> list[Problem]:
        """Why the ``headersFrom`` setting's headers cannot be sent, each at
        ``/settings/<key>/<name>``; the headers that can are put in ``out``."""
        if self._headers_from is None:
            return []
        path = self._headers_from
        given = setting_at(settings, path[1:])
        if given is None:
            return []
        if not isinstance(given, Mapping):
            return [
                Problem(
                    join_pointer(*path),
                    "The setting gives more headers of each request, so it must be an object "
                    "of header names and their values.",
                    "HEADER_VALUE_INVALID",
                )
            ]
        problems: list[Problem] = []
        taken = self._template_names(settings)
        for name, value in given.items():
            refusal = header_name_refusal(str(name))
            lowered = str(name).lower()
            if refusal is not None:
                problems.append(
                    Problem(
                        join_pointer(*path, str(name)),
                        f"The header name is not valid: {refusal}.",
                        "HEADER_NAME_INVALID",
                    )
                )
            elif lowered in taken:
                problems.append(
                    Problem(
                        join_pointer(*path, str(name)),
                        f"The request already sends the header '{lowered}' "
                        f"('{taken[lowered]}'); one request cannot send a header twice. "
                        "Remove it from the setting, or name another header.",
                        "HEADER_NAME_INVALID",
                    )
                )
            elif not isinstance(value, str):
                problems.append(
                    Problem(
                        join_pointer(*path, str(name)),
                        "A header's value must be text (write numbers and booleans in quotes).",
                        "HEADER_VALUE_INVALID",
                    )
                )
            elif header_value_refusal(value) is not None:
                problems.append(
                    Problem(
                        join_pointer(*path, str(name)),
                        f"The header value holds {header_value_refusal(value)}. A header value "
                        "may hold printable ASCII characters, spaces and tabs only.",
                        "HEADER_VALUE_INVALID",
                    )
                )
            else:
                taken[lowered] = "{{" + ".".join(path) + "}}"
                if value.strip(" \t"):
                    out[lowered] = value.strip(" \t")
        return problems

    @property
    def url_base_settings(self) -> tuple[tuple[str, ...], ...]:
        """The settings that make the URL's base (``("settings", "baseUrl")``), in order.

        They are inserted as they are, so the instance's check (:mod:`.network`) must vouch
        for them; every other setting in the URL is percent-encoded.
        """
        return self._base

    def url_setting_problems(self, settings: Mapping[str, Any]) -> list[Problem]:
        """Settings the URL's path inserts that would be a ``.`` or ``..`` segment, each at
        ``/settings/<key>``: percent-encoding keeps a ``/`` in, but a client or server would
        still resolve such a segment and send the request to another path."""
        return [
            Problem(
                join_pointer(*path),
                "The setting is inserted in the path of request URLs, and a path segment of "
                "'.' or '..' would be resolved into another path. Give a name other than "
                "'.' or '..'.",
                "URL_NOT_ALLOWED",
            )
            for path, text in self._url.values({"settings": settings, "payload": {}})
            if path in self._segments and text in _DOT_SEGMENTS
        ]

    @classmethod
    def compile(
        cls, action: ActionDefinition, pointer: str
    ) -> tuple[RequestBuilder | None, list[Problem]]:
        """Compile an action's request template and check its batch.

        ``pointer`` is the action's (``/actions/track``); problems are located under it.
        """
        template = action.request
        problems: list[Problem] = []
        url, url_problems = Template.compile(template.url, f"{pointer}/request/url", url=True)
        problems.extend(url_problems)
        headers: list[tuple[str | Template, Template]] = []
        for name, source in template.headers.items():
            where = f"{pointer}/request/headers/{escape_pointer_token(name)}"
            header, header_problems = Template.compile(source, where)
            problems.extend(header_problems)
            header_name, name_problems = _header_name(name, where)
            problems.extend(name_problems)
            problems.extend(_header_value_problems(header, where))
            if header is not None and header_name is not None:
                headers.append((header_name, header))
        body: CompiledMapping | None = None
        if template.body is not None:
            try:
                body = compile_mapping({"body": template.body})
            except MappingError as exc:
                problems.extend(
                    Problem(f"{pointer}/request{problem.pointer}", problem.message, problem.code)
                    for problem in exc.errors
                )
        if action.batch is not None:
            problems.extend(check_batch(action.batch, template, pointer))
        method = method_template(template.method, f"{pointer}/request/method", problems)
        if isinstance(method, str) and method not in HTTP_METHODS:
            problems.append(
                Problem(
                    f"{pointer}/request/method",
                    f"The method must be one of {', '.join(HTTP_METHODS)}, or a setting "
                    "({{settings.method}}).",
                    "METHOD_INVALID",
                )
            )
        headers_from = setting_path(
            template.headers_from, f"{pointer}/request/headersFrom", problems, "headers"
        )
        sign = sign_spec(template.sign, {name for name, _ in headers}, pointer, problems)
        count_from = None
        if action.batch is not None:
            count_from = setting_path(
                action.batch.max_count_from, f"{pointer}/batch/maxCountFrom", problems, "batchSize"
            )
        if problems or url is None or method is None:
            return None, problems
        return cls(
            method,
            url,
            tuple(headers),
            body,
            action.batch,
            headers_from=headers_from,
            sign=sign,
            count_from=count_from,
        ), []

    def setting_problems(self, settings: Mapping[str, Any]) -> list[Problem]:
        """Settings the headers use that a header cannot carry, each at ``/settings/<key>``:
        a value no header value may hold, or a header name (``{{settings.userHeader}}``) that
        renders empty, as no RFC 9110 token, or as the name of another header."""
        problems: list[Problem] = []
        data = {"settings": settings}
        if isinstance(self._method, Template):
            method = self._method.render(data)
            if method not in HTTP_METHODS:
                problems.append(
                    Problem(
                        join_pointer(*self._method.paths[0]),
                        f"The setting chooses the method of the requests, and must be one of "
                        f"{', '.join(HTTP_METHODS)} (in capitals).",
                        "METHOD_INVALID",
                    )
                )
        if self._count_from is not None and self._batch is not None:
            refusal = count_refusal(
                setting_at(settings, self._count_from[1:]), self._batch.max_count
            )
            if refusal is not None:
                problems.append(
                    Problem(join_pointer(*self._count_from), refusal, "BATCH_SIZE_INVALID")
                )
        seen: dict[str, str] = {name: name for name, _ in self._headers if isinstance(name, str)}
        for name, template in self._headers:
            if isinstance(name, Template):
                problem = _name_setting_problem(name, settings, seen)
                if problem is not None:
                    problems.append(problem)
                    continue
                name = name.render(data).lower()
            for path, text in template.values(data):
                refusal = header_value_refusal(text)
                if refusal is not None:
                    problems.append(
                        Problem(
                            join_pointer(*path),
                            f"The setting is sent in the header '{name}', and holds "
                            f"{refusal}. A header value may hold printable ASCII characters, "
                            "spaces and tabs only.",
                            "HEADER_VALUE_INVALID",
                        )
                    )
        problems.extend(self._object_header_problems(settings, {}))
        return problems

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
            raise url_missing_error(missing)
        for path, text in self._url.values(data):
            if path[0] == "payload" and path in self._segments and text in _DOT_SEGMENTS:
                raise dot_segment_error(path, text)
        method = self.method_for(settings)
        headers = {}
        for header_name, template in self._headers:
            name = rendered_header_name(header_name, settings)
            value = header_value(name, template, data)
            if value:
                headers[name] = value
        headers.update(self.object_headers(settings))
        body = self._body.resolve(data).get("body") if self._body is not None else None
        if self._batch is not None:
            refusal = part_refusal(body, self._batch)
            if refusal is not None:
                raise RequestBuildError(refusal, reason="BATCH_BODY_INVALID")
        signer = self.signer_for(settings)
        if signer is not None and body is not None:
            headers[signer.header] = signer.sign(body)
        return PlannedRequest(
            method,
            self.url(settings, payload),
            headers,
            body,
            secrets,
            signer,
            self.batch_limit(settings),
        )

    def url(self, settings: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        """The request URL: base settings as they are, other settings and payload values
        percent-encoded (a missing value renders as nothing; :meth:`build` refuses that)."""
        for path in self._encoded:
            settings = _encoded_at(settings, path[1:])
        return self._url.render({"settings": settings, "payload": payload})

    def combine(self, requests: Sequence[PlannedRequest]) -> PlannedRequest:
        """One request carrying a batch's ``requests``, as the action's batch combines them.

        Raises :class:`RequestBuildError` (``BATCH_MIXED``) when they do not all make the same
        request outside the combined part; :meth:`runs` splits a batch so that they do.
        """
        if self._batch is None:
            raise ValueError("the action does not batch its requests")
        return combine_requests(requests, self._batch.combine, self._batch.path)

    def runs(self, requests: Sequence[PlannedRequest]) -> list[list[int]]:
        """The indexes of ``requests`` cut into runs that :meth:`combine` may join.

        Consecutive requests with the same method, URL, headers and body outside the batch's
        combined part (see :func:`same_target`) form one run, of at most the instance's batch
        size (``PlannedRequest.batch_limit``); the runs keep the order of ``requests``. A
        batch whose key holds everything those are made of is one run, when no batch size
        cuts it.
        """
        path = self._batch.path if self._batch is not None else None
        runs: list[list[int]] = []
        for index, request in enumerate(requests):
            if runs:
                first = requests[runs[-1][0]]
                limit = first.batch_limit
                full = limit is not None and len(runs[-1]) >= limit
                if not full and same_target(first, request, path):
                    runs[-1].append(index)
                    continue
            runs.append([index])
        return runs


def url_setting_places(
    source: str,
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """The settings a URL template inserts as its base, and those it inserts elsewhere.

    A setting is part of the base when nothing before it in the template's own text has
    started the path: no text at all (``{{settings.baseUrl}}/events``), or a scheme and
    ``//`` with no ``/``, ``?`` or ``#`` after them (``https://{{settings.host}}/v1``). Every
    other setting (``.../v1/{{settings.workspace}}/...``) is a path segment or query value and
    is percent-encoded as a payload value is, so a ``/``, ``?``, ``#`` or ``..`` in it cannot
    change where the request goes. A setting used both ways counts as base.
    """
    base: list[tuple[str, ...]] = []
    encoded: list[tuple[str, ...]] = []
    for path, literal in _placeholders(source):
        if path[0] != "settings":
            continue
        place = base if _before_path(literal) else encoded
        if path not in place:
            place.append(path)
    return tuple(base), tuple(path for path in encoded if path not in base)


_DOT_SEGMENTS = frozenset({".", ".."})


def _path_placeholders(
    source: str, base: tuple[tuple[str, ...], ...]
) -> frozenset[tuple[str, ...]]:
    """The placeholders a URL template inserts in its path (not its base, query or fragment)."""
    found: set[tuple[str, ...]] = set()
    for path, literal in _placeholders(source):
        if (
            path not in base
            and not _before_path(literal)
            and not any(mark in literal for mark in "?#")
        ):
            found.add(path)
    return frozenset(found)


def _placeholders(source: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """Each placeholder of a URL template, as its dotted path, with the URL text before it."""
    literal = ""
    position = 0
    for match in PLACEHOLDER.finditer(source):
        literal += source[position : match.start()]
        position = match.end()
        yield tuple(match.group(1).split(".")), literal


def _before_path(literal: str) -> bool:
    """Whether a URL's own text ``literal`` has not yet started its path, query or fragment."""
    if "?" in literal or "#" in literal:
        return False
    head, slashes, rest = literal.partition("//")
    if not slashes:
        return "/" not in literal
    return head.endswith(":") and "/" not in head and "/" not in rest


def _encoded_at(settings: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    """``settings`` with the value at ``path`` percent-encoded (left alone when missing)."""
    value = settings.get(path[0]) if isinstance(settings, Mapping) else None
    if value is None:
        return settings
    if len(path) > 1:
        if not isinstance(value, Mapping):
            return settings
        return {**settings, path[0]: _encoded_at(value, path[1:])}
    return {**settings, path[0]: quote(js_string(value), safe="")}


def url_missing_error(missing: Sequence[str]) -> RequestBuildError:
    """The error of a URL whose placeholders ``missing`` (``payload.id``) have no value."""
    return RequestBuildError(
        f"The request URL needs {', '.join(missing)}, which has no value.",
        pointer=field_pointer(missing[0].split(".")),
        reason="URL_VALUE_MISSING",
    )


def dot_segment_error(path: Sequence[str], text: str) -> RequestBuildError:
    """The error of a URL path segment taken from ``path`` that is ``.`` or ``..``."""
    return RequestBuildError(
        f"The request URL takes a path segment from {'.'.join(path)}, which is "
        f"'{text}': such a segment would be resolved into another path, so nothing "
        "was sent. Map another value into the field.",
        pointer=field_pointer(path),
        reason="URL_VALUE_INVALID",
    )


def header_value(name: str, template: Template, data: Mapping[str, Any]) -> str:
    """Header ``name``'s value rendered from ``template``, spaces and tabs around it removed;
    raises :class:`RequestBuildError` when a value it takes cannot be carried in a header."""
    for path, text in template.values(data):
        refusal = header_value_refusal(text)
        if refusal is not None:
            raise RequestBuildError(
                f"The header '{name}' takes its value from {'.'.join(path)}, which "
                f"holds {refusal}; a header value may hold only printable ASCII "
                "characters, spaces and tabs, so nothing was sent. Map a value made "
                "of those characters into the field.",
                pointer=field_pointer(path),
                reason="HEADER_VALUE_INVALID",
            )
    return template.render(data).strip(" \t")


def field_pointer(path: Sequence[str]) -> str:
    """The payload pointer of a template path (``payload.a.b`` is ``/a/b``), or ``""``."""
    if not path or path[0] != "payload":
        return ""
    return join_pointer(*path[1:])


def _header_name(name: str, where: str) -> tuple[str | Template | None, list[Problem]]:
    """A header name as the builder keeps it: lowercased text, or a template over settings.

    A name may take settings (``"{{settings.userUidHeader}}"``), never the payload: every
    event of an instance sends the same header, so a batch can combine them and the name is
    checked once, when the instance loads (:meth:`RequestBuilder.setting_problems`).
    """
    if "{{" not in name and "}}" not in name:
        refusal = header_name_refusal(name)
        if refusal is None:
            return name.lower(), []
        return None, [
            Problem(where, f"The header name is not valid: {refusal}.", "HEADER_NAME_INVALID")
        ]
    template, problems = Template.compile(name, where)
    if template is None:
        return None, problems
    if any(path[0] != "settings" for path in template.paths):
        problems.append(
            Problem(
                where,
                "A header name may take settings ({{settings.<key>}}) but not the payload: "
                "every event of an instance must send the same headers.",
                "HEADER_NAME_INVALID",
            )
        )
    for text in template.literals:
        if text and header_name_refusal(text) is not None:
            problems.append(
                Problem(
                    where,
                    f"The header name's text {text!r} is not valid: {header_name_refusal(text)}.",
                    "HEADER_NAME_INVALID",
                )
            )
    return (None, problems) if problems else (template, [])


def _name_setting_problem(
    name: Template, settings: Mapping[str, Any], seen: dict[str, str]
) -> Problem | None:
    """Why the settings cannot make the templated header ``name``, at the setting; or None.

    ``seen`` maps the names already sent (lowercased) to where they come from; the rendered
    name is added to it.
    """
    data = {"settings": settings}
    paths = name.paths
    pointer = join_pointer(*paths[0])
    missing = name.missing(data)
    if missing:
        return Problem(
            join_pointer(*missing[0].split(".")),
            f"The setting names the header '{name.source}', and has no value: give it one "
            "(a header name such as x-user-id).",
            "HEADER_NAME_INVALID",
        )
    rendered = name.render(data)
    refusal = header_name_refusal(rendered)
    if refusal is not None:
        return Problem(
            pointer,
            f"The setting names the header '{name.source}', which renders as {rendered!r}: "
            f"{refusal}.",
            "HEADER_NAME_INVALID",
        )
    lowered = rendered.lower()
    if lowered in seen:
        return Problem(
            pointer,
            f"The setting names the header '{name.source}' as '{lowered}', which the "
            f"request already sends ('{seen[lowered]}'); one request cannot send a header "
            "twice. Name another header.",
            "HEADER_NAME_INVALID",
        )
    seen[lowered] = name.source
    return None


def rendered_header_name(name: str | Template, settings: Mapping[str, Any]) -> str:
    """The header name sent: ``name`` itself, or its template rendered from ``settings``.

    The instance's check (:meth:`RequestBuilder.setting_problems`) refuses settings that make
    no valid name; this raises :class:`RequestBuildError` for settings that skipped it.
    """
    if isinstance(name, str):
        return name
    rendered = name.render({"settings": settings})
    refusal = header_name_refusal(rendered)
    if refusal is not None:
        raise RequestBuildError(
            f"The header name '{name.source}' renders as {rendered!r}: {refusal}, so nothing "
            "was sent.",
            reason="HEADER_NAME_INVALID",
        )
    return rendered.lower()


def _header_value_problems(header: Template | None, where: str) -> list[Problem]:
    problems: list[Problem] = []
    for text in header.literals if header is not None else ():
        refusal = header_value_refusal(text)
        if refusal is not None:
            problems.append(
                Problem(
                    where,
                    f"The header value holds {refusal}. A header value may hold printable "
                    "ASCII characters, spaces and tabs only.",
                    "HEADER_VALUE_INVALID",
                )
            )
    return problems


def combine_requests(
    requests: Sequence[PlannedRequest], how: BatchCombine, path: str | None = None
) -> PlannedRequest:
    """One request carrying the bodies of ``requests``, which must make the same request.

    ``concat`` joins the arrays at ``path`` (the whole bodies without one) in order; ``merge``
    merges the objects there key by key, the later request's value winning. The first
    request gives the method, URL, headers and the rest of the body, so every request must
    have the same ones (:func:`same_target`): otherwise :class:`RequestBuildError` is raised
    (reason ``BATCH_MIXED``) rather than an event sent under another's URL or headers, whatever
    the batch key said. Bodies are expected as :meth:`RequestBuilder.build` makes them for a
    batched action (see :func:`.combine.combine_bodies`).
    """
    if not requests:
        raise ValueError("combine_requests needs at least one request")
    first = requests[0]
    for position, request in enumerate(requests[1:], start=2):
        difference = _difference(first, request, path)
        if difference is not None:
            raise RequestBuildError(
                f"The request of event {position} of the batch has another {difference} than "
                "the first one's, and a combined request carries only the first one's: "
                "combining them would send that event as another's. Send them in separate "
                "requests (RequestBuilder.runs cuts a batch where they differ).",
                reason="BATCH_MIXED",
            )
    combined = combine_bodies([request.json for request in requests], how, path)
    headers = first.headers
    if first.signer is not None:
        headers = {**headers, first.signer.header: first.signer.sign(combined)}
    return PlannedRequest(
        first.method, first.url, headers, combined, first.secrets, first.signer, first.batch_limit
    )


def same_target(first: PlannedRequest, other: PlannedRequest, path: str | None = None) -> bool:
    """Whether ``other`` makes the same request as ``first`` but for the part at ``path``.

    Compared: the method, the URL, the headers and the body outside the combined part
    (the whole body when ``path`` is None and the bodies are combined whole, so only the
    method, URL and headers count). JSON values compare as they would be sent: ``1`` and
    ``true`` differ, key order does not matter.
    """
    return _difference(first, other, path) is None


def _difference(first: PlannedRequest, other: PlannedRequest, path: str | None) -> str | None:
    """What ``other`` has that differs from ``first`` outside the combined part, or None."""
    if first.method != other.method:
        return "method"
    if first.url != other.url:
        return "URL"
    if _unsigned(first) != _unsigned(other):
        return "set of headers"
    if path is not None and _canonical(outside_part(first.json, path)) != _canonical(
        outside_part(other.json, path)
    ):
        return "body outside the part the batch combines"
    return None


def _unsigned(request: PlannedRequest) -> dict[str, str]:
    """The headers of ``request`` but its body's signature, which differs with every body
    (a combined request is signed again over its combined body)."""
    headers = dict(request.headers)
    if request.signer is not None:
        headers.pop(request.signer.header, None)
    return headers


def _canonical(value: Any) -> str:
    """``value`` as JSON text, keys sorted: equal exactly when the values would be sent equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
