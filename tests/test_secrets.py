"""Password settings never leave actionkit: one known secret, looked for in every output.

The test destination (``tests/fixtures/destinations/vault``) has two password settings, used
in the request URL, its headers, its body and the batch key. The API is a real HTTP server on
loopback that echoes every request it gets (URL, headers and body) in its answer, and refuses
some (400) or fails (503): so the secrets come back in responses, in error messages, in dead
letters. Then every channel a user sees is swept for them: the library's deliveries, reprs and
log records; ``actionkit run``, ``try``, ``dlq list/show`` (text and ``--json``, stdout and
stderr); the files of the dead-letter store; a sync's run history, ``actionkit runs`` and the
debugger's HTTP API over it; the ingestion server's answers, ``/metrics`` and ``/health``.
Each sweep first checks that the API really received the secrets, so a sweep cannot pass
because nothing was sent.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from framework import Router, load_instance
from framework.delivery.retry import RetryPolicy
from framework.server import create_embedded_app, load_server_config
from tests.server_helpers import serving

API_KEY = "ak_live_Zq8rT4uVw2Lp"
SIGNING_SECRET = "sg_Hm3pQx9LkEw7Rt"
SECRETS = (API_KEY, SIGNING_SECRET)
DESTINATION = Path(__file__).parent / "fixtures" / "destinations" / "vault" / "destination.yaml"
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, deadline=10.0)
WRITE_KEY = "vault-write-key"

EVENTS = [
    {"type": "identify", "userId": "u-ok", "traits": {"plan": "pro"}, "messageId": "m1"},
    {"type": "identify", "userId": "u-reject", "traits": {"plan": "x"}, "messageId": "m2"},
    {"type": "identify", "userId": "u-fail", "traits": {"plan": "y"}, "messageId": "m3"},
    {"type": "track", "userId": "u-ok", "event": "Not Subscribed", "messageId": "m4"},
    {"type": "identify", "userId": "u-cut", "traits": {"plan": "z"}, "messageId": "m5"},
]


class EchoApi:
    """An API on loopback that answers every request with the request itself.

    A body naming ``u-reject`` is refused (400), one naming ``u-fail`` fails (503); any other
    is accepted (200). ``received`` holds the raw requests (URL, headers, body).
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                echo = json.dumps(
                    {"url": self.path, "headers": dict(self.headers), "body": body.decode()}
                )
                api.received.append(echo)
                status = 400 if b"u-reject" in body else 503 if b"u-fail" in body else 200
                payload = echo.encode()
                if b"u-cut" in body:
                    # An error message quotes the first 300 characters of the body: the key
                    # straddles that cut, so only masking before quoting hides it.
                    status, payload = 422, b"x" * 290 + API_KEY.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def got_the_secrets(self) -> bool:
        """Whether the API really received both secrets (so the sweeps below mean something)."""
        seen = "\n".join(self.received)
        return all(secret in seen for secret in SECRETS)


@pytest.fixture
def api() -> Iterator[EchoApi]:
    with EchoApi() as server:
        yield server


def instance_document(url: str) -> dict[str, Any]:
    return {
        "destination": str(DESTINATION),
        "name": "vault",
        "settings": {"baseUrl": url, "apiKey": API_KEY, "signingSecret": SIGNING_SECRET},
        "mappings": [{"name": "Attributes", "action": "customAttributesSync"}],
        "delivery": {"maxAttempts": 2, "allowLoopback": True},
    }


def write_instance(folder: Path, url: str) -> Path:
    path = folder / "vault.yaml"
    path.write_text(yaml.safe_dump(instance_document(url)), encoding="utf-8")
    return path


def assert_hidden(text: str, where: str) -> None:
    for secret in SECRETS:
        # Its first 8 characters: a secret cut short is still (partly) shown.
        assert secret[:8] not in text, f"a password setting shows in {where}"


def assert_files_hidden(folder: Path, pattern: str) -> None:
    files = sorted(folder.glob(pattern))
    assert files, f"no file matches {pattern}"
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"a password setting is stored in {path.name}"


def actionkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def sweep_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an actionkit command and check neither of its outputs shows a secret."""
    result = actionkit(*args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    assert_hidden(result.stdout, f"the stdout of actionkit {' '.join(args)}")
    assert_hidden(result.stderr, f"the stderr of actionkit {' '.join(args)}")
    return result


def test_the_library_shows_no_password_setting(
    tmp_path: Path, api: EchoApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    instance = load_instance(instance_document(api.url))
    store = tmp_path / "dead-letters.sqlite"
    with Router([instance], dead_letters=store, retry=FAST_RETRY) as router:
        deliveries = [delivery for event in EVENTS for delivery in router.route(event)]
        plans = [plan for event in EVENTS for plan in instance.plan(event)]
    assert api.got_the_secrets()
    outcomes = {delivery.message_id: delivery.outcome for delivery in deliveries}
    assert outcomes == {
        "m1": "delivered",
        "m2": "dead_lettered",
        "m3": "dead_lettered",
        "m4": "not_subscribed",
        "m5": "dead_lettered",
    }
    codes = {delivery.message_id: delivery.error_code for delivery in deliveries}
    assert (codes["m2"], codes["m3"], codes["m5"]) == (
        "INTEGRATION_ERROR",
        "RETRYABLE_ERROR",
        "INTEGRATION_ERROR",
    )
    # The answers echo the request, so the response and error message held the secrets.
    assert all(delivery.response for delivery in deliveries if delivery.message_id != "m4")
    assert_hidden(json.dumps([d.to_dict() for d in deliveries]), "Delivery.to_dict()")
    assert_hidden(repr(deliveries), "repr(Delivery)")
    assert_hidden(str([d.error_message for d in deliveries]), "a delivery's error message")
    assert_hidden(json.dumps([p.to_dict() for p in plans]), "Planned.to_dict()")
    assert_hidden(repr(plans) + repr(instance), "repr(Planned) or repr(Instance)")
    assert_hidden(json.dumps(instance.redacted_settings()), "Instance.redacted_settings()")
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert_hidden(caplog.text, "the log")
    assert_hidden(
        " ".join(str(record.args) for record in caplog.records), "the arguments of a log record"
    )
    assert_files_hidden(tmp_path, "dead-letters.sqlite*")


def test_the_command_line_shows_no_password_setting(tmp_path: Path, api: EchoApi) -> None:
    instance = write_instance(tmp_path, api.url)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event) + "\n" for event in EVENTS), encoding="utf-8")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(EVENTS[1]), encoding="utf-8")
    store = str(tmp_path / "dead.sqlite")

    for extra in ([], ["--json"]):
        sweep_command("try", str(instance), str(event), *extra, cwd=tmp_path)
        sweep_command(
            "run", str(events), "--instance", str(instance), "--dry-run", *extra, cwd=tmp_path
        )
    shown = json.loads(
        sweep_command("try", str(instance), str(event), "--json", cwd=tmp_path).stdout
    )
    assert shown["mappings"][0]["batch_key"] == "[REDACTED]"

    # u-fail retries with the default backoff: only the refused event is sent for real here.
    refused = tmp_path / "refused.jsonl"
    refused.write_text(json.dumps(EVENTS[0]) + "\n" + json.dumps(EVENTS[1]) + "\n", "utf-8")
    ran = sweep_command(
        "run",
        str(refused),
        "--instance",
        str(instance),
        "--dead-letters",
        store,
        "--json",
        cwd=tmp_path,
    )
    assert ran.returncode == 1, ran.stderr
    assert api.got_the_secrets()
    deliveries = json.loads(ran.stdout)["deliveries"]
    assert {d["outcome"] for d in deliveries} == {"delivered", "dead_lettered"}
    sweep_command(
        "run", str(refused), "--instance", str(instance), "--dead-letters", store, cwd=tmp_path
    )

    listed = json.loads(
        sweep_command("dlq", "list", "--store", store, "--json", cwd=tmp_path).stdout
    )
    assert listed, "nothing was dead-lettered"
    sweep_command("dlq", "list", "--store", store, cwd=tmp_path)
    for letter in listed:
        for extra in ([], ["--json"]):
            sweep_command("dlq", "show", str(letter["id"]), "--store", store, *extra, cwd=tmp_path)
    assert_files_hidden(tmp_path, "dead.sqlite*")


def test_a_sync_its_run_history_and_the_debugger_show_no_password_setting(
    tmp_path: Path, api: EchoApi
) -> None:
    write_instance(tmp_path, api.url)
    (tmp_path / "users.csv").write_text("id,user_uid,plan\n1,u-ok,pro\n2,u-reject,x\n", "utf-8")
    sync = tmp_path / "users.sync.yaml"
    sync.write_text(
        yaml.safe_dump(
            {
                "name": "users",
                "source": {"csv": "users.csv"},
                "primaryKey": "id",
                "userUid": "user_uid",
                "fields": {"plan": "plan"},
                "destination": "vault.yaml",
                "state": "state.sqlite",
                "history": "history.sqlite",
                "deadLetters": "dead.sqlite",
            }
        ),
        encoding="utf-8",
    )
    for extra in (["--dry-run"], ["--dry-run", "--json"], [], ["--json"]):
        sweep_command("sync", str(sync), *extra, cwd=tmp_path)
    assert api.got_the_secrets()
    history = tmp_path / "history.sqlite"
    runs = json.loads(
        sweep_command("runs", "--history", str(history), "--json", cwd=tmp_path).stdout
    )
    run_ids = [run["id"] for run in runs]
    assert run_ids
    sweep_command("runs", "--history", str(history), cwd=tmp_path)
    for run_id in run_ids:
        for extra in ([], ["--json"]):
            sweep_command(
                "runs", "show", str(run_id), "--history", str(history), *extra, cwd=tmp_path
            )
    assert_files_hidden(tmp_path, "history.sqlite*")
    assert_files_hidden(tmp_path, "dead.sqlite*")

    from framework.debugger import create_app

    with serving(create_app(history)) as url:
        answers = [httpx.get(f"{url}/api/runs").text]
        calls = []
        for run_id in run_ids:
            answer = httpx.get(f"{url}/api/runs/{run_id}")
            answers.append(answer.text)
            calls.extend(call["id"] for call in answer.json()["calls"])
        assert calls, "the history kept no call"
        answers.extend(httpx.get(f"{url}/api/calls/{call}").text for call in calls)
    assert "[REDACTED]" in "".join(answers)
    assert_hidden("\n".join(answers), "the debugger's API")


def test_the_ingestion_server_shows_no_password_setting(
    tmp_path: Path, api: EchoApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    write_instance(tmp_path, api.url)
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "instances": ["vault.yaml"],
                "writeKeys": {WRITE_KEY: ["vault"]},
                "queue": {"path": "queue.sqlite"},
                "deadLetters": "dead.sqlite",
            }
        ),
        encoding="utf-8",
    )
    app = create_embedded_app(load_server_config(config), retry=FAST_RETRY)
    answers = []
    with serving(app) as url:
        for event in EVENTS:
            answer = httpx.post(
                f"{url}/v1/{event['type']}", json=event, auth=(WRITE_KEY, ""), timeout=10
            )
            assert answer.status_code == 200, answer.text
            answers.append(answer.text)
        wait_for_deliveries(url, 3)
        answers.extend(httpx.get(f"{url}/{path}").text for path in ("metrics", "health"))
    assert api.got_the_secrets()
    assert_hidden("\n".join(answers), "the server's answers or /metrics")
    assert_hidden(caplog.text, "the server's log")
    assert_files_hidden(tmp_path, "dead.sqlite*")
    assert_files_hidden(tmp_path, "queue.sqlite*")


def wait_for_deliveries(url: str, count: int) -> None:
    """Wait until the server has settled ``count`` deliveries (by its own /metrics)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        metrics = httpx.get(f"{url}/metrics").text
        settled = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("actionkit_deliveries_total{") and "not_subscribed" not in line
        )
        if settled >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the server settled {settled} deliveries, not {count}")
        time.sleep(0.02)
