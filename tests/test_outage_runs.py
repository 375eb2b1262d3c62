"""Issue 12's fault runs, with real processes: outages are waited out, each user's order kept.

Each test runs one of :mod:`benchmarks.outages`' runs (the installed ``actionkit`` command as
child processes, the emulator in this process on loopback), prints its figures (``pytest -s``
shows them; docs/delivery.md quotes them) and asserts them. The runs play the issue's faults
at their real lengths (30 s and 60 s outages): every wait is on a condition (the emulator's
log, the queue's depth, a process's exit), with a guard of minutes against a hang only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, redis_server

from benchmarks.outages import (
    Figures,
    main_job_run,
    make_events,
    permanent_run,
    serving_run,
)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """The 10,000 generated events of the serving runs (deterministic)."""
    return make_events()


@pytest.fixture
def redis_srv() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


def show(figures: Figures) -> Figures:
    print(f"\n{figures.command}\n{figures.line()}")
    return figures


def assert_nothing_lost_or_reordered(figures: Figures) -> None:
    assert figures.notes["all_applied"], figures.line()
    assert figures.notes["refused_posts"] == 0, figures.line()
    assert figures.dead_lettered == 0, figures.line()
    assert figures.lost == 0, figures.line()
    assert figures.delivered == figures.events, figures.line()
    assert figures.order_violations == 0, figures.line()
    assert figures.state_equal, figures.line()
    assert figures.notes["outage_answers"], figures.line()  # the outage was met


def test_the_main_job_ends_as_a_clean_run_through_429s_503s_drops_and_an_outage(
    tmp_path: Path,
) -> None:
    figures = show(main_job_run(tmp_path))
    answers = figures.notes["answers"]
    assert (answers["429"], answers["dropped"]) == (20, 10), figures.line()
    assert answers["503"] > 20, figures.line()  # 20 faults, then the outage's
    assert figures.dead_lettered == 0, figures.line()
    assert figures.notes["exit"] == 0, figures.line()
    assert figures.state_equal, figures.line()
    assert figures.notes["clean_equals_reference"], figures.line()
    assert (figures.lost, figures.order_violations) == (0, 0), figures.line()


def test_serve_waits_out_an_outage_and_a_kill_9_losing_nothing_in_order(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    figures = show(serving_run(tmp_path, events))
    assert_nothing_lost_or_reordered(figures)


def test_redis_workers_wait_out_an_outage_and_a_killed_worker_in_order(
    tmp_path: Path, events: list[dict[str, Any]], redis_srv: RedisServer
) -> None:
    figures = show(serving_run(tmp_path, events, redis_url=redis_srv.url))
    # Every user's order, the merged-away user's of an alias too (in another partition).
    assert_nothing_lost_or_reordered(figures)


def test_a_permanent_400_dead_letters_at_once_and_dlq_replay_delivers_it_once_fixed(
    tmp_path: Path,
) -> None:
    figures = show(permanent_run(tmp_path))
    assert figures.lost == 0, figures.line()
    assert figures.dead_lettered == 1, figures.line()
    assert figures.notes["codes"] == "INTEGRATION_ERROR", figures.line()
    assert figures.notes["attempts_for_user"] == 1, figures.line()  # no retry, no horizon
    assert figures.notes["replay_exit"] == 0, figures.line()
    assert figures.notes["left_after_replay"] == 0, figures.line()
    assert figures.notes["bad_user_attributes"] != "null", figures.line()  # delivered
    assert figures.order_violations == 0, figures.line()
