"""What ``actionkit run`` says at its end, beyond the counts: why events were not sent, and a
bounded view of an emulator's state.

Both stay bounded whatever the input's size: the reasons keep at most
:data:`MAX_DISTINCT_REASONS` distinct texts per outcome (the rest are counted together), and
the emulator's users are shown up to :data:`SHOWN_USERS` per project on a terminal, the whole
state staying in ``--json``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from framework.cli._output import as_said, print_table, table

EXPLAINED_OUTCOMES: Final = frozenset({"invalid", "filtered", "dead_lettered"})
"""The outcomes whose reasons the summary lists (an event not subscribed has no reason to give)."""

MAX_DISTINCT_REASONS: Final = 1000
"""Distinct reason texts kept per outcome; later new ones count as ``(other reasons)``."""

SHOWN_REASONS: Final = 5
"""Reasons shown per outcome, the most common first."""

SHOWN_USERS: Final = 20
"""Users of an emulator's project shown on a terminal."""

OTHER_REASONS: Final = "(other reasons)"


def reason_of(report: Mapping[str, Any]) -> str:
    """One line saying why an event or delivery ended as it did, from its report.

    The first problem, at its pointer and with its code (and how many more there are); else
    the filter's reason; else the error's message and code.
    """
    errors = report.get("errors") or []
    if errors:
        first = errors[0]
        where = f"{first['pointer']}: " if first.get("pointer") else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = as_said(str(first["message"]), str(first.get("code", "")))
        return f"{where}{message} [{first['code']}]{more}"
    if report.get("reason"):
        return str(report["reason"])
    if report.get("error_message"):
        code = f" [{report['error_code']}]" if report.get("error_code") else ""
        return f"{report['error_message']}{code}"
    return str(report.get("outcome", "unknown"))


class ReasonTally:
    """Counts of (outcome, action, reason) for the outcomes worth explaining, bounded."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._distinct: Counter[str] = Counter()

    def add(self, action: str, report: Mapping[str, Any]) -> None:
        """Count one event's or delivery's report under its action, if its outcome has reasons."""
        outcome = str(report.get("outcome"))
        if outcome not in EXPLAINED_OUTCOMES:
            return
        key = (outcome, action, reason_of(report))
        if key not in self._counts:
            if self._distinct[outcome] >= MAX_DISTINCT_REASONS:
                key = (outcome, action, OTHER_REASONS)
            else:
                self._distinct[outcome] += 1
        self._counts[key] += 1

    def rows(self) -> list[dict[str, Any]]:
        """Every counted reason, as ``{outcome, action, reason, count}``, most common first."""
        ordered = sorted(self._counts.items(), key=lambda item: (item[0][0], -item[1], item[0]))
        return [
            {"outcome": outcome, "action": action, "reason": reason, "count": count}
            for (outcome, action, reason), count in ordered
        ]

    def table(self, out: Console) -> Table | None:
        """The :data:`SHOWN_REASONS` commonest reasons per outcome, or None when there are none."""
        rows = self.rows()
        if not rows:
            return None
        grid = table(out, "outcome", "count", "action", "reason", right=("count",))
        by_outcome: Counter[str] = Counter()
        hidden: Counter[str] = Counter()
        for row in rows:
            outcome = row["outcome"]
            by_outcome[outcome] += 1
            if by_outcome[outcome] > SHOWN_REASONS:
                hidden[outcome] += row["count"]
                continue
            grid.add_row(outcome, str(row["count"]), row["action"], row["reason"])
        for outcome, count in sorted(hidden.items()):
            grid.add_row(outcome, str(count), "", "(less common reasons: --json lists them all)")
        return grid


def print_state(out: Console, state: Mapping[str, Any], *, shown: int = SHOWN_USERS) -> None:
    """An emulator's state, bounded: the Contentstack emulator's projects and users, or what
    the generic capture emulator received (see :func:`print_capture`)."""
    if "received" in state:
        print_capture(out, state)
        return
    _print_projects(out, state, shown=shown)


def print_capture(out: Console, state: Mapping[str, Any]) -> None:
    """The capture emulator's state: requests received per action, unmatched ones and why."""
    received = state.get("received", {})
    grid = table(out, "action", "requests", right=("requests",))
    for action, count in received.items():
        grid.add_row(action, str(count))
    grid.add_row("(matched no action)", str(state.get("unmatched", 0)))
    print_table(out, grid, margin=2)
    for request in state.get("recent", []):
        for problem in request.get("problems", []):
            where = f" {problem['pointer']}" if problem.get("pointer") else ""
            out.print(f"  {request['method']} {request['path']}{where}: {problem['message']}")


def _print_projects(out: Console, state: Mapping[str, Any], *, shown: int) -> None:
    """Per project: users and merges; the first ``shown`` users with their events and attributes.

    A project with more users says how many are left out; ``--json`` holds the whole state.
    """
    for project, data in sorted(state.get("projects", {}).items()):
        users = data.get("users", {})
        merges = len(data.get("merges", []))
        events = sum(len(record.get("events", [])) for record in users.values())
        out.print(f"project {project}: {len(users)} users, {events} events, {merges} merges")
        grid = table(out, "user", "events", "attributes", right=("events",))
        for user in sorted(users)[:shown]:
            record = users[user]
            attributes = ", ".join(
                f"{key}={json.dumps(value, ensure_ascii=False)}"
                for key, value in record.get("attributes", {}).items()
            )
            grid.add_row(user, str(len(record.get("events", []))), attributes)
        print_table(out, grid, margin=2)
        if len(users) > shown:
            out.print(f"  ... and {len(users) - shown} more users (the whole state: --json)")
