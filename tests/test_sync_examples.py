"""Every shipped sync example runs, and no attribute it sends renders empty or half-empty
(``{"@template": "{{row.plan | capitalize}} plan"}`` once sent " plan": filters are
``@liquid``'s, not ``@template``'s)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.sync.config import load_sync_config
from framework.sync.runner import run_sync

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "sync").glob("*.sync.yaml"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_a_shipped_sync_sends_whole_values(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the run's state and history go under ./.actionkit
    copy = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", copy)
    subprocess.run(
        [sys.executable, str(copy / "sync" / "make_warehouse.py")], check=True, cwd=tmp_path
    )
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={})

    config = load_sync_config(copy / "sync" / example.name)
    result = run_sync(config, full_resync=True, transport=httpx.MockTransport(answer))
    assert result.status == "succeeded", result.error
    assert sent
    for body in sent:
        for text in _strings(body):
            assert text.strip(), f"{example.name} sent an empty value in {body}"
            assert text == text.strip(), f"{example.name} sent {text!r} in {body}"
