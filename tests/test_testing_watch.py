"""``actionkit test --watch``: the cases a change touches run again, on real file events.

No timers: each test writes a file and waits (up to a generous timeout) for the rerun.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.testing.watch import affected, watch_cases, watched_folders

ROOT = Path(__file__).parent.parent
WAIT = 60.0
PASSING = """\
settings: {personalizeProjectId: p1, personalizeEdgeApiBaseUrl: aws-eu}
cases:
  - name: a track event
    action: eventsSync
    event: {type: track, userId: u1, event: Signed Up}
    expected: {outcome: delivered}
"""


def _destination(parent: Path, name: str) -> Path:
    folder = parent / name
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "destinations" / "contentstack" / "destination.yaml", folder)
    (folder / "tests" / "cases.yaml").write_text(PASSING, encoding="utf-8")
    return folder


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    """Two destination folders with a passing case file each, under tmp_path."""
    return _destination(tmp_path, "one"), _destination(tmp_path, "two")


def test_a_change_in_a_destination_folder_reruns_that_destinations_cases(
    tmp_path: Path, two: tuple[Path, Path]
) -> None:
    one, other = two
    chosen = affected([tmp_path], [one / "destination.yaml"])
    assert chosen == [one / "tests" / "cases.yaml"]
    assert affected([tmp_path], [other / "tests" / "events.json"]) == [
        other / "tests" / "cases.yaml"
    ]


def test_a_change_outside_every_destination_reruns_all(
    tmp_path: Path, two: tuple[Path, Path]
) -> None:
    everything = affected([tmp_path], [tmp_path / "shared-instance.yaml"])
    assert everything == [folder / "tests" / "cases.yaml" for folder in two]


def test_a_case_file_given_is_watched_through_its_destination_folder(
    two: tuple[Path, Path],
) -> None:
    one, _ = two
    assert watched_folders([one / "tests" / "cases.yaml"]) == [one.resolve()]


def test_watch_cases_calls_back_when_a_file_changes(tmp_path: Path, two: tuple[Path, Path]) -> None:
    one, _ = two
    calls: queue.Queue[tuple[list[Path], list[Path]]] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_cases,
        args=([tmp_path], lambda files, changed: calls.put((files, changed))),
        kwargs={"stop_event": stop},
    )
    watcher.start()
    try:
        # Until the watcher is ready a write may go unseen: write again until it is seen.
        while True:
            (one / "tests" / "events.json").write_text("{}", encoding="utf-8")
            try:
                files, changed = calls.get(timeout=1.0)
                break
            except queue.Empty:
                if not watcher.is_alive():
                    pytest.fail("the watcher stopped")
        assert files == [one / "tests" / "cases.yaml"]
        assert any(path.name == "events.json" for path in changed)
    finally:
        stop.set()
        watcher.join(WAIT)
    assert not watcher.is_alive()


@pytest.fixture
def watching(tmp_path: Path, two: tuple[Path, Path]) -> Iterator[queue.Queue[str]]:
    """``actionkit test --watch tmp_path`` in a subprocess; its output lines, one by one."""
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "test", "--watch", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(WAIT)
        if process.stdout is not None:
            process.stdout.close()


def _until(lines: queue.Queue[str], wanted: str, timeout: float | None = None) -> list[str]:
    """The lines up to the first with ``wanted``; with ``timeout``, those that came in time."""
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout or WAIT)
        except queue.Empty:
            if timeout is not None:
                return seen
            pytest.fail(f"no line with {wanted!r} came; the output was:\n" + "\n".join(seen))
        seen.append(line)
        if wanted and wanted in line:
            return seen


def test_the_command_reruns_the_changed_destinations_cases(
    two: tuple[Path, Path], watching: queue.Queue[str]
) -> None:
    one, _ = two
    first = _until(watching, "watching ")
    assert "2 passed, 0 failed" in first
    case_file = one / "tests" / "cases.yaml"
    rerun: list[str] = []
    # The watcher starts just after the line that says so: write until a change is seen.
    while not any(line.startswith("changed: ") for line in rerun):
        case_file.write_text(PASSING.replace("delivered", "invalid"), encoding="utf-8")
        rerun += _until(watching, "", timeout=1.0)
    after = rerun[next(i for i, line in enumerate(rerun) if line.startswith("changed: ")) :]
    if not any(line.startswith("watching ") for line in after):
        rerun += _until(watching, "watching ")
    assert any(line.startswith("changed: ") and "cases.yaml" in line for line in rerun)
    assert "0 passed, 1 failed" in rerun
    assert "  FAIL  a track event" in "\n".join(rerun)


def test_watch_with_json_is_a_usage_error(two: tuple[Path, Path]) -> None:
    from click.testing import CliRunner

    from framework.cli.main import cli

    result = CliRunner().invoke(cli, ["test", str(two[0]), "--watch", "--json"])
    assert result.exit_code == 2
    assert "--watch prints for a person" in result.output
