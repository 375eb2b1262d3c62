"""What a case did, written as the expectations that would pass: the record ``--update`` writes.

A pure function of a :class:`~framework.testing.CaseReport`: no file is read or written here
(:mod:`framework.testing.update` edits the YAML). The record holds every part a case can
expect that the run gives a value for:

- ``error``: the first problem reported (``code`` and ``pointer``), when there was one; a case
  that could not run (its mapping or settings are invalid) records that alone.
- ``outcome``: one outcome when every delivery ended alike, else one per mapping (for an
  instance whose mappings ended differently); left out when one mapping's events differ.
- ``requests``: every request the mock API received, in order: ``method``, ``url``, the
  headers the destination sets (password values masked as in results) and the JSON body.
- ``payload``: for an action or a preset, the validated payload (a list for a list of events),
  when there was one.
"""

from __future__ import annotations

from typing import Any

from framework.testing.results import ActionResult, all_requests
from framework.testing.runner import CaseReport

__all__ = ["record"]


def _request(shown: dict[str, Any]) -> dict[str, Any]:
    recorded: dict[str, Any] = {"method": shown["method"], "url": shown["url"]}
    if shown.get("headers"):
        recorded["headers"] = dict(shown["headers"])
    if shown.get("json") is not None:
        recorded["json"] = shown["json"]
    return recorded


def _outcome(results: tuple[ActionResult, ...]) -> str | dict[str, str] | None:
    by_mapping: dict[str, str] = {}
    for result in results:
        outcomes = {event.outcome for event in result.events}
        if len(outcomes) != 1:
            return None
        by_mapping[result.mapping] = outcomes.pop()
    every = set(by_mapping.values())
    if len(every) == 1:
        return every.pop()
    return by_mapping or None


def _error(report: CaseReport) -> dict[str, str] | None:
    problems = report.problems or tuple(p for r in report.results for p in r.errors)
    if not problems:
        return None
    return {"code": problems[0].code, "pointer": problems[0].pointer}


def _payload(report: CaseReport) -> tuple[bool, Any]:
    if report.case.kind == "instance" or len(report.results) != 1:
        return False, None
    [result] = report.results
    events = report.case.events
    if events is not None and len(events) > 1:
        payloads = result.payloads
        return any(p is not None for p in payloads), payloads
    payload = result.events[0].payload if result.events else None
    return payload is not None, payload


def record(report: CaseReport) -> dict[str, Any]:
    """The expectations that the run in ``report`` meets, in the order a case writes them."""
    error = _error(report)
    if report.problems:
        return {"error": error}
    recorded: dict[str, Any] = {}
    if error is not None:
        recorded["error"] = error
    outcome = _outcome(report.results)
    if outcome is not None:
        recorded["outcome"] = outcome
    recorded["requests"] = [_request(shown) for shown in all_requests(report.results)]
    has_payload, payload = _payload(report)
    if has_payload:
        recorded["payload"] = payload
    return recorded
