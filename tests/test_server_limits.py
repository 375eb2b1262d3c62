"""The ingestion server never answers 500 and never hangs.

Clock-skew arithmetic is total, a batch that can never fit the queue is told so (413, not a
503 retried forever), a body that never arrives is cut by a deadline (408), requests beyond
the bound are 503 with Retry-After, and arbitrary JSON in every Segment field is answered
200 or 400 with a reason on every endpoint.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import select
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from framework.errors import DefinitionError
from framework.event_fill import iso_ms
from framework.queue import Entry
from framework.queue.sqlite import SqliteQueue
from framework.server import ServerConfig, create_app, header_deadline_protocol
from tests.server_helpers import WRITE_KEY, server_config, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


@dataclass
class Harness:
    client: TestClient
    queue: SqliteQueue

    def events(self) -> list[dict[str, Any]]:
        entries: list[Entry] = self.client.portal.call(
            functools.partial(self.queue.take, 10_000, block=0)
        )
        return [entry.item.event for entry in entries]


@pytest.fixture
def harness(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    options = getattr(request, "param", {})
    config = server_config(tmp_path, "http://127.0.0.1:9", **options.get("config", {}))
    queue = SqliteQueue(tmp_path / "q.sqlite", **options.get("queue", {}))

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    with TestClient(create_app(config, queue, lifespan=closing)) as client:
        yield Harness(client, queue)


# -- clock skew ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"),
        ("0000-01-01T00:00:00Z", "2024-05-01T12:00:00Z"),
    ],
    ids=["year-1-sent-9999", "year-9999-sent-1", "extreme-offsets", "year-0000"],
)
def test_a_skew_correction_out_of_range_keeps_the_clients_timestamp(
    harness: Harness, timestamp: str, sent_at: str
) -> None:
    event = {"userId": "u1", "event": "E", "timestamp": timestamp, "sentAt": sent_at}
    answer = harness.client.post("/v1/track", json=event, headers=AUTH)
    assert answer.status_code == 200
    [queued] = harness.events()
    assert queued["timestamp"] == timestamp
    assert queued["originalTimestamp"] == timestamp
    assert queued["sentAt"] == sent_at


def test_a_batch_sent_at_corrects_each_event_it_can_and_keeps_the_others(harness: Harness) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "E", "timestamp": "0001-01-01T00:00:00Z"},
            {"type": "identify", "userId": "u1", "timestamp": "2024-05-01T12:00:00Z"},
        ],
        "sentAt": "4000-01-01T00:00:00Z",
    }
    assert harness.client.post("/v1/batch", json=body, headers=AUTH).status_code == 200
    first, second = harness.events()
    assert first["timestamp"] == "0001-01-01T00:00:00Z"
    # The second's correction lands in range (about year 50), so it is made.
    assert second["originalTimestamp"] == "2024-05-01T12:00:00Z"
    assert second["timestamp"] != second["originalTimestamp"]


def test_a_corrected_timestamp_before_year_1000_keeps_four_digits(harness: Harness) -> None:
    # 2024 years of skew: the corrected time lands in the first millennium.
    event = {
        "userId": "u1",
        "event": "E",
        "timestamp": "0001-06-01T00:00:00Z",
        "sentAt": "2024-06-01T00:00:00Z",
    }
    assert harness.client.post("/v1/track", json=event, headers=AUTH).status_code == 200
    [queued] = harness.events()
    corrected = datetime.fromisoformat(queued["timestamp"])
    assert queued["timestamp"][:4] == f"{corrected.year:04d}"
    assert corrected.year < 1000


def test_iso_ms_pads_the_year_to_four_digits() -> None:
    assert iso_ms(datetime(5, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)) == "0005-01-02T03:04:05.678Z"


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-23 * 60, 23 * 60),
)
def test_iso_ms_is_the_utc_time_truncated_to_milliseconds(moment: datetime, minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    utc = aware.astimezone(UTC)
    expected = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
    assert iso_ms(aware) == expected


# -- a batch the queue can never hold --------------------------------------------------------


def batch_of(count: int) -> dict[str, Any]:
    return {"batch": [{"type": "track", "userId": "u1", "event": f"E{i}"} for i in range(count)]}


@pytest.mark.parametrize("harness", [{"queue": {"max_length": 3}}], indirect=True)
def test_a_batch_larger_than_the_queue_is_413_even_when_the_queue_is_empty(
    harness: Harness,
) -> None:
    answer = harness.client.post("/v1/batch", json=batch_of(4), headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["code"] == "BATCH_EXCEEDS_QUEUE"
    assert "retry-after" not in answer.headers
    assert harness.events() == []


@pytest.mark.parametrize("harness", [{"queue": {"max_length": 3}}], indirect=True)
def test_a_batch_that_fits_an_empty_queue_but_not_now_is_503_with_retry_after(
    harness: Harness,
) -> None:
    assert harness.client.post("/v1/batch", json=batch_of(2), headers=AUTH).status_code == 200
    answer = harness.client.post("/v1/batch", json=batch_of(3), headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["code"] == "QUEUE_FULL"
    assert int(answer.headers["retry-after"]) >= 1
    assert harness.client.post("/v1/batch", json=batch_of(1), headers=AUTH).status_code == 200


# -- slow clients, on a real server --------------------------------------------------------


@contextmanager
def uvicorn_serving(app: Starlette, config: ServerConfig) -> Iterator[int]:
    """``app`` under uvicorn with the connection settings ``actionkit serve`` gives it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="critical",
            lifespan="on",
            timeout_keep_alive=config.limits.keep_alive_timeout,
            limit_concurrency=config.limits.max_connections,
            http=header_deadline_protocol(config.limits.header_timeout),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started)
        yield port
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextmanager
def slow_app(tmp_path: Path, **limits: Any) -> Iterator[tuple[Starlette, int]]:
    config = server_config(tmp_path, "http://127.0.0.1:9", limits=limits)
    queue = SqliteQueue(tmp_path / "q.sqlite")

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    app = create_app(config, queue, lifespan=closing)
    with uvicorn_serving(app, config) as port:
        yield app, port


def start_post(port: int, declared: int, sent: bytes) -> socket.socket:
    """A POST /v1/track declaring ``declared`` body bytes and sending only ``sent``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {AUTH['Authorization']}\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def trickle(sock: socket.socket, byte: bytes, seconds: float) -> None:
    """Send ``byte`` every 50 ms for ``seconds``, unless the server answers first.

    It stops before the server's deadline: a byte arriving after the server answered and
    closed would make its kernel reset the connection, and the answer could be lost before
    it is read.
    """
    until = time.monotonic() + seconds
    while time.monotonic() < until and not select.select([sock], [], [], 0.05)[0]:
        sock.sendall(byte)


def read_to_close(sock: socket.socket) -> tuple[int, bytes, dict[str, Any]]:
    """Read until the server closes the connection: status, raw head and JSON body."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.lower(), json.loads(body)


def test_a_body_shorter_than_its_content_length_is_408_and_the_connection_closed(
    tmp_path: Path,
) -> None:
    with slow_app(tmp_path, bodyTimeout=0.5) as (app, port), start_post(port, 100, b"{") as sock:
        status, head, body = read_to_close(sock)
        assert (status, body["code"]) == (408, "BODY_TIMEOUT")
        assert b"connection: close" in head
        assert app.state.in_flight.count == 0


def test_a_body_trickling_in_past_the_deadline_is_408(tmp_path: Path) -> None:
    with slow_app(tmp_path, bodyTimeout=0.5) as (_, port), start_post(port, 10_000, b"") as sock:
        # One byte at a time for most of the deadline, each well within any per-read
        # timeout: only the deadline on the whole body can stop it.
        trickle(sock, b" ", seconds=0.4)
        status, _, body = read_to_close(sock)
        assert (status, body["code"]) == (408, "BODY_TIMEOUT")


def test_a_head_trickling_in_past_the_header_deadline_is_408_and_the_connection_closed(
    tmp_path: Path,
) -> None:
    with (
        slow_app(tmp_path, headerTimeout=0.5) as (app, port),
        socket.create_connection(("127.0.0.1", port), timeout=60) as sock,
    ):
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # A header byte at a time for most of the deadline, each well within any per-read
        # timeout: only a deadline on the whole head can stop it.
        trickle(sock, b"a", seconds=0.4)
        status, head, body = read_to_close(sock)
        assert (status, body["code"]) == (408, "HEADER_TIMEOUT")
        assert b"connection: close" in head
        assert app.state.in_flight.count == 0  # the app never saw it


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Read one answer (by its Content-Length), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


def beat_the_head_deadline(attempt: Callable[[], tuple[int, dict[str, Any]]]) -> None:
    """Run ``attempt`` until this test sent its head in time (not answered HEADER_TIMEOUT).

    The deadline counts from the server's accept; a test paused between connecting and
    sending meets it and tries again. A server that cut every head would fail here.
    """
    for _ in range(50):
        status, body = attempt()
        if (status, body.get("code")) != (408, "HEADER_TIMEOUT"):
            return
    raise AssertionError("every head was cut by the header deadline")


def test_the_header_deadline_starts_again_after_each_answer_on_a_connection(
    tmp_path: Path,
) -> None:
    with slow_app(tmp_path, headerTimeout=0.5) as (_, port), contextlib.ExitStack() as stack:
        connection: list[socket.socket] = []

        def first_request() -> tuple[int, dict[str, Any]]:
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=60))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            connection[:] = [sock]
            return read_answer(sock)

        beat_the_head_deadline(first_request)
        [sock] = connection
        sock.sendall(b"GET /hea")  # the next request's head, stalled after the answer
        status, _, body = read_to_close(sock)
        assert (status, body["code"]) == (408, "HEADER_TIMEOUT")


def test_a_complete_head_leaves_the_body_to_the_body_deadline(tmp_path: Path) -> None:
    # The head deadline would fire first (0.5 s after the connection opened, the body's 2 s
    # after the head arrived), so the answer says which deadline is in force.
    answers: list[tuple[int, dict[str, Any]]] = []

    def stalled_body() -> tuple[int, dict[str, Any]]:
        with start_post(port, 100, b"{") as sock:
            status, _, body = read_to_close(sock)
        answers.append((status, body))
        return status, body

    with slow_app(tmp_path, headerTimeout=0.5, bodyTimeout=2) as (_, port):
        beat_the_head_deadline(stalled_body)
    status, body = answers[-1]
    assert (status, body["code"]) == (408, "BODY_TIMEOUT")


def test_requests_beyond_the_concurrency_bound_are_503_with_retry_after(tmp_path: Path) -> None:
    with slow_app(tmp_path, bodyTimeout=60, maxConcurrentRequests=2) as (app, port):
        url = f"http://127.0.0.1:{port}/v1/track"
        event = {"userId": "u1", "event": "E"}
        held = [start_post(port, 100, b"{") for _ in range(2)]
        try:
            wait_until(lambda: app.state.in_flight.count == 2)
            answer = httpx.post(url, json=event, headers=AUTH, timeout=30)
            assert (answer.status_code, answer.json()["code"]) == (503, "SERVER_BUSY")
            assert int(answer.headers["retry-after"]) >= 1
        finally:
            for sock in held:
                sock.close()
        # The stalled clients went away: their places are free again.
        wait_until(lambda: app.state.in_flight.count == 0)
        assert httpx.post(url, json=event, headers=AUTH, timeout=30).status_code == 200


def test_the_server_config_checks_its_time_and_concurrency_limits(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as raised:
        server_config(
            tmp_path,
            "http://127.0.0.1:9",
            limits={
                "headerTimeout": 0,
                "bodyTimeout": 0,
                "maxConcurrentRequests": 0,
                "keepAliveTimeout": 0.5,
            },
        )
    pointers = {problem.pointer for problem in raised.value.problems}
    assert pointers == {
        "/limits/headerTimeout",
        "/limits/bodyTimeout",
        "/limits/maxConcurrentRequests",
        "/limits/keepAliveTimeout",
    }


# -- no 500, whatever JSON a client sends ------------------------------------------------------

ENDPOINTS = ("track", "identify", "page", "screen", "group", "alias", "batch", "import")
SEGMENT_FIELDS = (
    "type",
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "event",
    "name",
    "category",
    "messageId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "context",
    "properties",
    "traits",
    "integrations",
    "writeKey",
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # lone surrogates: body.py
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
DATE_TIMES = st.builds(
    lambda moment, offset, style: (
        moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[: style or None] + offset
        if moment.year >= 1000
        else f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S") + offset
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from(["Z", "+14:00", "-12:00", "+0530", ""]),
    st.sampled_from([0, -7, -3]),
)
PLAUSIBLE = {
    "type": st.sampled_from(ENDPOINTS[:6]),
    "userId": st.just("u1"),
    "event": st.just("E"),
    "groupId": st.just("g1"),
    "previousId": st.just("p1"),
    "timestamp": DATE_TIMES,
    "originalTimestamp": DATE_TIMES,
    "sentAt": DATE_TIMES,
    "receivedAt": DATE_TIMES,
    "writeKey": st.just(WRITE_KEY),
}


def value_of(field: str) -> st.SearchStrategy[Any]:
    # Mostly plausible values where there are some, so that most events pass the check and
    # reach what the server fills in (clock skew included); any JSON at all otherwise.
    plausible = PLAUSIBLE.get(field)
    return JSON_VALUES if plausible is None else st.one_of(plausible, plausible, JSON_VALUES)


EVENTS = st.fixed_dictionaries(
    {}, optional={field: value_of(field) for field in SEGMENT_FIELDS}
).map(lambda event: {"userId": "u1", "event": "E", **event})
BATCH_BODIES = st.fixed_dictionaries(
    {"batch": st.lists(EVENTS | JSON_VALUES, max_size=4) | JSON_VALUES},
    optional={
        "context": JSON_VALUES,
        "integrations": JSON_VALUES,
        "sentAt": DATE_TIMES | JSON_VALUES,
        "writeKey": JSON_VALUES,
    },
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_any_json_in_any_segment_field_is_answered_200_or_400_with_a_reason(
    tmp_path: Path, endpoint: str
) -> None:
    config = server_config(tmp_path, "http://127.0.0.1:9")
    queue = SqliteQueue(tmp_path / "q.sqlite")
    bodies = BATCH_BODIES if endpoint in ("batch", "import") else EVENTS

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    with TestClient(create_app(config, queue, lifespan=closing)) as client:

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(body=bodies, basic=st.sampled_from([True, True, True, False]))
        def check(body: dict[str, Any], basic: bool) -> None:
            answer = client.post(
                f"/v1/{endpoint}",
                content=json.dumps(body),
                headers={"Content-Type": "application/json", **(AUTH if basic else {})},
            )
            assert answer.status_code in (200, 400, 401, 413), answer.text
            reply = answer.json()
            if answer.status_code == 200:
                assert reply == {"success": True}
            else:
                assert reply["success"] is False
                assert reply["code"]
                assert reply["message"]

        check()
