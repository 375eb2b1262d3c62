"""``actionkit serve``: a real process, killed and restarted, loses nothing answered 200."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from framework.cli.main import cli
from framework.emulators import ContentstackEmulator
from tests.server_helpers import (
    PROJECT,
    WRITE_KEY,
    dead_url,
    server_config,
    wait_until,
    write_instance,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def serve(config: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``actionkit serve`` in a child process on a free port; yields it and its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framework",
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.communicate(timeout=30)
        wait_until(lambda: _healthy(url))
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def post(url: str, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{url}/v1/batch", json={"batch": events}, auth=(WRITE_KEY, ""), timeout=10)


def test_a_killed_server_delivers_what_it_answered_200_after_a_restart(tmp_path: Path) -> None:
    server_config(tmp_path, dead_url())  # the destination is down in the first life
    config = tmp_path / "server.yaml"
    events = [{"type": "track", "userId": "u1", "event": f"E{i}"} for i in range(6)]
    with serve(config) as (process, url):
        assert post(url, events).status_code == 200
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with ContentstackEmulator() as api:
        write_instance(tmp_path, api.url)
        with serve(config) as (process, url):
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
            stderr = process.stderr.read() if process.stderr else ""
        user = api.state()["projects"][PROJECT]["users"]["u1"]
    assert [e["eventKey"] for e in user["events"]] == [f"E{i}" for i in range(6)]
    assert "Stopped." in stderr


def test_the_queue_option_moves_the_queue_file(tmp_path: Path) -> None:
    server_config(tmp_path, dead_url())
    elsewhere = tmp_path / "other" / "events.sqlite"
    with serve(tmp_path / "server.yaml", "--queue", str(elsewhere)) as (process, url):
        assert post(url, [{"type": "page", "userId": "u"}]).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert elsewhere.exists()
    assert not (tmp_path / "queue.sqlite").exists()


def test_an_invalid_config_is_exit_1_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("instances: []\nwriteKeys: {k: [x]}\nextra: 1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "error[DEFINITION_INVALID]" in result.output
    assert "/instances" in result.output
    assert "'extra'" in result.output


def test_queue_and_redis_together_are_a_usage_error(tmp_path: Path) -> None:
    server_config(tmp_path, dead_url())
    result = CliRunner().invoke(
        cli,
        [
            "serve",
            "--config",
            str(tmp_path / "server.yaml"),
            "--queue",
            "q.sqlite",
            "--redis",
            "redis://localhost",
        ],
    )
    assert result.exit_code == 2


def test_a_port_in_use_is_exit_2(tmp_path: Path) -> None:
    server_config(tmp_path, dead_url())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["serve", "--config", str(tmp_path / "server.yaml"), "--port", str(port)]
        )
    assert result.exit_code == 2
    assert "cannot listen" in result.output


def test_serve_closes_an_idle_keep_alive_connection_and_cuts_a_stalled_body(
    tmp_path: Path,
) -> None:
    server_config(tmp_path, dead_url(), limits={"keepAliveTimeout": 1, "bodyTimeout": 0.5})
    with serve(tmp_path / "server.yaml") as (_, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):  # returns b"" once the server closes it
                data += chunk
            assert data.startswith(b"HTTP/1.1 200")
            assert b"connection: close" not in data.lower()  # closed for idling, not by the answer
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout caps it)."""
    data = b""
    while chunk := sock.recv(65536):  # returns b"" once the server closes it
        data += chunk
    return data


def test_serve_closes_a_connection_whose_request_head_stalls_and_keeps_serving(
    tmp_path: Path,
) -> None:
    server_config(tmp_path, dead_url(), limits={"headerTimeout": 0.5, "keepAliveTimeout": 60})
    with serve(tmp_path / "server.yaml") as (process, url):
        port = int(url.rsplit(":", 1)[1])
        # Half a request line, then nothing: only a deadline on the head can end this.
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"POST /v1/tra")
            data = read_until_closed(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert b"connection: close" in head.lower()
        answer = json.loads(body)
        assert (answer["success"], answer["code"]) == (False, "HEADER_TIMEOUT")
        # A connection that never sends a byte is closed too, with nothing to answer.
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            assert read_until_closed(sock) == b""
        # The server is unharmed: a prompt client is served as before (polled, since this test
        # could itself be paused past 0.5 s between connecting and sending its head).
        wait_until(lambda: _healthy(url))
        assert process.poll() is None
