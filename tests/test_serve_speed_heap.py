"""The ingestion app freezes the process's long-lived objects once it has started.

:func:`framework.server.heap.freeze_once` collects and then freezes the heap, once per
process; ``create_app``'s lifespan calls it after the caller's own lifespan has started, so
that what that start built (the queue, the router) is frozen too.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from framework.queue.sqlite import SqliteQueue
from framework.server import app as app_module
from framework.server import create_app, heap
from tests.server_helpers import dead_url, server_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def test_freeze_once_collects_then_freezes_only_the_first_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(heap, "_frozen", False)
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    assert heap.freeze_once() is True
    assert heap.freeze_once() is False
    assert calls == ["collect", "freeze"]


def test_the_app_freezes_after_its_callers_lifespan_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(app_module, "freeze_once", lambda: events.append("freeze") or True)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("started")
        yield
        events.append("stopped")

    queue = SqliteQueue(tmp_path / "q.sqlite")
    app = create_app(server_config(tmp_path, dead_url()), queue, lifespan=lifespan)
    with TestClient(app) as client:
        assert events == ["started", "freeze"]
        assert client.get("/health").status_code == 200
    assert events == ["started", "freeze", "stopped"]
    asyncio.run(queue.close())
