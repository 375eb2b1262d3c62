"""Running test cases: each case's event through the tester, compared with what it expects.

A case passes when every part of ``expected`` holds; otherwise its report lists each
difference (requests by pointer, the error looked for and the problems found, outcomes) and
then what happened, so the person fixing it sees both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from framework.errors import DefinitionError, Problem
from framework.testing.cases import Case, CaseFile, Expected
from framework.testing.diff import format_request, json_diff, requests_diff
from framework.testing.results import ActionResult, all_requests
from framework.testing.tester import DestinationTester

__all__ = ["NOTHING_EXPECTED", "CaseReport", "run_case", "run_case_file"]


@dataclass(frozen=True, slots=True)
class CaseReport:
    """The result of one case: passed, or the differences found (``failures``).

    ``results`` holds what the run returned (empty when the case could not run);
    ``problems`` the definition problems that stopped it (a mapping or settings error), also
    when the case expected them. ``failed`` names the parts of ``expected`` that did not hold
    (``error``, ``outcome``, ``requests``, ``payload``), ``respond`` when an answer went
    unused, and ``expected`` when the case expects nothing.
    """

    case: Case
    failures: tuple[str, ...]
    results: tuple[ActionResult, ...] = ()
    problems: tuple[Problem, ...] = ()
    failed: frozenset[str] = frozenset()

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures

    def explain(self) -> str:
        """The failures, then what happened, as indented text (empty when it passed)."""
        if self.passed:
            return ""
        lines = [*self.failures, "what happened:", *_happened(self)]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "file": str(self.case.path),
            "line": self.case.line,
            "name": self.case.name,
            "passed": self.passed,
            "failures": list(self.failures),
            "problems": [problem.to_dict() for problem in self.problems],
            "results": [result.to_dict() for result in self.results],
        }


def _happened(report: CaseReport) -> list[str]:
    if report.problems:
        return ["  the case could not run:"] + [
            f"    {p.pointer or '/'}: {p.message} [{p.code}]" for p in report.problems
        ]
    lines: list[str] = []
    for result in report.results:
        outcomes = ", ".join(event.outcome for event in result.events)
        lines.append(f"  {result.mapping} ({result.action}): {outcomes}")
        for event in result.events:
            if event.reason:
                lines.append(f"    filtered: {event.reason}")
            for problem in event.errors:
                lines.append(f"    {problem.pointer or '/'}: {problem.message} [{problem.code}]")
        for request in result.requests:
            lines.extend(f"    {line}" for line in format_request(request).splitlines())
    return lines


def _error_failure(expected: dict[str, str], problems: Sequence[Problem]) -> list[str]:
    for problem in problems:
        if problem.code == expected["code"] and problem.pointer == expected["pointer"]:
            wanted = expected.get("message")
            if wanted is None or wanted in problem.message:
                return []
    want = f"the error {expected['code']} at {expected['pointer'] or '/'}"
    if "message" in expected:
        want += f" saying {expected['message']!r}"
    if not problems:
        return [f"expected {want}, but no problem was reported"]
    found = "; ".join(f"{p.code} at {p.pointer or '/'}" for p in problems)
    return [f"expected {want}, but the problems were: {found}"]


def _outcome_failures(expected: str | dict[str, str], results: Sequence[ActionResult]) -> list[str]:
    lines: list[str] = []
    by_mapping = {result.mapping: result for result in results}
    wanted = (
        expected if isinstance(expected, dict) else {result.mapping: expected for result in results}
    )
    for mapping, outcome in wanted.items():
        result = by_mapping.get(mapping)
        if result is None:
            known = ", ".join(sorted(by_mapping)) or "none"
            lines.append(f"outcome: there is no enabled mapping '{mapping}' (there are: {known})")
            continue
        for index, event in enumerate(result.events):
            if event.outcome != outcome:
                which = f" (event {index + 1})" if len(result.events) > 1 else ""
                lines.append(
                    f"outcome of {mapping}{which}: expected {outcome}, got {event.outcome}"
                )
    return lines


def _payload_failures(case: Case, results: Sequence[ActionResult]) -> list[str]:
    [result] = results
    actual: Any = (
        result.payloads
        if case.events is not None and len(case.events) > 1
        else (result.events[0].payload)
    )
    return [f"payload{line}" for line in json_diff(case.expected.payload, actual)]


def _unused_failures(tester: DestinationTester) -> list[str]:
    unused = tester.unused_answers()
    if not unused:
        return []
    sent = len(tester.api.received)
    return [
        f"respond: {', '.join(unused)} {'was' if len(unused) == 1 else 'were'} never used: "
        f"{sent} request{'' if sent == 1 else 's'} reached the mock API. Expect the request "
        "that would use it, remove the answer, or mark it 'optional: true'."
    ]


def _run(case: Case, tester: DestinationTester) -> list[ActionResult]:
    if case.kind == "action":
        return [
            tester.run_action(
                case.target,
                case.events,
                mapping=case.mapping,
                settings=case.settings,
                use_default_mappings=case.use_default_mappings,
            )
        ]
    if case.kind == "preset":
        return [
            tester.run_preset(
                case.target, case.events, mapping=case.mapping, settings=case.settings
            )
        ]
    target = case.target
    if isinstance(target, dict):
        # An inline instance takes the file's and the case's settings unless it gives its own.
        settings = {**tester.settings, **case.settings, **target.get("settings", {})}
        target = {**target, "settings": settings}
    return tester.run_instance(target, case.events)


NOTHING_EXPECTED = (
    "the case expects nothing yet: run `actionkit test --update` to record what it does "
    "(then review the diff)"
)
"""The failure of a case without ``expected``."""


def run_case(case: Case, tester: DestinationTester) -> CaseReport:
    """Run one case with ``tester`` (its answers are reset first) and compare."""
    tester.reset()
    for answer in case.answers:
        tester.respond(
            answer.get("status", 200), **{k: v for k, v in answer.items() if k != "status"}
        )
    expected = case.expected
    results: list[ActionResult] = []
    problems: tuple[Problem, ...] = ()
    stopped = ""
    try:
        results = _run(case, tester)
    except DefinitionError as exc:
        problems = tuple(exc.problems) or (Problem("", exc.message, exc.code),)
        stopped = exc.message
    failed: dict[str, list[str]] = {}
    if not expected.given:
        failed["expected"] = [NOTHING_EXPECTED]
    elif problems:
        if expected.error is None or _error_failure(expected.error, problems):
            message = f"the case could not run: {stopped}"
            failed.update({key: [] for key in expected.given})
            failed[expected.given[0]] = [message]
    else:
        failed.update(_expectation_failures(expected, case, results))
    unused = _unused_failures(tester)
    if unused:
        failed["respond"] = unused
    failures = tuple(line for lines in failed.values() for line in lines)
    return CaseReport(case, failures, tuple(results), problems, frozenset(failed))


def _expectation_failures(
    expected: Expected, case: Case, results: Sequence[ActionResult]
) -> dict[str, list[str]]:
    """The failures of each part of ``expected`` that did not hold, by part."""
    found: dict[str, list[str]] = {}
    if expected.error is not None:
        errors = [problem for result in results for problem in result.errors]
        found["error"] = _error_failure(expected.error, errors)
    if expected.outcome is not None:
        found["outcome"] = _outcome_failures(expected.outcome, results)
    if expected.requests is not None:
        found["requests"] = requests_diff(all_requests(results), expected.requests)
    if expected.has_payload:
        found["payload"] = _payload_failures(case, results)
    return {key: lines for key, lines in found.items() if lines}


def run_case_file(case_file: CaseFile) -> list[CaseReport]:
    """Run every case of a loaded file, in order, with one tester for the file."""
    tester = DestinationTester(case_file.destination, settings=case_file.settings)
    return [run_case(case, tester) for case in case_file.cases]
