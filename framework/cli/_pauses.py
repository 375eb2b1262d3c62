"""Progress lines for a command that waits: which endpoint is paused, why, and when it resumes.

While ``actionkit run`` waits out an outage or a rate limit, nothing else moves on the screen.
:class:`PauseReporter` reads the router's endpoint states every second on a thread of its own
and prints a line to standard error each time an endpoint is paused, changes its reason, or
resumes. :func:`pause_lines` is the pure part: the lines between two readings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from framework.definitions.durations import format_duration
from framework.delivery.gate import EndpointState

__all__ = ["PauseReporter", "pause_lines"]

Held = dict[str, tuple[str, str | None]]
"""Endpoints held now: endpoint -> (state, reason)."""


def held(states: list[EndpointState]) -> Held:
    """The endpoints of ``states`` that hold requests now (paused, open, or half-open)."""
    return {
        state.endpoint: (state.state, state.reason)
        for state in states
        if state.resumes_in is not None or state.state != "closed"
    }


def pause_lines(before: Held, states: list[EndpointState]) -> tuple[list[str], Held]:
    """The lines to print since ``before``, and the new reading to pass next time."""
    now = held(states)
    by_endpoint = {state.endpoint: state for state in states}
    lines = []
    for endpoint, (circuit, reason) in now.items():
        if before.get(endpoint) == (circuit, reason):
            continue
        state = by_endpoint[endpoint]
        when = (
            f"; resumes in {format_duration(state.resumes_in)}"
            if state.resumes_in is not None and state.resumes_in > 0
            else ""
        )
        why = reason or ("circuit open" if circuit == "open" else "probing")
        lines.append(f"paused: {endpoint}: {why}{when}")
    for endpoint in before:
        if endpoint not in now:
            lines.append(f"resumed: {endpoint}")
    return lines, now


class PauseReporter:
    """Print pause and resume lines from ``read`` (a router's endpoint states) every ``every``
    seconds, on a daemon thread, until stopped (use it as a context manager)."""

    def __init__(
        self,
        read: Callable[[], list[EndpointState]],
        echo: Callable[[str], None],
        *,
        every: float = 1.0,
    ) -> None:
        self._read = read
        self._echo = echo
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="actionkit-pauses", daemon=True)
        self._last: Held = {}

    def __enter__(self) -> PauseReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                states = self._read()
            except RuntimeError:  # the router closed meanwhile
                return
            lines, self._last = pause_lines(self._last, states)
            for line in lines:
                self._echo(line)
