"""Delivery against the Personalize Edge emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from framework import Instance, RetryPolicy, Router, load_instance
from framework.delivery import DeadLetterStore
from framework.emulators.contentstack import ContentstackEmulator
from framework.emulators.server import Fault

DESTINATION = Path(__file__).parent.parent / "destinations" / "contentstack" / "destination.yaml"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, deadline=10.0)


@pytest.fixture
def emulator() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator() as running:
        yield running


def make_instance(url: str, name: str = "cs", **delivery: Any) -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "name": name,
            "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": url},
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {"name": "attributes", "preset": "custom-attributes-sync"},
                {"name": "merge", "preset": "merge-users"},
            ],
            # The testing switch: the emulator listens on loopback.
            "delivery": {"allowLoopback": True, **delivery},
        }
    )


def track(user: str = "u1", event: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, **extra}


def outcomes(deliveries: list[Any]) -> dict[str, str]:
    return {d.mapping: d.outcome for d in deliveries}


def user_events(emulator: ContentstackEmulator, user: str) -> list[str]:
    users = emulator.state()["projects"].get("proj", {}).get("users", {})
    return [item["eventKey"] for item in users.get(user, {}).get("events", [])]


def test_every_kind_of_outcome(emulator: ContentstackEmulator, tmp_path: Path) -> None:
    instance = make_instance(emulator.url)
    with Router([instance], dead_letters=tmp_path / "dl.sqlite", retry=FAST_RETRY) as router:
        delivered = router.route(track(context={"traits": {"plan": "pro"}}))
        filtered = router.route(track(integrations={"Contentstack Web": False}))
        invalid = router.route({"type": "track", "event": "E", "anonymousId": "a"})
        broken = router.route({"type": "track", "userId": "u1"})  # no event name
    assert outcomes(delivered) == {
        "events": "delivered",
        "attributes": "delivered",
        "merge": "not_subscribed",
    }
    assert delivered[0].status == 200
    assert delivered[0].attempts == 1
    assert outcomes(filtered)["events"] == "filtered"
    assert filtered[0].reason
    assert outcomes(invalid)["events"] == "invalid"
    assert invalid[0].errors[0]["pointer"] == "/userId"
    assert [(d.outcome, d.error_code) for d in broken] == [("invalid", "EVENT_INVALID")]
    assert user_events(emulator, "u1") == ["Signed Up"]
    state = emulator.state()["projects"]["proj"]["users"]["u1"]
    assert state["attributes"] == {"plan": "pro"}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_answers_are_retried(
    emulator: ContentstackEmulator, tmp_path: Path, status: int
) -> None:
    emulator.inject(Fault("status", status=status, count=2, path="/events"))
    with Router([make_instance(emulator.url)], dead_letters=tmp_path / "d", retry=FAST_RETRY) as r:
        delivery = r.route(track())[0]
    assert (delivery.outcome, delivery.attempts, delivery.status) == ("delivered", 3, 200)
    assert user_events(emulator, "u1") == ["Signed Up"]


def test_retry_after_is_honoured(emulator: ContentstackEmulator, tmp_path: Path) -> None:
    emulator.inject(Fault("status", status=429, retry_after=0.4, path="/events"))
    with Router([make_instance(emulator.url)], dead_letters=tmp_path / "d", retry=FAST_RETRY) as r:
        started = time.monotonic()
        delivery = r.route(track())[0]
        waited = time.monotonic() - started
    assert (delivery.outcome, delivery.attempts) == ("delivered", 2)
    assert waited >= 0.4  # the backoff alone (at most 0.01 s here) would not wait that long


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INTEGRATION_ERROR"), (401, "INVALID_AUTHENTICATION"), (404, "INTEGRATION_ERROR")],
)
def test_permanent_answers_are_not_retried(
    emulator: ContentstackEmulator, tmp_path: Path, status: int, code: str
) -> None:
    emulator.inject(Fault("status", status=status, path="/events"))
    store = tmp_path / "dl.sqlite"
    with Router([make_instance(emulator.url)], dead_letters=store, retry=FAST_RETRY) as router:
        delivery = router.route(track())[0]
    assert (delivery.outcome, delivery.attempts, delivery.status) == ("dead_lettered", 1, status)
    assert delivery.error_code == code
    with DeadLetterStore(store) as letters:
        [letter] = letters.list()
    assert (letter.error_code, letter.attempts, letter.mapping) == (code, 1, "events")
    assert letter.event["event"] == "Signed Up"


def test_a_slow_answer_times_out_and_is_retried(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    # The delay outlasts any timeout (stopping the emulator ends it); the retry must then be
    # answered within the timeout, so that one is generous.
    emulator.inject(Fault("delay", seconds=600, count=1, path="/events"))
    instance = make_instance(emulator.url, timeout=2)
    with Router([instance], dead_letters=tmp_path / "d", retry=FAST_RETRY) as router:
        delivery = router.route(track())[0]
    assert (delivery.outcome, delivery.attempts) == ("delivered", 2)


def test_timeouts_that_never_end_are_dead_lettered(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    emulator.inject(Fault("delay", seconds=600, count=10, path="/events"))
    instance = make_instance(emulator.url, timeout=0.15, maxAttempts=2)
    with Router([instance], dead_letters=tmp_path / "d", retry=FAST_RETRY) as router:
        delivery = router.route(track())[0]
    assert (delivery.outcome, delivery.attempts, delivery.error_code) == (
        "dead_lettered",
        2,
        "TIMEOUT",
    )
    assert delivery.status is None


def test_a_dropped_connection_is_retried(emulator: ContentstackEmulator, tmp_path: Path) -> None:
    emulator.inject(Fault("drop", count=1, path="/events"))
    with Router([make_instance(emulator.url)], dead_letters=tmp_path / "d", retry=FAST_RETRY) as r:
        delivery = r.route(track())[0]
    assert (delivery.outcome, delivery.attempts) == ("delivered", 2)


def test_a_connection_dropped_every_time_is_dead_lettered_as_a_connection_failure(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    emulator.inject(Fault("drop", count=10, path="/events"))
    instance = make_instance(emulator.url, maxAttempts=2)
    with Router([instance], dead_letters=tmp_path / "d", retry=FAST_RETRY) as router:
        delivery = router.route(track())[0]
    assert (delivery.outcome, delivery.attempts, delivery.error_code) == (
        "dead_lettered",
        2,
        "CONNECTION_FAILED",
    )


def test_a_refused_connection_is_a_connection_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = make_instance(f"http://127.0.0.1:{port}", maxAttempts=1)
    with Router([instance], dead_letters=None, retry=FAST_RETRY) as router:
        delivery = router.route(track())[0]
    assert (delivery.outcome, delivery.error_code) == ("retryable_failure", "CONNECTION_FAILED")


def test_one_bad_event_in_a_batch_does_not_fail_the_others(tmp_path: Path) -> None:
    with ContentstackEmulator(defined_events={"Good 1", "Good 2", "Good 3"}) as emulator:
        instance = make_instance(emulator.url)
        names = ["Good 1", "Unknown", "Good 2", "Good 3"]
        events = [track("u7", name, messageId=f"m{i}") for i, name in enumerate(names)]
        with Router(
            [instance], dead_letters=tmp_path / "d", retry=FAST_RETRY, batch_window=0.2
        ) as router:
            results = list(router.route_many(events))
        sent = [r for r in emulator.requests if r.path == "/events"]
        assert sent[0].body == [{"type": "EVENT", "eventKey": name} for name in names]
        assert sent[0].status == 400
        assert user_events(emulator, "u7") == ["Good 1", "Good 2", "Good 3"]
    event_outcomes = [(d[0].message_id, d[0].outcome) for d in results]
    assert event_outcomes == [
        ("m0", "delivered"),
        ("m1", "dead_lettered"),
        ("m2", "delivered"),
        ("m3", "delivered"),
    ]
    assert all(d[0].batch_size == 1 for d in results)  # each was re-sent on its own


def test_events_of_one_user_combine_in_order(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    instance = make_instance(emulator.url)
    events = [track("u8", f"E{i}") for i in range(10)] + [
        {"type": "identify", "userId": "u8", "traits": {"plan": "free", "n": 1}},
        {"type": "identify", "userId": "u8", "traits": {"plan": "pro"}},
    ]
    with Router(
        [instance], dead_letters=tmp_path / "d", retry=FAST_RETRY, batch_window=0.2
    ) as router:
        results = [d for per_event in router.route_many(events) for d in per_event]
    delivered = [d for d in results if d.outcome == "delivered"]
    assert len(delivered) == 10 + 2  # the ten track events, the two identify calls' traits
    assert max(d.batch_size for d in results) > 1
    event_requests = [r for r in emulator.requests if r.path == "/events"]
    assert len(event_requests) < 10
    assert user_events(emulator, "u8") == [f"E{i}" for i in range(10)]
    attributes = emulator.state()["projects"]["proj"]["users"]["u8"]["attributes"]
    assert attributes == {"plan": "pro", "n": 1}  # merged, the later event winning


def test_the_definitions_batch_window_gathers_a_users_events(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    definition = yaml.safe_load(DESTINATION.read_text(encoding="utf-8"))
    definition["actions"]["eventsSync"]["batch"]["windowMs"] = 300
    path = tmp_path / "destination.yaml"
    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    instance = load_instance(
        {
            "destination": str(path),
            "name": "cs",
            "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": emulator.url},
            "mappings": [{"name": "events", "preset": "events-sync"}],
            "delivery": {"allowLoopback": True},
        }
    )
    with Router([instance], dead_letters=None, retry=FAST_RETRY) as router:
        results = list(router.route_many(track("u9", f"E{i}") for i in range(5)))
    assert [d[0].batch_size for d in results] == [5] * 5
    assert len([r for r in emulator.requests if r.path == "/events"]) == 1
    assert user_events(emulator, "u9") == [f"E{i}" for i in range(5)]


def test_dead_letters_are_replayed_and_leave_the_store(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    store = tmp_path / "dl.sqlite"
    instance = make_instance(emulator.url, maxAttempts=2)
    emulator.fail_for(30.0, status=503, path="/events")
    with Router([instance], dead_letters=store, retry=FAST_RETRY) as router:
        failed = [router.route(track("u9", f"E{i}"))[0] for i in range(3)]
    assert [d.outcome for d in failed] == ["dead_lettered"] * 3
    emulator.reset()  # the API is back
    with DeadLetterStore(store) as letters:
        assert letters.count() == 3
        with Router([instance], dead_letters=letters, retry=FAST_RETRY) as router:
            replayed = router.replay([failed[0].dead_letter_id or 0, failed[2].dead_letter_id or 0])
        assert [d.outcome for _, d in replayed] == ["delivered", "delivered"]
        assert [letter.event["event"] for letter in letters.list()] == ["E1"]
    assert user_events(emulator, "u9") == ["E0", "E2"]


def test_a_letter_that_fails_again_keeps_the_latest_error_and_counts_every_attempt(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    store = tmp_path / "dl.sqlite"
    instance = make_instance(emulator.url, maxAttempts=2)
    emulator.fail_for(30.0, status=503, path="/events")
    with Router([instance], dead_letters=store, retry=FAST_RETRY) as router:
        [failed] = router.route(track("u9", "E0"))[:1]
    emulator.reset()
    emulator.inject(Fault("status", status=400, count=1, path="/events"))
    with (
        DeadLetterStore(store) as letters,
        Router([instance], dead_letters=letters, retry=FAST_RETRY) as router,
    ):
        [(_, again)] = router.replay()
        [letter] = letters.list()
    assert (again.outcome, again.error_code) == ("permanent_failure", "INTEGRATION_ERROR")
    assert letter.id == failed.dead_letter_id  # the same letter, not a second one
    assert (letter.error_code, letter.status, letter.attempts) == ("INTEGRATION_ERROR", 400, 3)


def test_nothing_is_lost_while_the_api_is_down_for_a_while(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    store = tmp_path / "dl.sqlite"
    policy = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.2, deadline=5.0)
    instance = make_instance(emulator.url)
    events = [track(f"user{i % 7}", f"E{i}") for i in range(60)]
    emulator.fail_for(0.4, status=503)
    with Router([instance], dead_letters=store, retry=policy, seed=3) as router:
        results = list(router.route_many(events, concurrency=16))
        stats = router.stats()
    sent = [d for per_event in results for d in per_event if d.mapping == "events"]
    assert len(sent) == 60
    delivered = [d for d in sent if d.outcome == "delivered"]
    dead = [d for d in sent if d.outcome == "dead_lettered"]
    assert len(delivered) + len(dead) == 60
    recorded = sum(
        len(user["events"]) for user in emulator.state()["projects"]["proj"]["users"].values()
    )
    assert recorded == len(delivered)
    with DeadLetterStore(store) as letters:
        assert letters.count() == len(dead)
    assert stats["totals"]["delivered"] >= len(delivered)


def test_dry_run_sends_nothing(emulator: ContentstackEmulator) -> None:
    with Router([make_instance(emulator.url)], dry_run=True) as router:
        deliveries = router.route(track())
    assert outcomes(deliveries)["events"] == "dry_run"
    assert deliveries[0].request is not None
    assert deliveries[0].request["url"] == f"{emulator.url}/events"
    assert emulator.requests == []


def test_the_async_api_routes_a_stream(emulator: ContentstackEmulator, tmp_path: Path) -> None:
    async def run() -> list[list[Any]]:
        async with Router(
            [make_instance(emulator.url)], dead_letters=tmp_path / "d", retry=FAST_RETRY
        ) as router:
            single = await router.aroute(track("a1"))
            many = [d async for d in router.aroute_many(track("a2", f"E{i}") for i in range(5))]
            return [single, *many]

    results = asyncio.run(run())
    assert [per_event[0].outcome for per_event in results] == ["delivered"] * 6
    assert user_events(emulator, "a2") == [f"E{i}" for i in range(5)]


def _aliases(count: int) -> list[dict[str, Any]]:
    return [{"type": "alias", "userId": f"u{i}", "previousId": f"p{i}"} for i in range(count)]


def test_concurrency_bounds_requests_in_flight() -> None:
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json={"message": "ok"})

    instance = make_instance("https://edge.example", concurrency=2)
    transport = httpx.MockTransport(handler)
    with Router([instance], dead_letters=None, transport=transport) as router:
        results = list(router.route_many(_aliases(12)))
    assert {per_event[2].outcome for per_event in results} == {"delivered"}
    assert most == 2


def test_requests_per_second_are_bounded() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return httpx.Response(200, json={"message": "ok"})

    instance = make_instance("https://edge.example", requestsPerSecond=10)
    transport = httpx.MockTransport(handler)
    with Router([instance], dead_letters=None, transport=transport) as router:
        list(router.route_many(_aliases(15)))
    # A bucket of 10 tokens (one second's worth) lets the first 10 go at once; the other
    # five wait for a token each, a tenth of a second apart.
    assert len(times) == 15
    assert times[-1] - times[0] >= 0.4


def test_statistics_count_outcomes_and_latency(
    emulator: ContentstackEmulator, tmp_path: Path
) -> None:
    with Router([make_instance(emulator.url)], dead_letters=tmp_path / "d") as router:
        router.route(track())
        router.route({"type": "page", "userId": "u1", "name": "Home"})
        stats = router.stats()
    assert stats["totals"]["delivered"] == 1
    events = stats["by_instance"]["cs"]["eventsSync"]
    assert events["outcomes"] == {"delivered": 1, "not_subscribed": 1}
    assert events["latency_ms"]["count"] == 1
    assert events["latency_ms"]["p99"] >= events["latency_ms"]["p50"] > 0


async def _serve_without_answering(
    arrived: asyncio.Event, wanted: int
) -> tuple[asyncio.Server, list[asyncio.StreamWriter]]:
    """A loopback server that reads each request and never answers; ``arrived`` is set once
    ``wanted`` requests have come in. Each connection is held until the client closes it."""
    writers: list[asyncio.StreamWriter] = []
    requests = 0

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        writers.append(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            requests += 1
            if requests >= wanted:
                arrived.set()
            while await reader.read(65536):  # until the client closes the connection
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0), writers


def test_closing_a_router_whose_close_is_cancelled_settles_every_delivery() -> None:
    async def scenario() -> tuple[list[BaseException | list[Any]], bool]:
        arrived = asyncio.Event()
        server, writers = await _serve_without_answering(arrived, wanted=3)
        host, port = server.sockets[0].getsockname()[:2]
        instance = make_instance(f"http://{host}:{port}", timeout=60)
        router = Router([instance], dead_letters=None)
        await router.__aenter__()
        routing = [asyncio.ensure_future(router.aroute(track(f"u{i}"))) for i in range(3)]
        # The cap only bounds a hang: the three requests are in flight when they arrived.
        await asyncio.wait_for(arrived.wait(), 60)
        closing = asyncio.ensure_future(router.__aexit__(None, None, None))
        await asyncio.sleep(0)  # one turn: the close starts and waits for the deliveries
        assert not closing.done()
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        results = await asyncio.wait_for(asyncio.gather(*routing, return_exceptions=True), 60)
        # The router closed its client, which closed its connections to the server.
        await asyncio.wait_for(asyncio.gather(*(writer.wait_closed() for writer in writers)), 60)
        server.close()
        await server.wait_closed()
        return results, len(writers) == 3

    results, three_connections = asyncio.run(scenario())
    assert three_connections
    assert all(isinstance(result, asyncio.CancelledError) for result in results)


class TimedTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes when each request left and when its answer came.

    ``refused`` is set when the first answer of status ``watch`` is back, just before the
    dispatcher reads it (nothing awaits between here and its reading the Retry-After).
    """

    def __init__(self, watch: int) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.watch = watch
        self.sent: list[tuple[float, str, str]] = []  # (when, host:port, path)
        self.refused_at: float | None = None
        self.refused = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(
            (time.monotonic(), f"{request.url.host}:{request.url.port}", request.url.path)
        )
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        if response.status_code == self.watch and self.refused_at is None:
            self.refused_at = time.monotonic()
            self.refused.set()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_a_503_retry_after_is_honoured(emulator: ContentstackEmulator, tmp_path: Path) -> None:
    emulator.inject(Fault("status", status=503, retry_after=1, path="/events"))
    with Router([make_instance(emulator.url)], dead_letters=tmp_path / "d", retry=FAST_RETRY) as r:
        started = time.monotonic()
        delivery = r.route(track())[0]
        waited = time.monotonic() - started
    assert (delivery.outcome, delivery.attempts, delivery.status) == ("delivered", 2, 200)
    assert [request.status for request in emulator.requests] == [503, 200]
    assert waited >= 1.0  # the backoff alone (at most 0.01 s here) would not wait that long


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_pauses_every_request_to_the_endpoint(
    emulator: ContentstackEmulator, status: int
) -> None:
    emulator.inject(Fault("status", status=status, retry_after=1, path="/events"))
    transport = TimedTransport(watch=status)

    async def scenario() -> tuple[Any, list[list[Any]]]:
        instance = make_instance(emulator.url)
        async with Router(
            [instance], dead_letters=None, retry=FAST_RETRY, transport=transport
        ) as r:
            first = asyncio.create_task(r.aroute(track("u1")))
            await transport.refused.wait()
            # Other users' events, to the same path and to another path of the same host
            # (their traits make a /user-attributes request too), while u1's pause is on.
            others = await asyncio.gather(
                *(
                    r.aroute(track(user, context={"traits": {"plan": user}}))
                    for user in ("u2", "u3")
                )
            )
            return await first, others

    first, others = asyncio.run(scenario())
    assert first[0].attempts == 2
    for deliveries in others:
        sent = [d for d in deliveries if d.outcome != "not_subscribed"]
        assert [(d.mapping, d.outcome, d.attempts) for d in sent] == [
            ("events", "delivered", 1),  # waited, not failed: no attempt used
            ("attributes", "delivered", 1),
        ]
    assert transport.refused_at is not None
    pause_end = transport.refused_at + 1.0
    later = [when for when, _, _ in transport.sent if when > transport.refused_at]
    assert len(later) == 5  # u1's retry, and two requests for each of u2 and u3
    assert all(when >= pause_end for when in later)
    assert {path for _, _, path in transport.sent} == {"/events", "/user-attributes"}


def test_a_pause_holds_only_its_own_endpoint(tmp_path: Path) -> None:
    # A Retry-After far longer than max_retry_after ends u1's tries at once and pauses the
    # endpoint for max_retry_after (an hour): the other API's requests must go meanwhile.
    policy = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=3600)
    transport = TimedTransport(watch=503)
    with ContentstackEmulator() as paused_api, ContentstackEmulator() as other_api:
        paused_api.inject(Fault("status", status=503, retry_after=7200, path="/events"))
        paused = make_instance(paused_api.url)
        other = make_instance(other_api.url, name="other")

        async def scenario() -> tuple[list[Any], list[Any]]:
            async with Router(
                [paused, other], dead_letters=None, retry=policy, transport=transport
            ) as r:
                refused = await r.aroute(track("u1"), only=("cs", "events"))
                delivered = await r.aroute(track("u2"), only=("other", "events"))
                return refused, delivered

        refused, delivered = asyncio.run(scenario())
        assert [(d.outcome, d.error_code, d.attempts) for d in refused] == [
            ("retryable_failure", "RETRYABLE_ERROR", 1)
        ]
        assert [(d.outcome, d.attempts) for d in delivered] == [("delivered", 1)]
        assert user_events(other_api, "u2") == ["Signed Up"]
    assert transport.refused_at is not None
    [(other_sent, _, _)] = [entry for entry in transport.sent if entry[1] != transport.sent[0][1]]
    assert other_sent < transport.refused_at + 3600  # sent while the first API was paused
