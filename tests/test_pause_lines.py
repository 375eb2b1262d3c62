"""The progress lines `actionkit run` prints while an endpoint is paused, and the metrics of
endpoint states."""

from __future__ import annotations

import threading

from framework.cli._pauses import PauseReporter, pause_lines
from framework.delivery.gate import EndpointState
from framework.server.metrics import ConsumerMetrics

API = "https://personalize-edge.contentstack.com:443"


def state(
    circuit: str = "closed", resumes_in: float | None = None, reason: str | None = None
) -> EndpointState:
    return EndpointState(API, circuit, resumes_in, reason, 0, None)  # type: ignore[arg-type]


def test_a_pause_is_told_once_with_its_reason_and_its_end() -> None:
    lines, seen = pause_lines({}, [state(resumes_in=30, reason="paused 30 s by a 429")])
    assert lines == [f"paused: {API}: paused 30 s by a 429; resumes in 30s"]
    again, seen = pause_lines(seen, [state(resumes_in=29, reason="paused 30 s by a 429")])
    assert again == []  # the same pause, a second later: nothing new to say
    changed, seen = pause_lines(seen, [state("open", 4, "5 failures in a row")])
    assert changed == [f"paused: {API}: 5 failures in a row; resumes in 4s"]
    resumed, seen = pause_lines(seen, [state()])
    assert (resumed, seen) == ([f"resumed: {API}"], {})


def test_an_endpoint_that_is_not_held_says_nothing() -> None:
    assert pause_lines({}, [state()]) == ([], {})


def test_the_reporter_prints_from_its_own_thread_until_stopped() -> None:
    readings = [[state(resumes_in=5, reason="r")], [state()]]
    printed: list[str] = []
    done = threading.Event()

    def read() -> list[EndpointState]:
        if len(readings) == 1:
            done.set()
        return readings.pop(0) if len(readings) > 1 else readings[0]

    with PauseReporter(read, printed.append, every=0.01):
        assert done.wait(10)
    assert printed[:2] == [f"paused: {API}: r; resumes in 5s", f"resumed: {API}"]


def test_metrics_show_each_endpoint_state_and_forget_those_gone() -> None:
    metrics = ConsumerMetrics()
    states = [state("open", 4.0, "5 failures in a row")]
    metrics.track(lambda: states)
    metrics.refresh_endpoints()
    text = metrics.render().decode()
    assert f'actionkit_endpoint_state{{endpoint="{API}",state="open"}} 1.0' in text
    assert f'actionkit_endpoint_state{{endpoint="{API}",state="closed"}} 0.0' in text
    assert f'actionkit_endpoint_resumes_in_seconds{{endpoint="{API}"}} 4.0' in text
    states = []
    metrics.refresh_endpoints()
    assert API not in metrics.render().decode()
