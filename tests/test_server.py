"""The ingestion server: Segment's HTTP Tracking API, its limits, and the embedded queue."""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import json
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from framework import RetryPolicy
from framework.emulators import ContentstackEmulator
from framework.errors import DefinitionError
from framework.queue import Entry
from framework.queue.sqlite import SqliteQueue
from framework.server import create_app, create_embedded_app, load_server_config
from framework.server.app import IngestionApp
from tests.server_helpers import (
    PROJECT,
    WRITE_KEY,
    dead_url,
    server_config,
    serving,
    wait_until,
)

with warnings.catch_warnings():
    # Starlette 1.x would rather its TestClient ran on httpx2, which is not installed; the
    # httpx one it falls back to works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def basic(key: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic(WRITE_KEY)


def track(user: str = "u1", name: str = "Signed Up", **fields: Any) -> dict[str, Any]:
    return {"userId": user, "event": name, **fields}


@dataclass
class Harness:
    client: TestClient
    queue: SqliteQueue
    app: IngestionApp

    def queued(self) -> list[Entry]:
        result: list[Entry] = self.client.portal.call(
            functools.partial(self.queue.take, 10_000, block=0)
        )
        return result

    def events(self) -> list[dict[str, Any]]:
        return [entry.item.event for entry in self.queued()]


@pytest.fixture
def harness(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    options = getattr(request, "param", {})
    config = server_config(tmp_path, "http://127.0.0.1:9", **options.get("config", {}))
    queue = SqliteQueue(tmp_path / "q.sqlite", **options.get("queue", {}))

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    app = create_app(config, queue, lifespan=closing)
    with TestClient(app) as client:
        yield Harness(client, queue, app)


# -- write keys ------------------------------------------------------------------------


def test_a_track_call_with_basic_auth_is_queued_with_its_routes(harness: Harness) -> None:
    answer = harness.client.post("/v1/track", json=track(), headers=AUTH)
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    [entry] = harness.queued()
    assert entry.item.instances == ("personalize",)
    event = entry.item.event
    assert (event["type"], event["userId"], event["event"]) == ("track", "u1", "Signed Up")
    assert uuid.UUID(event["messageId"]).version == 4
    assert ISO_MS.match(event["receivedAt"])


def test_a_write_key_in_the_body_is_accepted_and_never_queued(harness: Harness) -> None:
    answer = harness.client.post("/v1/identify", json={"userId": "u1", "writeKey": WRITE_KEY})
    assert answer.status_code == 200
    [event] = harness.events()
    assert "writeKey" not in event
    assert event["type"] == "identify"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (basic("wrong"), track()),
        ({}, track()),
        ({}, {**track(), "writeKey": "wrong"}),
        ({"Authorization": "Bearer " + WRITE_KEY}, track()),
        ({"Authorization": "Basic !!!"}, track()),
    ],
    ids=["wrong-basic", "none", "wrong-body", "not-basic", "bad-base64"],
)
def test_a_wrong_or_missing_write_key_is_401_and_nothing_is_queued(
    harness: Harness, headers: dict[str, str], body: dict[str, Any]
) -> None:
    answer = harness.client.post("/v1/track", json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert harness.queued() == []


# -- event shapes ----------------------------------------------------------------------


def test_a_body_type_that_disagrees_with_the_path_is_400(harness: Harness) -> None:
    answer = harness.client.post("/v1/track", json={**track(), "type": "page"}, headers=AUTH)
    assert answer.status_code == 400
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/type"]
    assert harness.queued() == []


def test_a_body_type_that_agrees_with_the_path_is_accepted(harness: Harness) -> None:
    answer = harness.client.post("/v1/track", json={**track(), "type": "track"}, headers=AUTH)
    assert answer.status_code == 200


def test_an_event_that_is_not_a_segment_event_is_400_with_errors_by_pointer(
    harness: Harness,
) -> None:
    answer = harness.client.post(
        "/v1/track", json={"event": "", "properties": [], "userId": None}, headers=AUTH
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "EVENT_INVALID"
    found = {(e["pointer"], e["code"]) for e in body["errors"]}
    assert found == {
        ("/event", "EMPTY"),
        ("/properties", "WRONG_TYPE"),
        ("/userId", "MISSING_IDENTITY"),
    }
    assert harness.queued() == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"userId": NaN}', b"[1, 2]", b"\xff\xfe", b"[" * 100_000],
    ids=["syntax", "nan", "array", "not-utf8", "deep"],
)
def test_a_body_that_is_not_a_json_object_is_400(harness: Harness, content: bytes) -> None:
    answer = harness.client.post(
        "/v1/batch", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_JSON"
    assert harness.queued() == []


def test_a_given_message_id_and_timestamp_are_kept_without_sent_at(harness: Harness) -> None:
    event = track(messageId="m-1", timestamp="2024-05-01T12:00:00Z")
    assert harness.client.post("/v1/track", json=event, headers=AUTH).status_code == 200
    [queued] = harness.events()
    assert (queued["messageId"], queued["timestamp"]) == ("m-1", "2024-05-01T12:00:00Z")
    assert "originalTimestamp" not in queued


def test_timestamp_is_corrected_for_the_clients_clock_skew_from_sent_at(
    harness: Harness,
) -> None:
    # The client's clock is an hour behind: it stamped the event 2 s before sending it.
    event = track(timestamp="2024-05-01T10:00:00.000Z", sentAt="2024-05-01T10:00:02.000Z")
    before = datetime.now(UTC)
    assert harness.client.post("/v1/track", json=event, headers=AUTH).status_code == 200
    [queued] = harness.events()
    received = datetime.fromisoformat(queued["receivedAt"])
    corrected = datetime.fromisoformat(queued["timestamp"])
    assert queued["originalTimestamp"] == "2024-05-01T10:00:00.000Z"
    assert queued["sentAt"] == "2024-05-01T10:00:02.000Z"
    assert (received - corrected).total_seconds() == pytest.approx(2.0, abs=0.002)
    assert received >= before.replace(microsecond=before.microsecond // 1000 * 1000)


def test_an_event_without_timestamp_gets_received_at(harness: Harness) -> None:
    assert harness.client.post("/v1/page", json={"anonymousId": "a"}, headers=AUTH).is_success
    [queued] = harness.events()
    assert queued["timestamp"] == queued["receivedAt"]


# -- batch -----------------------------------------------------------------------------


def test_a_batch_shares_its_context_integrations_and_sent_at_with_each_event(
    harness: Harness,
) -> None:
    body = {
        "batch": [
            {"type": "track", **track(name="A"), "context": {"locale": "fr"}},
            {"type": "identify", "userId": "u2", "integrations": {"All": False}},
        ],
        "context": {"locale": "en", "library": {"name": "analytics-python"}},
        "integrations": {"All": True, "Amplitude": False},
        "sentAt": "2024-05-01T10:00:02Z",
    }
    answer = harness.client.post("/v1/batch", json=body, headers=AUTH)
    assert answer.status_code == 200
    first, second = harness.events()
    assert first["context"] == {"locale": "fr", "library": {"name": "analytics-python"}}
    assert second["context"] == body["context"]
    assert first["integrations"] == {"All": True, "Amplitude": False}
    assert second["integrations"] == {"All": False, "Amplitude": False}
    assert {first["sentAt"], second["sentAt"]} == {"2024-05-01T10:00:02Z"}
    assert len({first["messageId"], second["messageId"]}) == 2


def test_import_is_an_alias_of_batch(harness: Harness) -> None:
    body = {"batch": [{"type": "track", **track()}]}
    assert harness.client.post("/v1/import", json=body, headers=AUTH).status_code == 200
    assert len(harness.events()) == 1


def test_a_batch_with_one_bad_event_is_refused_whole(harness: Harness) -> None:
    body = {
        "batch": [
            {"type": "track", **track()},
            {"type": "track", "event": "No user"},
            {"type": "nope", "userId": "u"},
            "not an event",
        ]
    }
    answer = harness.client.post("/v1/batch", json=body, headers=AUTH)
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["message"].startswith("3 events are refused")
    assert {(e["pointer"], e["code"]) for e in payload["errors"]} == {
        ("/batch/1/userId", "MISSING_IDENTITY"),
        ("/batch/2/type", "UNKNOWN_TYPE"),
        ("/batch/3", "NOT_AN_OBJECT"),
    }
    assert harness.queued() == []


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"batch": {}}, {"batch": [], "context": []}, {"batch": [], "sentAt": "x"}],
    ids=["no-batch", "not-array", "bad-context", "bad-sent-at"],
)
def test_a_malformed_batch_body_is_400(harness: Harness, body: dict[str, Any]) -> None:
    answer = harness.client.post("/v1/batch", json=body, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["code"] == "EVENT_INVALID"


def test_an_empty_batch_is_accepted_with_nothing_queued(harness: Harness) -> None:
    answer = harness.client.post("/v1/batch", json={"batch": []}, headers=AUTH)
    assert answer.status_code == 200
    assert harness.queued() == []


# -- limits ----------------------------------------------------------------------------


def test_an_event_over_32_kb_is_400_and_its_batch_is_not_queued(harness: Harness) -> None:
    big = {"type": "track", **track(), "properties": {"blob": "x" * 33_000}}
    body = {"batch": [{"type": "track", **track()}, big]}
    answer = harness.client.post("/v1/batch", json=body, headers=AUTH)
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["code"] == "EVENT_TOO_LARGE"
    assert [e["pointer"] for e in payload["errors"]] == ["/batch/1"]
    assert harness.queued() == []


def test_a_single_call_body_over_32_kb_is_400(harness: Harness) -> None:
    event = track(properties={"blob": "x" * 33_000})
    answer = harness.client.post("/v1/track", json=event, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BODY_TOO_LARGE"


def test_a_batch_body_over_500_kb_is_400(harness: Harness) -> None:
    events = [{"type": "track", **track(properties={"blob": "x" * 20_000})} for _ in range(30)]
    answer = harness.client.post("/v1/batch", json={"batch": events}, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BODY_TOO_LARGE"
    assert "512000 bytes" in answer.json()["message"]
    assert harness.queued() == []


def test_a_body_streamed_without_length_is_cut_at_the_limit(harness: Harness) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"batch": ["'
        for _ in range(100):  # 6.4 MB if read to the end
            sent.append(1)
            yield b"x" * 64_000
        yield b'"]}'

    answer = harness.client.post("/v1/batch", content=chunks(), headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize("harness", [{"config": {"limits": {"maxBatchEvents": 3}}}], indirect=True)
def test_a_batch_over_the_event_count_limit_is_400(harness: Harness) -> None:
    body = {"batch": [{"type": "track", **track()} for _ in range(4)]}
    answer = harness.client.post("/v1/batch", json=body, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BATCH_TOO_LARGE"


def test_a_gzip_body_is_accepted(harness: Harness) -> None:
    content = gzip.compress(json.dumps({"batch": [{"type": "track", **track()}]}).encode())
    answer = harness.client.post(
        "/v1/batch", content=content, headers={**AUTH, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 200
    assert len(harness.events()) == 1


def test_a_gzip_body_that_inflates_past_the_limit_is_400(harness: Harness) -> None:
    content = gzip.compress(b'{"batch": ["' + b" " * 5_000_000 + b'"]}')
    assert len(content) < 512_000
    answer = harness.client.post(
        "/v1/batch", content=content, headers={**AUTH, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "BODY_TOO_LARGE"


def test_a_corrupt_gzip_body_is_400(harness: Harness) -> None:
    answer = harness.client.post(
        "/v1/track", content=b"\x1f\x8b garbage", headers={**AUTH, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_GZIP"


# -- the queue -------------------------------------------------------------------------


@pytest.mark.parametrize("harness", [{"queue": {"max_length": 2}}], indirect=True)
def test_a_full_queue_is_503_with_retry_after_and_nothing_queued(harness: Harness) -> None:
    body = {"batch": [{"type": "track", **track(name=f"E{i}")} for i in range(2)]}
    assert harness.client.post("/v1/batch", json=body, headers=AUTH).status_code == 200
    answer = harness.client.post("/v1/track", json=track(name="E2"), headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["code"] == "QUEUE_FULL"
    assert int(answer.headers["retry-after"]) >= 1
    assert [event["event"] for event in harness.events()] == ["E0", "E1"]


def test_an_unusable_queue_is_503_and_health_says_so(harness: Harness) -> None:
    health = harness.client.get("/health").json()
    assert (health["status"], health["queue_depth"], health["queue_waiting"]) == ("ok", 0, 0)
    harness.client.portal.call(harness.queue.close)
    answer = harness.client.post("/v1/track", json=track(), headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["code"] == "QUEUE_FAILED"
    health = harness.client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"


def test_health_reports_the_queue_depth(harness: Harness) -> None:
    body = {"batch": [{"type": "track", **track()} for _ in range(3)]}
    harness.client.post("/v1/batch", json=body, headers=AUTH)
    health = harness.client.get("/health").json()
    assert health == {"status": "ok", "queue_depth": 3, "queue_waiting": 0}


def test_metrics_count_requests_and_accepted_events_per_app(harness: Harness) -> None:
    harness.client.post("/v1/track", json=track(), headers=AUTH)
    harness.client.post("/v1/track", json=track(), headers=basic("wrong"))
    harness.client.post(
        "/v1/batch", json={"batch": [{"type": "page", "userId": "u"}]}, headers=AUTH
    )
    answer = harness.client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert 'actionkit_http_requests_total{endpoint="track",status="200"} 1.0' in text
    assert 'actionkit_http_requests_total{endpoint="track",status="401"} 1.0' in text
    assert 'actionkit_events_accepted_total{type="page"} 1.0' in text
    assert "actionkit_queue_depth 2.0" in text
    other = create_app(harness.app.state.config, harness.queue)
    assert 'endpoint="track"' not in TestClient(other).get("/metrics").text


def test_unknown_paths_and_methods_answer_json(harness: Harness) -> None:
    missing = harness.client.post("/v1/unknown", json={}, headers=AUTH)
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    wrong = harness.client.get("/v1/track")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "METHOD_NOT_ALLOWED")


def test_the_app_mounted_under_a_root_path_still_takes_events(tmp_path: Path) -> None:
    # A root path sends the tracking endpoints through Starlette's routing, not the direct
    # dispatch: the same handler answers.
    queue = SqliteQueue(tmp_path / "q.sqlite")
    app = create_app(server_config(tmp_path, "http://127.0.0.1:9"), queue)
    with TestClient(app, root_path="/ingest") as client:
        answer = client.post("/ingest/v1/track", json=track(), headers=AUTH)
        assert (answer.status_code, answer.json()) == (200, {"success": True})
        wrong = client.get("/ingest/v1/track")
        assert wrong.status_code == 405
        entries = client.portal.call(functools.partial(queue.take, 10, block=0))
        assert [entry.item.event["event"] for entry in entries] == ["Signed Up"]
        client.portal.call(queue.close)


@pytest.mark.parametrize("how", ["lifespan", "router"])
def test_the_app_runs_in_process_inside_its_lifespan(tmp_path: Path, how: str) -> None:
    started: list[str] = []

    @asynccontextmanager
    async def noting(app: Starlette) -> AsyncIterator[None]:
        started.append("start")
        yield
        started.append("stop")

    queue = SqliteQueue(tmp_path / "q.sqlite")
    app = create_app(server_config(tmp_path, "http://127.0.0.1:9"), queue, lifespan=noting)

    async def run() -> int:
        context = app.lifespan() if how == "lifespan" else app.router.lifespan_context(app)
        async with context:
            assert started == ["start"]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                answer = await client.post("/v1/track", json=track(), auth=(WRITE_KEY, ""))
        await queue.close()
        return answer.status_code

    assert asyncio.run(run()) == 200
    assert started == ["start", "stop"]


# -- end to end: real HTTP, the embedded queue, the router, the emulator ---------------


def post_like_analytics_python(url: str, batch: list[dict[str, Any]]) -> httpx.Response:
    """What analytics-python's ``request.post`` sends: a batch, sentAt, Basic auth, gzip."""
    now = datetime.now(UTC).isoformat()
    for event in batch:
        event.setdefault("timestamp", now)
        event.setdefault("messageId", str(uuid.uuid4()))
        event.setdefault("context", {"library": {"name": "analytics-python", "version": "2.3"}})
    body = json.dumps({"batch": batch, "sentAt": now}).encode()
    return httpx.post(
        f"{url}/v1/batch",
        content=gzip.compress(body),
        auth=(WRITE_KEY, ""),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": "analytics-python/2.3.3",
        },
        timeout=10,
    )


def users(api: ContentstackEmulator) -> dict[str, Any]:
    projects = api.state()["projects"]
    return dict(projects.get(PROJECT, {}).get("users", {}))


def test_events_posted_like_analytics_python_reach_the_emulator(tmp_path: Path) -> None:
    with ContentstackEmulator() as api:
        config = server_config(tmp_path, api.url)
        app = create_embedded_app(config)
        with serving(app) as url:
            batch = [{"type": "track", "userId": "u1", "event": f"Step {i}"} for i in range(5)] + [
                {"type": "identify", "userId": "u2", "traits": {"plan": "pro"}},
                {"type": "track", "userId": "u2", "event": "Upgraded"},
            ]
            answer = post_like_analytics_python(url, batch)
            assert (answer.status_code, answer.json()) == (200, {"success": True})
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
            metrics = httpx.get(f"{url}/metrics").text
        state = users(api)
    assert [e["eventKey"] for e in state["u1"]["events"]] == [f"Step {i}" for i in range(5)]
    assert [e["eventKey"] for e in state["u2"]["events"]] == ["Upgraded"]
    assert state["u2"]["attributes"] == {"plan": "pro"}
    assert 'actionkit_deliveries_total{instance="personalize",outcome="delivered"} 7.0' in metrics
    assert "actionkit_event_latency_seconds_count 7.0" in metrics


def test_a_restart_loses_nothing_answered_200(tmp_path: Path) -> None:
    # First life: the destination is down, so deliveries retry and nothing is acked.
    down = server_config(tmp_path, dead_url())
    retrying = RetryPolicy(max_attempts=500, base_delay=0.01, max_delay=0.05, deadline=600)
    app = create_embedded_app(down, retry=retrying, shutdown_grace=0.2)
    with serving(app) as url:
        for n in range(3):
            batch = [{"type": "track", "userId": f"u{n}", "event": f"E{i}"} for i in range(4)]
            assert post_like_analytics_python(url, batch).status_code == 200
        assert httpx.get(f"{url}/health").json()["queue_depth"] == 12
    # Second life, on the same queue file, with the destination up.
    with ContentstackEmulator() as api:
        up = server_config(tmp_path, api.url)
        with serving(create_embedded_app(up)) as url:
            wait_until(lambda: httpx.get(f"{url}/health").json()["queue_depth"] == 0)
        state = users(api)
    for n in range(3):
        assert [e["eventKey"] for e in state[f"u{n}"]["events"]] == [f"E{i}" for i in range(4)]


def test_the_embedded_app_refuses_to_start_on_a_queue_file_in_use(tmp_path: Path) -> None:
    config = server_config(tmp_path, dead_url())

    async def scenario() -> None:
        async with SqliteQueue(config.queue_path) as holder:
            await holder.depth()
            app = create_embedded_app(config)
            with pytest.raises(RuntimeError, match="did not start"):
                await asyncio.to_thread(_start, app)

    def _start(app: Starlette) -> None:
        with serving(app):
            pass

    asyncio.run(scenario())


# -- the configuration file ------------------------------------------------------------


def test_the_example_configuration_loads() -> None:
    config = load_server_config(Path(__file__).parent.parent / "examples" / "server.yaml")
    assert [instance.name for instance in config.instances] == ["personalize-example"]
    assert config.routes("example-write-key") == ("personalize-example",)
    assert config.routes("other") is None
    assert config.limits.max_batch_bytes == 500 * 1024
    assert "example-write-key" not in repr(config)


def test_a_write_key_routing_to_an_unknown_instance_is_refused_without_the_key(
    tmp_path: Path,
) -> None:
    server_config(tmp_path, "http://127.0.0.1:9")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "instances: [personalize.yaml]\n"
        "writeKeys:\n"
        "  secret-key-1: [personalize]\n"
        "  secret-key-2: [nowhere]\n"
        "  secret-key-3: not-a-list\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as caught:
        load_server_config(path)
    problems = caught.value.problems
    assert {(p.pointer, p.line) for p in problems} == {("/writeKeys", 5)}
    assert "secret-key" not in str(caught.value)


def test_unknown_instance_names_are_refused_with_their_line(tmp_path: Path) -> None:
    server_config(tmp_path, "http://127.0.0.1:9")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "instances: [personalize.yaml]\nwriteKeys:\n  k1: [personalize]\n  k2: [nowhere]\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as caught:
        load_server_config(path)
    [problem] = caught.value.problems
    assert (problem.pointer, problem.code, problem.line) == ("/writeKeys", "UNKNOWN_INSTANCE", 4)
    assert "'nowhere'" in problem.message


def test_an_instance_file_that_does_not_load_is_reported_at_its_entry(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_server_config(
            {"instances": ["missing.yaml"], "writeKeys": {"k": ["x"]}}, base_dir=tmp_path
        )
    pointers = {p.pointer for p in caught.value.problems}
    assert "/instances/0" in pointers
