"""Templates of an action's request: the URL, header values and the batch key.

``{{settings.baseUrl}}/users/{{payload.userId}}`` is split once into literal text and paths;
rendering joins them. In a URL, values taken from the payload are percent-encoded (so a user ID
with ``/`` or ``?`` in it stays one path segment) while settings are inserted as they are (a
base URL is meant to carry slashes; the request builder encodes, before rendering, every
setting that is not the URL's base: :func:`~framework.definitions.request.url_setting_places`).
A missing value renders as nothing, and
:meth:`Template.missing` says which paths were missing so a caller can refuse the request.

A header value is sent as it renders, so it may only hold what every HTTP client can send and
every server reads the same way: printable ASCII, space and tab (RFC 9110's field value
without obs-text; httpx refuses anything else, and CR or LF would split the header).
:func:`header_value_refusal` says what is wrong with a value; :meth:`Template.values` gives
each placeholder's rendered value, so a caller can name the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from framework.errors import Problem
from framework.mapping.jsvalues import js_string

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
"""A placeholder, ``{{ settings.baseUrl }}``: group 1 is its path (checked by
:meth:`Template.compile`).

Every reader of template text (the request builder, the capture emulator) locates
placeholders with this one pattern."""
_PATH = re.compile(r"^(settings|payload)(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MISSING = object()
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_value_refusal(text: str) -> str | None:
    """Why ``text`` cannot be (part of) a header value, or None when it can.

    Allowed: printable ASCII (0x20 to 0x7E) and tab. Refused: CR, LF, NUL and every other
    control character, DEL, and anything outside ASCII (obs-text bytes are read differently by
    different servers, and httpx cannot send them).
    """
    if _HEADER_VALUE.fullmatch(text):
        return None
    if "\r" in text or "\n" in text:
        return "a line break (CR or LF)"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return "a control character"
    return "a character outside ASCII"


def header_name_refusal(name: str) -> str | None:
    """Why ``name`` cannot be a header name (an RFC 9110 token), or None when it can."""
    if _HEADER_NAME.fullmatch(name):
        return None
    return "a header name must be a token: letters, digits and !#$%&'*+-.^_`|~ only"


@dataclass(frozen=True, slots=True)
class _Part:
    text: str
    path: tuple[str, ...] | None


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if type(value) is not dict:
            return _MISSING
        value = value.get(key, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


class Template:
    """A compiled request template over ``{settings, payload}``.

    Build it with :meth:`compile`, which reports malformed placeholders as problems.
    """

    __slots__ = ("_encode_payload", "_parts", "_paths", "source")

    def __init__(self, source: str, parts: tuple[_Part, ...], *, encode_payload: bool) -> None:
        self.source = source
        self._parts = parts
        self._encode_payload = encode_payload
        self._paths = tuple(part.path for part in parts if part.path is not None)

    @classmethod
    def compile(
        cls, source: str, pointer: str, *, url: bool = False
    ) -> tuple[Template | None, list[Problem]]:
        """Compile ``source``; returns the template, or None and the problems at ``pointer``."""
        parts: list[_Part] = []
        problems: list[Problem] = []
        position = 0
        for match in PLACEHOLDER.finditer(source):
            if match.start() > position:
                parts.append(_Part(source[position : match.start()], None))
            expression = match.group(1)
            if not _PATH.match(expression):
                problems.append(
                    Problem(
                        pointer,
                        f"The placeholder {{{{{expression}}}}} must be a path starting with "
                        "'settings.' or 'payload.', such as {{settings.baseUrl}}.",
                        "TEMPLATE_INVALID",
                    )
                )
            parts.append(_Part("", tuple(expression.split(".")[0:])))
            position = match.end()
        if position < len(source):
            parts.append(_Part(source[position:], None))
        leftover = PLACEHOLDER.sub("", source)
        if "{{" in leftover or "}}" in leftover:
            problems.append(
                Problem(pointer, "The template has an unbalanced '{{' or '}}'.", "TEMPLATE_INVALID")
            )
        if problems:
            return None, problems
        return cls(source, tuple(parts), encode_payload=url), []

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """The paths the template reads, e.g. ``("settings", "baseUrl")``."""
        return self._paths

    def missing(self, data: Mapping[str, Any]) -> list[str]:
        """The dotted paths whose value is missing or null in ``data``."""
        return [".".join(path) for path in self.paths if _lookup(data, path) in (_MISSING, None)]

    @property
    def literals(self) -> tuple[str, ...]:
        """The literal text between the placeholders."""
        return tuple(part.text for part in self._parts if part.path is None)

    def values(self, data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
        """Each placeholder's path and its rendered value (before any URL encoding).

        Missing and null values are left out, as :meth:`render` leaves them out.
        """
        out: list[tuple[tuple[str, ...], str]] = []
        for part in self._parts:
            if part.path is None:
                continue
            value = _lookup(data, part.path)
            if value is not _MISSING and value is not None:
                out.append((part.path, js_string(value)))
        return out

    def render(self, data: Mapping[str, Any]) -> str:
        """The template filled from ``data`` (``{"settings": ..., "payload": ...}``)."""
        out: list[str] = []
        for part in self._parts:
            if part.path is None:
                out.append(part.text)
                continue
            value = _lookup(data, part.path)
            if value is _MISSING or value is None:
                continue
            text = js_string(value)
            if self._encode_payload and part.path[0] == "payload":
                text = quote(text, safe="")
            out.append(text)
        return "".join(out)

    @property
    def reads_payload(self) -> bool:
        """Whether any placeholder reads the payload (else the settings alone fill it)."""
        return any(part.path is not None and part.path[0] == "payload" for part in self._parts)

    def bind(
        self,
        settings: Mapping[str, Any],
        encoded: frozenset[tuple[str, ...]] = frozenset(),
        *,
        missing_ok: bool = False,
    ) -> Template | None:
        """The template with its settings placeholders filled in from ``settings``, or None
        when one of them is missing or null (the caller then keeps the unbound template, so
        that the same error is raised when a request is built); with ``missing_ok``, such a
        placeholder is filled with nothing, as :meth:`render` leaves it out.

        The placeholders at the paths in ``encoded`` are percent-encoded, as the request
        builder encodes a URL's settings that are not its base; the payload's placeholders
        are kept, so rendering the bound template over ``{"payload": ...}`` gives what the
        unbound one gives over ``{"settings": settings, "payload": ...}``.
        """
        data = {"settings": settings}
        parts: list[_Part] = []
        for part in self._parts:
            text = part.text
            if part.path is not None and part.path[0] == "settings":
                value = _lookup(data, part.path)
                if (value is _MISSING or value is None) and not missing_ok:
                    return None
                text = "" if value is _MISSING or value is None else js_string(value)
                if part.path in encoded:
                    text = quote(text, safe="")
            elif part.path is not None:
                parts.append(part)
                continue
            if parts and parts[-1].path is None:
                parts[-1] = _Part(parts[-1].text + text, None)
            elif text:
                parts.append(_Part(text, None))
        return Template(self.source, tuple(parts), encode_payload=self._encode_payload)
