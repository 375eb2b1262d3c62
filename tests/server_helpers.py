"""Helpers shared by the server tests: configs, a uvicorn server on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from starlette.applications import Starlette

from framework.server import ServerConfig, load_server_config

WRITE_KEY = "test-write-key"
PROJECT = "proj"


def write_instance(folder: Path, url: str, name: str = "personalize") -> Path:
    """An instance file of the Contentstack destination sending to ``url``."""
    path = folder / f"{name}.yaml"
    document = {
        "destination": "contentstack",
        "name": name,
        "settings": {"personalizeProjectId": PROJECT, "personalizeEdgeApiBaseUrl": url},
        "mappings": [
            {"name": "Events", "preset": "events-sync"},
            {
                "name": "Attributes",
                "preset": "custom-attributes-sync",
                "trigger": 'type = "identify"',
            },
        ],
        "delivery": {"allowLoopback": True},  # the testing switch: the emulator is on loopback
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def server_config(folder: Path, url: str, **extra: Any) -> ServerConfig:
    """A server config in ``folder`` routing WRITE_KEY to one instance sending to ``url``."""
    write_instance(folder, url)
    document: dict[str, Any] = {
        "instances": ["personalize.yaml"],
        "writeKeys": {WRITE_KEY: ["personalize"]},
        "queue": {"path": "queue.sqlite"},
        "deadLetters": None,
        **extra,
    }
    path = folder / "server.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_server_config(path)


def dead_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))

    def run() -> None:
        # A failed start is sys.exit(3) in uvicorn; the caller sees it as server.started False.
        with contextlib.suppress(SystemExit):
            server.run(sockets=[sock])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def wait_until(condition: Callable[[], object], seconds: float = 30) -> None:
    """Poll ``condition`` until it holds; the deadline only keeps a broken test from hanging."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)
