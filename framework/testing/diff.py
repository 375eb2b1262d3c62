"""Readable differences between an expected and an actual request, and ``assert_request``.

An expected request is a dict with any of ``method``, ``url``, ``headers`` and ``json``; what
it leaves out is not compared, and its ``headers`` are a subset (names compared without
regard to case). The ``json`` body is compared whole, and every difference is reported at its
JSON pointer, so a failure reads as a list of places to look at rather than two blobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from framework.definitions.request import PlannedRequest
from framework.definitions.source import escape_pointer_token
from framework.testing.results import ActionResult

__all__ = [
    "REQUEST_KEYS",
    "assert_request",
    "format_request",
    "json_diff",
    "request_diff",
    "requests_diff",
]

REQUEST_KEYS = ("method", "url", "headers", "json")
"""The keys an expected request may have; each one given is compared."""

_SHOWN = 120


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def json_diff(expected: Any, actual: Any, pointer: str = "") -> list[str]:
    """Every difference between two JSON values, one line each, located by JSON pointer.

    Values of different JSON types differ even when Python would call them equal
    (``1`` against ``true``, ``1`` against ``1.0`` do not differ; ``1`` against ``"1"`` does).
    """
    where = pointer or "/"
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        lines: list[str] = []
        for key, value in expected.items():
            child = f"{pointer}/{escape_pointer_token(str(key))}"
            if key not in actual:
                lines.append(f"{child}: expected {_show(value)}, but it is missing")
            else:
                lines.extend(json_diff(value, actual[key], child))
        for key, value in actual.items():
            if key not in expected:
                child = f"{pointer}/{escape_pointer_token(str(key))}"
                lines.append(f"{child}: not expected, but it is {_show(value)}")
        return lines
    if _is_list(expected) and _is_list(actual):
        lines = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            lines.extend(json_diff(want, got, f"{pointer}/{index}"))
        for index in range(len(actual), len(expected)):
            lines.append(f"{pointer}/{index}: expected {_show(expected[index])}, but it is missing")
        for index in range(len(expected), len(actual)):
            lines.append(f"{pointer}/{index}: not expected, but it is {_show(actual[index])}")
        return lines
    if _same_scalar(expected, actual):
        return []
    return [f"{where}: expected {_show(expected)}, got {_show(actual)}"]


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, Mapping | list | tuple) or isinstance(actual, Mapping | list | tuple):
        return False
    return bool(type(expected) is type(actual) or _both_numbers(expected, actual)) and (
        expected == actual
    )


def _both_numbers(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float)


def _as_dict(request: Mapping[str, Any] | PlannedRequest) -> dict[str, Any]:
    if isinstance(request, PlannedRequest):
        return request.redacted()
    return dict(request)


def request_diff(
    actual: Mapping[str, Any] | PlannedRequest, expected: Mapping[str, Any]
) -> list[str]:
    """The differences between a request and what was expected of it; empty when it matches.

    ``actual`` is a request dict (``method``, ``url``, ``headers``, ``json``, as results and
    ``PlannedRequest.redacted()`` give them) or a :class:`~framework.PlannedRequest`.
    Raises ``ValueError`` when ``expected`` has a key that is not one of :data:`REQUEST_KEYS`.
    """
    unknown = sorted(str(key) for key in expected if key not in REQUEST_KEYS)
    if unknown:
        raise ValueError(
            f"The expected request has unknown keys {', '.join(unknown)}; "
            f"it may have {', '.join(REQUEST_KEYS)}."
        )
    got = _as_dict(actual)
    lines: list[str] = []
    for key in ("method", "url"):
        if key in expected and expected[key] != got.get(key):
            lines.append(f"{key}: expected {_show(expected[key])}, got {_show(got.get(key))}")
    if "headers" in expected:
        have = {str(name).lower(): value for name, value in (got.get("headers") or {}).items()}
        for name, value in (expected["headers"] or {}).items():
            key = str(name).lower()
            if key not in have:
                lines.append(f"headers.{key}: expected {_show(value)}, but there is no such header")
            elif have[key] != value:
                lines.append(f"headers.{key}: expected {_show(value)}, got {_show(have[key])}")
    if "json" in expected:
        lines.extend(f"json{line}" for line in json_diff(expected["json"], got.get("json")))
    return lines


def format_request(request: Mapping[str, Any] | PlannedRequest) -> str:
    """A request as an HTTP message: the request line, headers, and the indented JSON body.

    A part the request does not give (an expected request may leave out its method or URL)
    is written ``(any method)``, ``(any URL)``.
    """
    shown = _as_dict(request)
    method = shown.get("method") or "(any method)"
    url = shown.get("url") or "(any URL)"
    lines = [f"{method} {url}"]
    for name, value in (shown.get("headers") or {}).items():
        lines.append(f"{name}: {value}")
    if "json" in shown:
        lines.append("")
        lines.append(json.dumps(shown["json"], indent=2, ensure_ascii=False, default=str))
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def _why_none(result: ActionResult) -> str:
    """Why a result sent no request: its outcome, and each event's reason or problems."""
    outcomes = ", ".join(event.outcome for event in result.events) or "no event"
    lines = [f"The mapping '{result.mapping}' ({result.action}) sent no request: {outcomes}."]
    for event in result.events:
        if event.reason:
            lines.append(f"  filtered: {event.reason}")
        for problem in event.errors:
            lines.append(f"  {problem.pointer or '/'}: {problem.message} [{problem.code}]")
    return "\n".join(lines)


def assert_request(
    actual: Mapping[str, Any] | PlannedRequest | ActionResult | None,
    expected: Mapping[str, Any],
) -> None:
    """Fail (``AssertionError``) unless ``actual`` matches ``expected``, showing a diff.

    ``actual`` is a request (a dict, a :class:`~framework.PlannedRequest`), None for no
    request, or an :class:`~framework.testing.ActionResult` that must have sent exactly one
    (when it sent none, the message says why: its outcome, and the event's problems or the
    reason it was filtered). Only the keys ``expected`` gives are compared (see
    :func:`request_diff`); the message lists each difference, then the expected and the
    actual request in full. Its own frames are hidden from pytest's traceback.
    """
    __tracebackhide__ = True
    if isinstance(actual, ActionResult):
        if not actual.requests:
            raise AssertionError(
                _why_none(actual)
                + "\nThis request was expected:\n"
                + _indent(format_request(expected))
            )
        if len(actual.requests) > 1:
            sent = "\n".join(
                f"  {index}: {format_request(request).splitlines()[0]}"
                for index, request in enumerate(actual.requests)
            )
            raise AssertionError(
                f"{len(actual.requests)} requests were sent, not one; compare one of "
                f"result.requests[i]:\n{sent}"
            )
        actual = actual.requests[0]
    if actual is None:
        raise AssertionError(
            "No request was sent, but this one was expected:\n" + _indent(format_request(expected))
        )
    lines = request_diff(actual, expected)
    if lines:
        raise AssertionError(
            "The request differs from the expected one:\n"
            + "\n".join(f"  {line}" for line in lines)
            + "\n  expected:\n"
            + _indent(format_request(expected))
            + "\n  actual:\n"
            + _indent(format_request(actual))
        )


def _summary(expected: Mapping[str, Any]) -> str:
    """An expected request on one line: its request line, and its body when it gives one."""
    line = format_request(expected).splitlines()[0]
    return f"{line} {_show(expected['json'])}" if "json" in expected else line


def requests_diff(
    actual: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The differences between the requests sent and those expected, in order."""
    lines: list[str] = []
    for index, (got, want) in enumerate(zip(actual, expected, strict=False)):
        lines.extend(f"request {index + 1}: {line}" for line in request_diff(got, want))
    if len(actual) != len(expected):
        lines.append(f"expected {len(expected)} request(s), but {len(actual)} were sent")
        for index in range(len(expected), len(actual)):
            first = format_request(actual[index]).splitlines()[0]
            lines.append(f"request {index + 1}: not expected: {first}")
        for index in range(len(actual), len(expected)):
            lines.append(f"request {index + 1}: not sent: {_summary(expected[index])}")
    return lines
