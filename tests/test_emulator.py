"""The Personalize Edge emulator over real HTTP on loopback: answers, state, faults, the CLI."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.emulators import (
    ContentstackEmulator,
    EmulatorServer,
    Fault,
    Request,
    Response,
)
from framework.emulators.contentstack import check_attributes, check_events, check_merge

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "project-1"
HEADERS = {"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "user-1"}


def event(key: str) -> dict[str, str]:
    return {"type": "EVENT", "eventKey": key}


@pytest.fixture(scope="module")
def shared() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def shared_client(shared: ContentstackEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared.url, timeout=5) as client:
        yield client


@pytest.fixture
def emulator(shared: ContentstackEmulator) -> ContentstackEmulator:
    shared.reset()
    return shared


@pytest.fixture
def client(emulator: ContentstackEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=5) as client:
        yield client


def users(emulator: EmulatorServer, project: str = PROJECT) -> dict[str, Any]:
    found: dict[str, Any] = emulator.state()["projects"][project]["users"]
    return found


# Success answers and state


def test_events_are_appended_per_user_in_arrival_order(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    first = client.post("/events", json=[event("a"), event("b")], headers=HEADERS)
    second = client.post("/events", json=[event("c")], headers=HEADERS)
    other = client.post(
        "/events", json=[event("z")], headers={**HEADERS, "x-cs-personalize-user-uid": "user-2"}
    )
    assert [first.status_code, second.status_code, other.status_code] == [200, 200, 200]
    assert first.json() == {"message": "Events triggered successfully"}
    assert users(emulator) == {
        "user-1": {"attributes": {}, "events": [event("a"), event("b"), event("c")]},
        "user-2": {"attributes": {}, "events": [event("z")]},
    }


def test_impression_events_are_accepted_with_their_short_uids(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    impression = {"type": "IMPRESSION", "experienceShortUid": "0", "variantShortUid": "1"}
    response = client.post("/events", json=[impression, event("a")], headers=HEADERS)
    assert response.status_code == 200
    assert users(emulator)["user-1"]["events"] == [impression, event("a")]


def test_attributes_are_merged_and_the_later_value_wins(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    client.patch("/user-attributes", json={"plan": "free", "age": 30}, headers=HEADERS)
    response = client.patch(
        "/user-attributes", json={"plan": "pro", "tags": ["a"], "gone": None}, headers=HEADERS
    )
    assert response.status_code == 200
    assert response.json() == {"message": "User Attributes added successfully"}
    assert users(emulator)["user-1"]["attributes"] == {
        "plan": "pro",
        "age": 30,
        "tags": ["a"],
        "gone": None,
    }


def test_empty_events_and_attributes_succeed_without_creating_a_user(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    assert client.patch("/user-attributes", json={}, headers=HEADERS).status_code == 200
    assert emulator.state()["projects"] == {}


def test_merge_moves_the_source_user_into_the_target_and_source_attributes_win(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    anonymous = {**HEADERS, "x-cs-personalize-user-uid": "anon"}
    client.post("/events", json=[event("seen")], headers=anonymous)
    client.post("/events", json=[event("login")], headers=HEADERS)
    client.post("/events", json=[event("browse")], headers=anonymous)
    client.patch("/user-attributes", json={"plan": "trial", "color": "red"}, headers=anonymous)
    client.patch("/user-attributes", json={"plan": "pro", "age": 30}, headers=HEADERS)
    response = client.post(
        "/user-attributes/actions/merge",
        json={"sourceUserUid": "anon", "targetUserUid": "user-1"},
        headers={"x-project-uid": PROJECT},
    )
    assert response.status_code == 200
    assert response.json() == {"message": "User Attributes merged successfully"}
    project = emulator.state()["projects"][PROJECT]
    assert project["users"] == {
        "user-1": {
            "attributes": {"plan": "trial", "color": "red", "age": 30},
            "events": [event("seen"), event("login"), event("browse")],
        }
    }
    assert project["merges"] == [{"sourceUserUid": "anon", "targetUserUid": "user-1"}]


def test_merge_into_a_new_target_creates_it_and_a_merged_source_starts_afresh(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    anonymous = {**HEADERS, "x-cs-personalize-user-uid": "anon"}
    client.post("/events", json=[event("seen")], headers=anonymous)
    merge = {"sourceUserUid": "anon", "targetUserUid": "known"}
    client.post("/user-attributes/actions/merge", json=merge, headers=HEADERS)
    client.post("/events", json=[event("again")], headers=anonymous)
    assert users(emulator) == {
        "known": {"attributes": {}, "events": [event("seen")]},
        "anon": {"attributes": {}, "events": [event("again")]},
    }


@pytest.mark.parametrize(
    ("source", "target"), [("user-1", "user-1"), ("nobody", "user-1")], ids=["self", "unknown"]
)
def test_merge_that_moves_nothing_is_recorded_and_changes_no_user(
    client: httpx.Client, emulator: ContentstackEmulator, source: str, target: str
) -> None:
    client.patch("/user-attributes", json={"plan": "pro"}, headers=HEADERS)
    merge = {"sourceUserUid": source, "targetUserUid": target}
    response = client.post("/user-attributes/actions/merge", json=merge, headers=HEADERS)
    assert response.status_code == 200
    project = emulator.state()["projects"][PROJECT]
    assert project["users"] == {"user-1": {"attributes": {"plan": "pro"}, "events": []}}
    assert project["merges"] == [merge]


def test_projects_are_kept_apart(client: httpx.Client, emulator: ContentstackEmulator) -> None:
    client.post("/events", json=[event("a")], headers=HEADERS)
    client.post("/events", json=[event("b")], headers={**HEADERS, "x-project-uid": "project-2"})
    projects = emulator.state()["projects"]
    assert projects[PROJECT]["users"]["user-1"]["events"] == [event("a")]
    assert projects["project-2"]["users"]["user-1"]["events"] == [event("b")]


def test_state_is_a_copy_that_callers_cannot_change(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    client.patch("/user-attributes", json={"address": {"city": "Oslo"}}, headers=HEADERS)
    users(emulator)["user-1"]["attributes"]["address"]["city"] = "Bergen"
    assert users(emulator)["user-1"]["attributes"] == {"address": {"city": "Oslo"}}


def test_counters_count_answers_by_path_and_status(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    client.post("/events", json=[event("a")], headers=HEADERS)
    client.post("/events", json={"not": "a list"}, headers=HEADERS)
    client.post("/events", json=[event("a")], headers=HEADERS)
    client.get("/profiles")
    assert emulator.state()["counters"] == {
        "/events": {"200": 2, "400": 1},
        "/profiles": {"404": 1},
    }


# Refused requests: a table of cases. Each changes no state.

JSON = {"content-type": "application/json"}
REFUSED: list[tuple[str, str, str, dict[str, str], bytes, int, str, list[str]]] = [
    # id, method, path, headers, body, status, code, error pointers
    ("no-project-header", "POST", "/events", {"x-cs-personalize-user-uid": "u", **JSON},
     b'[{"type":"EVENT","eventKey":"a"}]', 400, "MISSING_PROJECT_UID", []),
    ("empty-project-header", "PATCH", "/user-attributes",
     {"x-project-uid": "", "x-cs-personalize-user-uid": "u", **JSON}, b"{}", 400,
     "MISSING_PROJECT_UID", []),
    ("merge-without-project", "POST", "/user-attributes/actions/merge", JSON,
     b'{"sourceUserUid":"a","targetUserUid":"b"}', 400, "MISSING_PROJECT_UID", []),
    ("events-without-user", "POST", "/events", {"x-project-uid": PROJECT, **JSON},
     b'[{"type":"EVENT","eventKey":"a"}]', 400, "MISSING_USER_UID", []),
    ("attributes-without-user", "PATCH", "/user-attributes",
     {"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "", **JSON}, b'{"a":1}', 400,
     "MISSING_USER_UID", []),
    ("form-content-type", "POST", "/events",
     {**HEADERS, "content-type": "application/x-www-form-urlencoded"},
     b'[{"type":"EVENT","eventKey":"a"}]', 415, "UNSUPPORTED_MEDIA_TYPE", []),
    ("xml-content-type", "PATCH", "/user-attributes", {**HEADERS, "content-type": "text/xml"},
     b'{"a":1}', 415, "UNSUPPORTED_MEDIA_TYPE", []),
    ("body-not-json", "POST", "/events", {**HEADERS, **JSON}, b"[{", 400, "INVALID_JSON", []),
    ("body-not-utf8", "PATCH", "/user-attributes", {**HEADERS, **JSON}, b"\xff\xfe", 400,
     "INVALID_JSON", []),
    ("body-with-nan", "PATCH", "/user-attributes", {**HEADERS, **JSON}, b'{"a":NaN}', 400,
     "INVALID_JSON", []),
    ("body-nested-too-deeply", "PATCH", "/user-attributes", {**HEADERS, **JSON},
     b'{"a":' + b"[" * 100 + b"]" * 100 + b"}", 400, "INVALID_JSON", []),
    ("body-nested-past-the-parser", "POST", "/events", {**HEADERS, **JSON},
     b"[" * 50_000 + b"]" * 50_000, 400, "INVALID_JSON", []),
    ("events-not-an-array", "POST", "/events", {**HEADERS, **JSON},
     b'{"type":"EVENT","eventKey":"a"}', 400, "INVALID_BODY", [""]),
    ("event-items-all-wrong", "POST", "/events", {**HEADERS, **JSON},
     b'[{"type":"EVENT"},"x",{"type":"event","eventKey":"a"},{"eventKey":"a"},'
     b'{"type":"EVENT","eventKey":""},{"type":"IMPRESSION","experienceShortUid":"0"},'
     b'{"type":"EVENT","eventKey":"ok"}]', 400, "INVALID_BODY",
     ["/0/eventKey", "/1", "/2/type", "/3/type", "/4/eventKey", "/5/variantShortUid"]),
    ("attributes-not-an-object", "PATCH", "/user-attributes", {**HEADERS, **JSON},
     b'[{"a":1}]', 400, "INVALID_BODY", [""]),
    ("attribute-key-empty", "PATCH", "/user-attributes", {**HEADERS, **JSON},
     b'{"":1,"a":2}', 400, "INVALID_BODY", ["/"]),
    ("merge-not-an-object", "POST", "/user-attributes/actions/merge", {**HEADERS, **JSON},
     b'["a","b"]', 400, "INVALID_BODY", [""]),
    ("merge-without-uids", "POST", "/user-attributes/actions/merge", {**HEADERS, **JSON},
     b'{"sourceUserUid":"a","targetUserUid":" "}', 400, "INVALID_BODY", ["/targetUserUid"]),
    ("merge-with-number-uid", "POST", "/user-attributes/actions/merge", {**HEADERS, **JSON},
     b'{"sourceUserUid":7}', 400, "INVALID_BODY", ["/sourceUserUid", "/targetUserUid"]),
    ("unknown-path", "POST", "/event", {**HEADERS, **JSON}, b"[]", 404, "NOT_FOUND", []),
    ("trailing-slash", "POST", "/events/", {**HEADERS, **JSON}, b"[]", 404, "NOT_FOUND", []),
    ("wrong-method-events", "GET", "/events", HEADERS, b"", 405, "METHOD_NOT_ALLOWED", []),
    ("wrong-method-attributes", "POST", "/user-attributes", {**HEADERS, **JSON}, b"{}", 405,
     "METHOD_NOT_ALLOWED", []),
    ("unknown-method", "FROB", "/events", HEADERS, b"", 405, "METHOD_NOT_ALLOWED", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code", "pointers"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_refused_request_gets_a_json_error_and_changes_nothing(
    client: httpx.Client,
    emulator: ContentstackEmulator,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
    pointers: list[str],
) -> None:
    response = client.request(method, path, headers=headers, content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["status"] == status
    assert answer["code"] == code
    assert answer["message"].endswith(".")
    assert [error["pointer"] for error in answer.get("errors", [])] == pointers
    assert emulator.state()["projects"] == {}


def test_wrong_method_names_the_allowed_ones(client: httpx.Client) -> None:
    response = client.delete("/user-attributes/actions/merge", headers=HEADERS)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_head_is_answered_without_a_body(client: httpx.Client) -> None:
    response = client.head("/events", headers=HEADERS)
    assert response.status_code == 405
    assert response.content == b""


def test_defined_events_and_attributes_refuse_other_keys() -> None:
    with (
        ContentstackEmulator(defined_events={"signup"}, defined_attributes={"plan"}) as emulator,
        httpx.Client(base_url=emulator.url) as client,
    ):
        refused = client.post("/events", json=[event("signup"), event("other")], headers=HEADERS)
        assert refused.status_code == 400
        assert refused.json()["code"] == "UNDEFINED_EVENT"
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/1/eventKey"]
        refused = client.patch("/user-attributes", json={"plan": 1, "a/b": 2}, headers=HEADERS)
        assert refused.status_code == 400
        assert refused.json()["code"] == "UNDEFINED_ATTRIBUTE"
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/a~1b"]
        assert emulator.state()["projects"] == {}
        assert client.post("/events", json=[event("signup")], headers=HEADERS).status_code == 200
        assert client.patch("/user-attributes", json={"plan": 1}, headers=HEADERS).is_success


def test_only_the_configured_project_is_served() -> None:
    with (
        ContentstackEmulator(project_uid=PROJECT) as emulator,
        httpx.Client(base_url=emulator.url) as client,
    ):
        other = {**HEADERS, "x-project-uid": "someone-else"}
        refused = client.post("/events", json=[event("a")], headers=other)
        assert refused.status_code == 403
        assert refused.json()["code"] == "UNKNOWN_PROJECT"
        assert client.post("/events", json=[event("a")], headers=HEADERS).status_code == 200
        assert list(emulator.state()["projects"]) == [PROJECT]


# HTTP robustness


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n",
        b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n[]",
    ],
    ids=["bad-request-line", "bad-length", "negative-length", "bad-chunk", "short-body"],
)
def test_malformed_request_gets_400_and_the_server_keeps_serving(
    client: httpx.Client, emulator: ContentstackEmulator, data: bytes
) -> None:
    # The short body only ends when the client closes its side.
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["status"] == 400
    assert client.post("/events", json=[event("a")], headers=HEADERS).status_code == 200


def test_chunked_body_is_read(client: httpx.Client, emulator: ContentstackEmulator) -> None:
    chunks = iter([b'[{"type":"EVENT",', b'"eventKey":"a"}]'])
    response = client.post("/events", content=chunks, headers={**HEADERS, **JSON})
    assert response.status_code == 200
    assert users(emulator)["user-1"]["events"] == [event("a")]


def test_body_over_the_limit_is_refused_with_413(client: httpx.Client) -> None:
    big = b'{"a":"' + b"x" * (1024 * 1024) + b'"}'
    response = client.patch("/user-attributes", content=big, headers={**HEADERS, **JSON})
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


class Exploding:
    """An emulated API with a bug: it fails on every request."""

    def handle(self, request: Request) -> Response:
        raise KeyError(request.path)

    def state(self) -> dict[str, Any]:
        return {}

    def reset(self) -> None:
        pass


def test_a_failing_handler_is_a_logged_500_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        EmulatorServer(Exploding()) as emulator,
        httpx.Client(base_url=emulator.url) as client,
        caplog.at_level(logging.ERROR, logger="framework.emulators"),
    ):
        for _ in range(2):
            response = client.post("/anything", json={})
            assert response.status_code == 500
            assert response.json()["code"] == "EMULATOR_ERROR"
        assert emulator.state()["counters"] == {"/anything": {"500": 2}}
    assert any(record.exc_info for record in caplog.records)


def test_keep_alive_serves_many_requests_on_one_connection(emulator: ContentstackEmulator) -> None:
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    body = json.dumps([event("a")])
    sockets = set()
    for _ in range(5):
        connection.request("POST", "/events", body, {**HEADERS, **JSON})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("connection") is None
        response.read()
        sockets.add(connection.sock)
    connection.close()
    assert len(sockets) == 1
    assert len(users(emulator)["user-1"]["events"]) == 5


def test_stop_closes_idle_keep_alive_connections() -> None:
    emulator = ContentstackEmulator().start()
    client = httpx.Client(base_url=emulator.url, timeout=30)
    try:
        assert client.post("/events", json=[], headers=HEADERS).status_code == 200
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            client.post("/events", json=[], headers=HEADERS)
    finally:
        client.close()
        emulator.stop()


def test_url_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = ContentstackEmulator().url


# Faults


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        (Fault("status", status=429, retry_after=2), 429, "2"),
        (Fault("status", status=429, retry_after=0.25), 429, "0.25"),
        (Fault("status", status=500), 500, None),
        (Fault("status"), 503, None),
        (Fault("status", status=418), 418, None),
    ],
    ids=["429-retry-2s", "429-retry-0.25s", "500", "503-default", "any-code"],
)
def test_status_fault_answers_once_with_a_json_error_and_changes_nothing(
    client: httpx.Client,
    emulator: ContentstackEmulator,
    fault: Fault,
    status: int,
    retry_after: str | None,
) -> None:
    emulator.inject(fault)
    response = client.post("/events", json=[event("lost")], headers=HEADERS)
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    assert response.json() == {
        "message": response.json()["message"],
        "status": status,
        "code": "EMULATED_FAULT",
    }
    assert emulator.state()["projects"] == {}
    assert emulator.requests[-1].fault == "status"
    assert emulator.requests[-1].status == status
    assert client.post("/events", json=[event("kept")], headers=HEADERS).status_code == 200
    assert users(emulator)["user-1"]["events"] == [event("kept")]


def test_faults_apply_in_order_to_their_count_and_path(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(
        Fault("status", count=2, status=500, path="/user-attributes"),
        Fault("status", status=429),
    )
    answers = [
        client.post("/events", json=[], headers=HEADERS).status_code,
        client.patch("/user-attributes", json={}, headers=HEADERS).status_code,
        client.post("/events", json=[], headers=HEADERS).status_code,
        client.patch("/user-attributes", json={}, headers=HEADERS).status_code,
        client.patch("/user-attributes", json={}, headers=HEADERS).status_code,
    ]
    assert answers == [429, 500, 200, 500, 200]


def test_delay_fault_makes_a_short_timeout_client_time_out() -> None:
    with ContentstackEmulator() as emulator, httpx.Client(base_url=emulator.url) as client:
        # Far longer than the client waits, however slow the machine; stopping the emulator
        # ends the delay, so the test does not wait for it.
        emulator.inject(Fault("delay", seconds=600))
        with pytest.raises(httpx.ReadTimeout):
            client.post("/events", json=[event("slow")], headers=HEADERS, timeout=0.1)
        assert client.post("/events", json=[event("a")], headers=HEADERS).status_code == 200
        assert users(emulator)["user-1"]["events"] == [event("a")]


def test_delay_fault_answers_its_status_after_the_delay() -> None:
    with ContentstackEmulator() as emulator, httpx.Client(base_url=emulator.url) as client:
        emulator.inject(Fault("delay", seconds=0.2, status=504))
        started = time.monotonic()
        response = client.post("/events", json=[event("slow")], headers=HEADERS, timeout=60)
        assert time.monotonic() - started >= 0.2  # a lower bound: the delay cannot be shorter
        assert response.status_code == 504
        assert emulator.state()["projects"] == {}


def test_drop_fault_closes_the_connection_without_an_answer(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/events", json=[event("lost")], headers=HEADERS)
    assert client.post("/events", json=[event("a")], headers=HEADERS).status_code == 200
    assert users(emulator)["user-1"]["events"] == [event("a")]
    assert emulator.state()["counters"]["/events"] == {"dropped": 1, "200": 1}
    assert emulator.requests[0].status is None
    assert emulator.requests[0].body == [event("lost")]


def test_an_outage_answers_every_request_and_the_queue_waits_for_its_end(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("status", status=429))
    emulator.inject(Fault("outage", count=3, retry_after=1))
    during = [client.post("/events", json=[], headers=HEADERS) for _ in range(3)]
    assert [r.status_code for r in during] == [503, 503, 503]
    assert {r.headers["retry-after"] for r in during} == {"1"}
    # The queued fault waited for the outage to end.
    assert client.post("/events", json=[], headers=HEADERS).status_code == 429
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    assert emulator.state()["counters"]["/events"] == {"503": 3, "429": 1, "200": 1}


def test_an_outage_of_some_requests_counts_only_the_requests_to_its_path(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("outage", count=1, status=502, path="/user-attributes"))
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    assert client.patch("/user-attributes", json={}, headers=HEADERS).status_code == 502
    assert client.patch("/user-attributes", json={}, headers=HEADERS).status_code == 200


def test_fail_for_answers_every_request_while_it_lasts(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.fail_for(600, retry_after=1)  # far longer than the test; reset() ends it
    during = [client.post("/events", json=[], headers=HEADERS) for _ in range(3)]
    assert [r.status_code for r in during] == [503, 503, 503]
    assert during[0].headers["retry-after"] == "1"
    emulator.reset()
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


def test_fail_for_ends_at_its_deadline_and_the_queue_goes_on(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("status", status=429))
    emulator.fail_for(0.05)
    time.sleep(0.1)  # a lower bound: the outage has certainly ended, however slow the machine
    assert client.post("/events", json=[], headers=HEADERS).status_code == 429
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


@pytest.mark.parametrize("seconds", [0, -1])
def test_fail_for_needs_a_positive_duration(emulator: ContentstackEmulator, seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        emulator.fail_for(seconds)


def test_control_endpoints_are_never_faulted(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.fail_for(5)
    assert client.get("/_emulator/state").status_code == 200
    assert client.post("/_emulator/reset").status_code == 200
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "explode"}, "kind must be one of"),
        ({"kind": "status", "count": 0}, "count"),
        ({"kind": "status", "count": True}, "count"),
        ({"kind": "status", "status": 99}, "status"),
        ({"kind": "status", "status": 600}, "status"),
        ({"kind": "status", "retry_after": -1}, "retry_after"),
        ({"kind": "delay"}, "seconds"),
        ({"kind": "outage", "seconds": -1}, "seconds"),
        ({"kind": "drop", "path": "events"}, "path"),
        ({"kind": "status", "after_effect": True}, "after_effect"),
        ({"kind": "drop", "after_effect": "yes"}, "after_effect"),
    ],
)
def test_fault_refuses_values_out_of_range(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**arguments)


def test_fault_json_round_trips() -> None:
    fault = Fault("status", count=3, status=429, retry_after=1.5, path="/events")
    assert Fault.from_json(fault.to_json()) == fault
    drop = Fault("drop", after_effect=True)
    assert Fault.from_json(drop.to_json()) == drop


# Control endpoints


def test_faults_endpoint_queues_one_fault_or_several(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    queued = client.post("/_emulator/faults", json={"kind": "status", "status": 500})
    assert queued.status_code == 200
    assert queued.json()["queued"][0]["status"] == 500
    several = [{"kind": "status", "status": 502}, {"kind": "drop", "path": "/user-attributes"}]
    assert client.post("/_emulator/faults", json=several).status_code == 200
    assert client.post("/events", json=[], headers=HEADERS).status_code == 500
    assert client.post("/events", json=[], headers=HEADERS).status_code == 502
    with pytest.raises(httpx.RemoteProtocolError):
        client.patch("/user-attributes", json={}, headers=HEADERS)


def test_faults_endpoint_starts_an_outage(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    outage = {"kind": "outage", "count": 2, "status": 502, "retry_after": 3}
    assert client.post("/_emulator/faults", json=outage).status_code == 200
    for _ in range(2):
        response = client.post("/events", json=[], headers=HEADERS)
        assert (response.status_code, response.headers["retry-after"]) == (502, "3")
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    timed = {"kind": "outage", "seconds": 600, "status": 502}  # reset() ends it
    assert client.post("/_emulator/faults", json=timed).status_code == 200
    assert client.post("/events", json=[], headers=HEADERS).status_code == 502
    assert client.post("/_emulator/reset").status_code == 200
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"status": 500}',
        b'{"kind": "status", "status": "500"}',
        b'{"kind": "status", "colour": "red"}',
        b'[{"kind": "status"}, {"kind": "delay"}]',
    ],
)
def test_faults_endpoint_refuses_a_bad_fault_and_queues_none(
    client: httpx.Client, body: bytes
) -> None:
    response = client.post("/_emulator/faults", content=body)
    assert response.status_code == 400
    assert response.json()["code"] in {"INVALID_FAULT", "INVALID_JSON"}
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


def test_state_reset_and_requests_endpoints(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    client.post("/events", json=[event("a")], headers=HEADERS)
    client.post("/events", content=b"oops", headers={**HEADERS, **JSON})
    state = client.get("/_emulator/state").json()
    assert state == emulator.state()
    assert state["projects"][PROJECT]["users"]["user-1"]["events"] == [event("a")]
    logged = client.get("/_emulator/requests").json()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in logged] == [
        ("POST", "/events", 200),
        ("POST", "/events", 400),
    ]
    assert logged[0]["body"] == [event("a")]
    assert logged[0]["headers"]["x-cs-personalize-user-uid"] == "user-1"
    assert (logged[1]["body"], logged[1]["text"]) == (None, "oops")
    emulator.inject(Fault("status"))
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get("/_emulator/state").json() == {"projects": {}, "counters": {}}
    assert client.get("/_emulator/requests").json() == []
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


def test_control_endpoints_answer_404_and_405(client: httpx.Client) -> None:
    assert client.get("/_emulator/nothing").status_code == 404
    assert client.post("/_emulator/state").status_code == 405


def test_request_log_keeps_only_the_latest_requests() -> None:
    with (
        ContentstackEmulator(max_logged_requests=3) as emulator,
        httpx.Client(base_url=emulator.url) as client,
    ):
        for key in "abcde":
            client.post("/events", json=[event(key)], headers=HEADERS)
        assert [entry.body for entry in emulator.requests] == [
            [event("c")],
            [event("d")],
            [event("e")],
        ]


# Drops after the effect, duplicates, and outages started and ended by the test


def test_drop_after_effect_applies_the_request_and_a_retry_is_a_counted_duplicate(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("drop", after_effect=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/events", json=[event("paid")], headers=HEADERS)
    # The effect is there, the answer was lost.
    assert users(emulator)["user-1"]["events"] == [event("paid")]
    dropped = emulator.requests[-1]
    assert (dropped.status, dropped.fault, dropped.applied) == (None, "drop", True)
    assert emulator.duplicates() == {}
    # A client that retries sends it again: the emulator records it twice and says so.
    assert client.post("/events", json=[event("paid")], headers=HEADERS).status_code == 200
    assert users(emulator)["user-1"]["events"] == [event("paid"), event("paid")]
    assert emulator.duplicates() == {PROJECT: {"user-1": 1}}
    assert emulator.state()["counters"]["/events"] == {"dropped": 1, "200": 1}


def test_drop_after_effect_applies_attributes_and_merges_too(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    anonymous = {**HEADERS, "x-cs-personalize-user-uid": "anon"}
    emulator.inject(Fault("drop", count=2, after_effect=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.patch("/user-attributes", json={"plan": "pro"}, headers=anonymous)
    merge = {"sourceUserUid": "anon", "targetUserUid": "user-1"}
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(
            "/user-attributes/actions/merge", json=merge, headers={"x-project-uid": PROJECT}
        )
    project = emulator.state()["projects"][PROJECT]
    assert project["users"] == {"user-1": {"attributes": {"plan": "pro"}, "events": []}}
    assert project["merges"] == [merge]
    assert [entry.applied for entry in emulator.requests] == [True, True]


def test_drop_after_effect_of_a_refused_request_changes_nothing(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("drop", after_effect=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/events", json=[{"type": "nope"}], headers=HEADERS)
    assert emulator.state()["projects"] == {}
    assert emulator.requests[-1].applied is False


def test_drop_before_the_effect_changes_nothing_and_a_retry_is_no_duplicate(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("drop", after_effect=False))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/events", json=[event("paid")], headers=HEADERS)
    assert emulator.state()["projects"] == {}
    assert emulator.requests[-1].applied is False
    assert client.post("/events", json=[event("paid")], headers=HEADERS).status_code == 200
    assert users(emulator)["user-1"]["events"] == [event("paid")]
    assert emulator.duplicates() == {}


def test_duplicates_count_exact_repeats_of_accepted_requests_per_project_and_user(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    other_user = {**HEADERS, "x-cs-personalize-user-uid": "user-2"}
    other_project = {**HEADERS, "x-project-uid": "project-2"}
    for _ in range(3):
        client.post("/events", json=[event("a")], headers=HEADERS)
    client.post("/events", json=[event("a"), event("b")], headers=HEADERS)  # another body
    client.post("/events", json=[event("a")], headers=other_user)  # another user
    client.post("/events", json=[event("a")], headers=other_project)  # another project
    client.patch("/user-attributes", json={"a": 1, "b": 2}, headers=other_user)
    client.patch("/user-attributes", json={"b": 2, "a": 1}, headers=other_user)  # same object
    for _ in range(2):  # neither changes anything, nor is counted
        client.post("/events", json=[], headers=other_project)
        client.post("/events", json=[{"type": "nope"}], headers=other_project)
    merge = {"sourceUserUid": "anon", "targetUserUid": "user-3"}
    for _ in range(2):
        client.post(
            "/user-attributes/actions/merge", json=merge, headers={"x-project-uid": PROJECT}
        )
    assert emulator.duplicates() == {PROJECT: {"user-1": 2, "user-2": 1, "user-3": 1}}
    assert client.get("/_emulator/duplicates").json() == {"duplicates": emulator.duplicates()}
    emulator.reset()
    assert emulator.duplicates() == {}


def test_request_log_numbers_requests_in_arrival_order(client: httpx.Client) -> None:
    with (
        ContentstackEmulator(max_logged_requests=2) as bounded,
        ContentstackEmulator(max_logged_requests=None) as unbounded,
    ):
        for emulator in (bounded, unbounded):
            for key in "abcd":
                client.post(f"{emulator.url}/events", json=[event(key)], headers=HEADERS)
        # The log forgot the oldest requests: the numbers show how many came before.
        assert [(entry.number, entry.body) for entry in bounded.requests] == [
            (3, [event("c")]),
            (4, [event("d")]),
        ]
        assert [entry.number for entry in unbounded.requests] == [1, 2, 3, 4]
        logged = client.get(f"{unbounded.url}/_emulator/requests").json()
        assert [(entry["number"], entry["applied"]) for entry in logged] == [
            (1, True),
            (2, True),
            (3, True),
            (4, True),
        ]
        unbounded.reset()
        client.post(f"{unbounded.url}/events", json=[], headers=HEADERS)
        assert [entry.number for entry in unbounded.requests] == [1]


def test_start_outage_answers_every_request_until_it_is_ended(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.inject(Fault("status", status=429))
    emulator.start_outage(retry_after=2)
    assert emulator.outage() == {
        "status": 503,
        "retry_after": 2,
        "path": None,
        "ends": "ended",
        "seconds_left": None,
        "requests_left": None,
        "answered": 0,
    }
    during = [client.post("/events", json=[event("x")], headers=HEADERS) for _ in range(3)]
    assert [(r.status_code, r.headers["retry-after"]) for r in during] == [(503, "2")] * 3
    assert during[0].json()["code"] == "EMULATED_FAULT"
    assert emulator.state()["projects"] == {}
    outage = emulator.outage()
    assert outage is not None
    assert outage["answered"] == 3
    assert emulator.end_outage() is True
    # The queued fault waited for the outage to end; then the API answers normally.
    assert client.post("/events", json=[], headers=HEADERS).status_code == 429
    assert client.post("/events", json=[event("x")], headers=HEADERS).status_code == 200
    assert emulator.outage() is None
    assert emulator.end_outage() is False


def test_start_outage_of_one_path_without_retry_after(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.start_outage(500, path="/user-attributes")
    answer = client.patch("/user-attributes", json={}, headers=HEADERS)
    assert answer.status_code == 500
    assert "retry-after" not in answer.headers
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    emulator.end_outage()
    assert client.patch("/user-attributes", json={}, headers=HEADERS).status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"status": 99}, "status"), ({"retry_after": -1}, "retry_after"), ({"path": "x"}, "path")],
)
def test_start_outage_refuses_values_out_of_range(
    emulator: ContentstackEmulator, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.start_outage(**arguments)
    assert emulator.outage() is None


def test_end_outage_ends_timed_and_counted_outages_too(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    emulator.fail_for(600)
    timed = emulator.outage()
    assert timed is not None
    assert timed["ends"] == "deadline"
    assert timed["seconds_left"] > 0
    assert emulator.end_outage() is True
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    emulator.inject(Fault("outage", count=2))
    counted = emulator.outage()
    assert counted is not None
    assert (counted["ends"], counted["requests_left"]) == ("count", 2)
    assert emulator.end_outage() is True
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


def test_an_outage_is_ended_while_a_client_keeps_retrying(emulator: ContentstackEmulator) -> None:
    emulator.start_outage(retry_after=0)
    answers: list[int] = []

    def retry_until_accepted() -> None:
        with httpx.Client(base_url=emulator.url, timeout=30) as client:
            while True:
                answer = client.post("/events", json=[event("late")], headers=HEADERS)
                answers.append(answer.status_code)
                if answer.status_code != 503:
                    return

    sender = threading.Thread(target=retry_until_accepted)
    sender.start()
    try:
        # Wait on what the emulator saw, not on time: two requests refused by the outage.
        emulator.wait_until(lambda log: sum(entry.status == 503 for entry in log) >= 2)
    finally:
        ended = emulator.end_outage()
        sender.join()
    assert ended is True
    assert answers[-1] == 200
    assert set(answers[:-1]) == {503}
    assert len(answers) >= 3
    assert users(emulator)["user-1"]["events"] == [event("late")]


def test_wait_until_gives_up_with_timeout_error(emulator: ContentstackEmulator) -> None:
    with pytest.raises(TimeoutError):
        emulator.wait_until(lambda log: len(log) > 0, timeout=0.01)


def test_outage_endpoints_start_show_and_end_an_outage(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    assert client.get("/_emulator/outage").json() == {"outage": None}
    started = client.post("/_emulator/outage", json={"status": 502, "retry_after": 1})
    assert started.status_code == 200
    assert started.json()["outage"]["status"] == 502
    answer = client.post("/events", json=[], headers=HEADERS)
    assert (answer.status_code, answer.headers["retry-after"]) == (502, "1")
    shown = client.get("/_emulator/outage").json()["outage"]
    assert (shown["ends"], shown["answered"]) == ("ended", 1)
    assert client.delete("/_emulator/outage").json() == {"ended": True}
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200
    assert client.delete("/_emulator/outage").json() == {"ended": False}
    # No body: a 503 without Retry-After.
    assert client.post("/_emulator/outage").status_code == 200
    answer = client.post("/events", json=[], headers=HEADERS)
    assert answer.status_code == 503
    assert "retry-after" not in answer.headers
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get("/_emulator/outage").json() == {"outage": None}


@pytest.mark.parametrize(
    "body",
    [
        b"[1]",
        b'{"status": 99}',
        b'{"status": "503"}',
        b'{"retry_after": -1}',
        b'{"path": "events"}',
        b'{"seconds": 5}',
        b"not json",
    ],
)
def test_outage_endpoint_refuses_a_bad_outage_and_starts_none(
    client: httpx.Client, emulator: ContentstackEmulator, body: bytes
) -> None:
    response = client.post("/_emulator/outage", content=body)
    assert response.status_code == 400
    assert response.json()["code"] in {"INVALID_OUTAGE", "INVALID_JSON"}
    assert emulator.outage() is None
    assert client.post("/events", json=[], headers=HEADERS).status_code == 200


def test_faults_endpoint_queues_a_drop_after_the_effect(
    client: httpx.Client, emulator: ContentstackEmulator
) -> None:
    queued = client.post("/_emulator/faults", json={"kind": "drop", "after_effect": True})
    assert queued.json()["queued"][0]["after_effect"] is True
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/events", json=[event("paid")], headers=HEADERS)
    assert client.post("/events", json=[event("paid")], headers=HEADERS).status_code == 200
    logged = client.get("/_emulator/requests").json()
    assert [(e["number"], e["status"], e["fault"], e["applied"]) for e in logged] == [
        (1, None, "drop", True),
        (2, 200, None, True),
    ]
    assert client.get("/_emulator/duplicates").json() == {"duplicates": {PROJECT: {"user-1": 1}}}
    refused = client.post("/_emulator/faults", json={"kind": "status", "after_effect": True})
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_FAULT")


# Properties


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


def is_uid(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@given(json_values)
def test_body_checks_are_total_and_accept_only_the_documented_shapes(body: Any) -> None:
    events = check_events(body, None)
    attributes = check_attributes(body, frozenset({"a"}))
    merge = check_merge(body)
    if not events:
        assert isinstance(body, list)
        assert all(item["type"] in {"EVENT", "IMPRESSION"} for item in body)
    assert (not attributes) == (isinstance(body, dict) and set(body) <= {"a"})
    assert (not merge) == (
        isinstance(body, dict)
        and is_uid(body.get("sourceUserUid"))
        and is_uid(body.get("targetUserUid"))
    )
    for problem in events + attributes + merge:
        assert problem["message"].endswith(".")
        assert problem["pointer"] == "" or problem["pointer"].startswith("/")


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=200), path=st.sampled_from(["/events", "/user-attributes"]))
def test_any_body_gets_an_answer_below_500(
    shared_client: httpx.Client, body: bytes, path: str
) -> None:
    method = "POST" if path == "/events" else "PATCH"
    response = shared_client.request(method, path, content=body, headers={**HEADERS, **JSON})
    assert response.status_code in {200, 400}
    assert "message" in response.json()


# The documented example, and the CLI


def start_cli(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from framework.cli.emulate import emulate_command; emulate_command()",
            *arguments,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_its_url_serves_and_exits_cleanly_on_sigterm() -> None:
    process = start_cli("contentstack", "--port", "0", "--project", PROJECT)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.post("/events", json=[event("a")], headers=HEADERS).status_code == 200
            other = {**HEADERS, "x-project-uid": "other"}
            assert client.post("/events", json=[], headers=other).status_code == 403
            state = client.get("/_emulator/state").json()
        assert state["projects"][PROJECT]["users"]["user-1"]["events"] == [event("a")]
        process.terminate()
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stdout == ""
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cli_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_cli("contentstack", "--port", str(port))
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "cannot listen" in stderr


def test_cli_serves_the_management_api_too() -> None:
    process = start_cli("contentstack-management", "--project", PROJECT)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        headers = {"x-project-uid": PROJECT, "authtoken": "any"}
        with httpx.Client(base_url=url, timeout=5) as client:
            created = client.post(
                "/attributes", json={"key": "plan", "name": "Plan"}, headers=headers
            )
            assert created.status_code in (200, 201), created.text
            listed = client.get("/attributes", headers=headers).json()
        assert [attribute["key"] for attribute in listed] == ["plan"]
        process.terminate()
        process.communicate(timeout=10)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
