"""Batches combine without losing or misrouting an event, and their shape never depends on load.

Refused combinations are a table (``tests/data/refused_batches.yaml``); the combining itself is
checked on batches of 1, 2 and many, and once end to end through the router against a
recording API on loopback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from framework import DefinitionError, Router, load_destination, load_instance
from framework.cli.main import cli
from framework.definitions import Instance, PlannedRequest, combine_requests
from framework.delivery.dispatch import Dispatcher, Pending
from framework.delivery.outcome import Delivery
from framework.delivery.retry import RetryPolicy
from framework.delivery.stats import DeliveryStats
from framework.emulators.api import Request, Response
from framework.emulators.server import EmulatorServer
from framework.errors import RequestBuildError

ROOT = Path(__file__).resolve().parents[1]
REFUSED: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "tests" / "data" / "refused_batches.yaml").read_text(encoding="utf-8")
)

FIELDS = {
    "userId": {
        "label": "User",
        "type": "string",
        "required": True,
        "default": {"@path": "$.userId"},
    },
    "email": {"label": "Email", "type": "string", "default": {"@path": "$.properties.email"}},
    "event": {"label": "Event", "type": "string", "default": {"@path": "$.event"}},
    "traits": {"label": "Traits", "type": "object", "default": {"@path": "$.properties.traits"}},
    "item": {"label": "Item", "type": "object", "default": {"@path": "$.properties.item"}},
}


def definition(request: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Batches",
        "slug": "batches",
        "settings": {"baseUrl": {"label": "Base URL", "type": "string", "required": True}},
        "actions": {
            "a": {
                "title": "A",
                "defaultTrigger": 'type = "track"',
                "fields": FIELDS,
                "request": {"method": "POST", "url": "{{settings.baseUrl}}/track", **request},
                "batch": {"key": "{{payload.userId}}", **batch},
            }
        },
    }


def write(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "batches" / "destination.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def instance_of(
    folder: Path, request: dict[str, Any], batch: dict[str, Any], url: str = "https://x.example"
) -> Instance:
    path = write(folder, definition(request, batch))
    return load_instance(
        {
            "destination": str(path),
            "settings": {"baseUrl": url},
            "mappings": [{"name": "A", "action": "a"}],
            "delivery": {"allowLoopback": True},
        }
    )


def track(user: str, name: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name, "properties": properties}


def planned(instance: Instance, event: dict[str, Any]) -> PlannedRequest:
    [plan] = instance.plan(event)
    assert plan.status == "ready", plan.errors
    assert plan.request is not None
    return plan.request


def combined(instance: Instance, events: list[dict[str, Any]]) -> Any:
    """The body the router would send for ``events`` as one batch."""
    requests = [planned(instance, event) for event in events]
    action = instance.destination.actions["a"]
    return action.request.combine(requests).json


# -- refused at load ---------------------------------------------------------------------


@pytest.mark.parametrize("case", REFUSED, ids=[case["name"] for case in REFUSED])
def test_a_batch_that_would_lose_data_is_refused_at_its_pointer(
    case: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, definition(case["request"], case["batch"]))
    with pytest.raises(DefinitionError) as caught:
        load_destination(path)
    found = {(p.pointer, p.code) for p in caught.value.problems}
    expected = {(p["pointer"], p["code"]) for p in case["problems"]}
    assert found == expected
    assert all(p.line is not None for p in caught.value.problems)


def test_actionkit_validate_refuses_it_with_the_pointer(tmp_path: Path) -> None:
    request = {"body": {"events": [{"name": {"@path": "$.payload.event"}}]}}
    path = write(tmp_path, definition(request, {"combine": "merge"}))
    result = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    assert [(p["pointer"], p["code"]) for p in report["problems"]] == [
        ("/actions/a/batch/combine", "BATCH_LOSES_DATA")
    ]


@pytest.mark.parametrize(
    ("request_", "batch"),
    [
        ({"body": {"events": [{"n": {"@path": "$.payload.event"}}]}}, {"combine": "merge"}),
        ({"url": "https://x/{{payload.email}}"}, {"combine": "concat"}),
    ],
    ids=["merge over a literal object", "no body and a URL the key does not hold"],
)
def test_a_batch_of_at_most_one_event_never_combines_so_anything_goes(
    request_: dict[str, Any], batch: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, definition(request_, {**batch, "maxCount": 1}))
    assert load_destination(path).slug == "batches"


def test_the_contentstack_batches_still_load() -> None:
    actions = load_destination("contentstack").definition.actions
    assert actions["eventsSync"].batch is not None
    assert (actions["eventsSync"].batch.combine, actions["eventsSync"].batch.path) == (
        "concat",
        None,
    )
    assert actions["customAttributesSync"].batch is not None
    assert actions["customAttributesSync"].batch.combine == "merge"


# -- combining: batches of 1, 2 and many -------------------------------------------------

OBJECT_BODY = {
    "body": {
        "user": {"@path": "$.payload.userId"},
        "source": "segment",
        "events": [{"name": {"@path": "$.payload.event"}}],
    }
}


@pytest.mark.parametrize("size", [1, 2, 50])
def test_concat_at_a_path_keeps_the_object_shape_and_every_event(size: int, tmp_path: Path) -> None:
    instance = instance_of(tmp_path, OBJECT_BODY, {"combine": "concat", "path": "/events"})
    names = [f"E{i}" for i in range(size)]
    body = combined(instance, [track("ann", name) for name in names])
    assert body == {"user": "ann", "source": "segment", "events": [{"name": n} for n in names]}
    # One event alone is sent as its own request, with the very same shape.
    assert planned(instance, track("ann", "E0")).json == {
        "user": "ann",
        "source": "segment",
        "events": [{"name": "E0"}],
    }


@pytest.mark.parametrize("size", [1, 2, 50])
def test_concat_of_whole_array_bodies_keeps_every_event_in_order(size: int, tmp_path: Path) -> None:
    request = {"body": [{"name": {"@path": "$.payload.event"}}]}
    instance = instance_of(tmp_path, request, {"combine": "concat"})
    names = [f"E{i}" for i in range(size)]
    assert combined(instance, [track("ann", n) for n in names]) == [{"name": n} for n in names]


@pytest.mark.parametrize("size", [1, 2, 50])
def test_merge_at_a_path_merges_each_events_object_the_later_winning(
    size: int, tmp_path: Path
) -> None:
    request = {
        "body": {"user": {"@path": "$.payload.userId"}, "attributes": {"@path": "$.payload.traits"}}
    }
    instance = instance_of(tmp_path, request, {"combine": "merge", "path": "/attributes"})
    events = [track("ann", "E", traits={"n": i, f"k{i}": True}) for i in range(size)]
    expected = {"n": size - 1, **{f"k{i}": True for i in range(size)}}
    assert combined(instance, events) == {"user": "ann", "attributes": expected}


def test_a_part_of_the_wrong_kind_makes_only_that_event_invalid(tmp_path: Path) -> None:
    # 'events' comes from a directive: an object where the batch concatenates arrays.
    request = {
        "body": {"user": {"@path": "$.payload.userId"}, "events": {"@path": "$.payload.item"}}
    }
    instance = instance_of(tmp_path, request, {"combine": "concat", "path": "/events"})
    [plan] = instance.plan(track("ann", "E", item={"sku": "a"}))
    assert plan.status == "invalid"
    assert [p.code for p in plan.errors] == ["REQUEST_NOT_BUILT"]
    [plan] = instance.plan(track("ann", "E"))  # no item: the part is missing
    assert plan.status == "invalid"


def test_combining_requests_of_the_wrong_shape_raises_rather_than_dropping() -> None:
    first = PlannedRequest("POST", "https://x/", {}, {"events": [1]})
    second = PlannedRequest("POST", "https://x/", {}, {"events": 2})
    with pytest.raises(RequestBuildError):
        combine_requests([first, second], "concat", "/events")
    with pytest.raises(RequestBuildError):
        combine_requests([second, PlannedRequest("POST", "https://x/", {}, [2])], "merge")
    assert combine_requests([first, first], "concat", "/events").json == {"events": [1, 1]}


# -- end to end through the router -------------------------------------------------------


class Recorder:
    """An API that answers 200 to everything and keeps each JSON body."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.bodies.append(json.loads(request.body))
        return Response(200, {"ok": True})

    def state(self) -> dict[str, Any]:
        return {"bodies": list(self.bodies)}

    def reset(self) -> None:
        self.bodies.clear()


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    api = Recorder()
    with EmulatorServer(api) as server:
        yield api, server.url


def test_the_router_sends_every_event_in_object_bodies_whatever_the_batch_sizes(
    recorder: tuple[Recorder, str], tmp_path: Path
) -> None:
    api, url = recorder
    instance = instance_of(tmp_path, OBJECT_BODY, {"combine": "concat", "path": "/events"}, url)
    events = [track(user, f"{user}-{i}") for i in range(20) for user in ("ann", "bob")]
    with Router([instance], dead_letters=None, batch_window=0.2) as router:
        deliveries = [d for found in router.route_many(events) for d in found]
    assert {d.outcome for d in deliveries} == {"delivered"}
    sent: dict[str, list[str]] = {"ann": [], "bob": []}
    for body in api.bodies:
        assert set(body) == {"user", "source", "events"}
        assert isinstance(body["events"], list)
        sent[body["user"]].extend(item["name"] for item in body["events"])
    assert sent == {user: [f"{user}-{i}" for i in range(20)] for user in ("ann", "bob")}


def test_destinations_show_names_the_batch_path(tmp_path: Path) -> None:
    path = write(tmp_path, definition(OBJECT_BODY, {"combine": "concat", "path": "/events"}))
    result = CliRunner().invoke(cli, ["destinations", "show", str(path)])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.strip().startswith("batch")]
    assert line.split()[-2:] == ["at", "/events"]


# -- batches never mix users -------------------------------------------------------------

# Two users whose batch keys render the same text: "a--b" is "a-" + "-" + "b" and
# "a" + "-" + "-b". Each user's headers name that user.
COLLIDING = [("a-", "b"), ("a", "-b")]


def colliding_definition() -> dict[str, Any]:
    fields = {
        name: {"label": name, "type": "string", "required": True, "default": {"@path": path}}
        for name, path in (("a", "$.properties.a"), ("b", "$.properties.b"), ("event", "$.event"))
    }
    return {
        "name": "Pairs",
        "slug": "pairs",
        "settings": {"baseUrl": {"label": "Base URL", "type": "string", "required": True}},
        "actions": {
            "a": {
                "title": "A",
                "defaultTrigger": 'type = "track"',
                "fields": fields,
                "request": {
                    "method": "POST",
                    "url": "{{settings.baseUrl}}/track",
                    "headers": {"x-a": "{{payload.a}}", "x-b": "{{payload.b}}"},
                    "body": [{"name": {"@path": "$.payload.event"}}],
                },
                "batch": {"key": "{{payload.a}}-{{payload.b}}", "combine": "concat"},
            }
        },
    }


def colliding_instance(folder: Path, url: str = "https://x.example") -> Instance:
    path = folder / "pairs" / "destination.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(colliding_definition(), sort_keys=False), encoding="utf-8")
    return load_instance(
        {
            "destination": str(path),
            "settings": {"baseUrl": url},
            "mappings": [{"name": "A", "action": "a"}],
            "delivery": {"allowLoopback": True},
        }
    )


def pair_event(a: str, b: str, name: str) -> dict[str, Any]:
    return {"type": "track", "userId": f"{a}|{b}", "event": name, "properties": {"a": a, "b": b}}


def test_keys_that_render_alike_are_two_groups(tmp_path: Path) -> None:
    instance = colliding_instance(tmp_path)
    [first] = instance.plan(pair_event(*COLLIDING[0], "E"))
    [second] = instance.plan(pair_event(*COLLIDING[1], "E"))
    assert first.batch_key == second.batch_key == "a--b"
    assert first.batch_group != second.batch_group
    [again] = instance.plan(pair_event(*COLLIDING[0], "F"))
    assert again.batch_group == first.batch_group


def test_requests_that_differ_outside_the_combined_part_are_cut_into_runs(
    tmp_path: Path,
) -> None:
    instance = colliding_instance(tmp_path)
    builder = instance.destination.actions["a"].request
    one, other = COLLIDING
    events = [pair_event(*one, "1"), pair_event(*one, "2"), pair_event(*other, "3")]
    events.append(pair_event(*one, "4"))
    requests = [planned(instance, event) for event in events]
    assert builder.runs(requests) == [[0, 1], [2], [3]]
    assert builder.combine(requests[:2]).json == [{"name": "1"}, {"name": "2"}]
    with pytest.raises(RequestBuildError) as caught:
        builder.combine(requests)
    assert (caught.value.code, caught.value.reason) == ("REQUEST_NOT_BUILT", "BATCH_MIXED")


@pytest.mark.parametrize(
    ("other", "differs"),
    [
        (PlannedRequest("PUT", "https://x/", {}, {"u": 1, "e": [2]}), True),
        (PlannedRequest("POST", "https://x/2", {}, {"u": 1, "e": [2]}), True),
        (PlannedRequest("POST", "https://x/", {"x-u": "2"}, {"u": 1, "e": [2]}), True),
        (PlannedRequest("POST", "https://x/", {}, {"u": True, "e": [2]}), True),
        (PlannedRequest("POST", "https://x/", {}, {"e": [2]}), True),
        (PlannedRequest("POST", "https://x/", {}, {"e": [3, 4], "u": 1}), False),
    ],
    ids=["method", "url", "headers", "true is not 1", "a key less", "only the part differs"],
)
def test_combine_requests_refuses_a_request_unlike_the_first(
    other: PlannedRequest, differs: bool
) -> None:
    first = PlannedRequest("POST", "https://x/", {}, {"u": 1, "e": [1]})
    if not differs:
        assert combine_requests([first, other], "concat", "/e").json == {"u": 1, "e": [1, 3, 4]}
        return
    with pytest.raises(RequestBuildError) as caught:
        combine_requests([first, other], "concat", "/e")
    assert caught.value.reason == "BATCH_MIXED"


class HeaderRecorder:
    """An API that answers 200 to everything and keeps each request's x-a, x-b and body."""

    def __init__(self) -> None:
        self.requests: list[tuple[tuple[str | None, str | None], Any]] = []
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._lock:
            pair = (request.header("x-a"), request.header("x-b"))
            self.requests.append((pair, json.loads(request.body)))
        return Response(200, {"ok": True})

    def state(self) -> dict[str, Any]:
        return {"requests": len(self.requests)}

    def reset(self) -> None:
        self.requests.clear()


def sent_by_pair(api: HeaderRecorder) -> dict[tuple[str | None, str | None], list[str]]:
    sent: dict[tuple[str | None, str | None], list[str]] = {}
    for pair, body in api.requests:
        sent.setdefault(pair, []).extend(item["name"] for item in body)
    return sent


def test_two_users_whose_keys_collide_get_requests_with_their_own_headers(
    tmp_path: Path,
) -> None:
    api = HeaderRecorder()
    with EmulatorServer(api) as server:
        instance = colliding_instance(tmp_path, server.url)
        events = [pair_event(a, b, f"{a}|{b}|{i}") for i in range(10) for a, b in COLLIDING]
        with Router([instance], dead_letters=None, batch_window=0.2) as router:
            deliveries = [d for found in router.route_many(events) for d in found]
    assert {d.outcome for d in deliveries} == {"delivered"}
    # Every event went under its own user's headers, in order; none under the other's.
    assert sent_by_pair(api) == {(a, b): [f"{a}|{b}|{i}" for i in range(10)] for a, b in COLLIDING}
    # Batching still happened: fewer requests than events.
    assert len(api.requests) < len(events)


def test_the_dispatcher_splits_a_lane_whose_requests_differ_whatever_the_key(
    tmp_path: Path,
) -> None:
    # The lane is forced to be shared (as a key holding too little would make it): the check
    # before combining still sends each user's events under that user's headers.
    api = HeaderRecorder()
    with EmulatorServer(api) as server:
        instance = colliding_instance(tmp_path, server.url)
        events = [pair_event(a, b, f"{a}|{b}|{i}") for a, b in COLLIDING for i in range(3)]

        async def deliver() -> list[Delivery]:
            dispatcher = Dispatcher(
                retry=RetryPolicy(),
                timeout=10.0,
                dead_letters=None,
                stats=DeliveryStats(),
                batch_window=0.2,
                transport=None,
                seed=0,
            )
            loop = asyncio.get_running_loop()
            futures = []
            for event in events:
                [plan] = instance.plan(event)
                shared = dataclasses.replace(plan, batch_group=("one lane",))
                future: asyncio.Future[Delivery] = loop.create_future()
                dispatcher.submit(Pending(instance, shared, event, future, dead_letter=False))
                futures.append(future)
            try:
                return list(await asyncio.gather(*futures))
            finally:
                await dispatcher.aclose()

        deliveries = asyncio.run(deliver())
    assert {d.outcome for d in deliveries} == {"delivered"}
    assert sent_by_pair(api) == {(a, b): [f"{a}|{b}|{i}" for i in range(3)] for a, b in COLLIDING}
    # All six were submitted before the lane first ran: one request per user's run.
    assert len(api.requests) == 2


def test_a_users_batch_is_a_run_of_consecutive_requests_of_one_mapping() -> None:
    # u1's lane holds events, events, an attributes PATCH, events, events: the PATCH ends
    # the first batch, and the events after it go in a request of their own, after it.
    log: list[tuple[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        log.append((request.method, json.loads(request.content)))
        return httpx.Response(200, json={})

    instance = load_instance(
        {
            "destination": "contentstack",
            "name": "cs",
            "settings": {
                "personalizeProjectId": "proj",
                "personalizeEdgeApiBaseUrl": "https://edge.example",
            },
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {
                    "name": "attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                },
            ],
        }
    )
    events: list[dict[str, Any]] = [
        {"type": "track", "userId": "u1", "event": "A"},
        {"type": "track", "userId": "u1", "event": "B"},
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {"type": "track", "userId": "u1", "event": "C"},
        {"type": "track", "userId": "u1", "event": "D"},
    ]

    async def scenario() -> list[list[Delivery]]:
        async with Router(
            [instance],
            dead_letters=None,
            transport=httpx.MockTransport(answer),
            batch_window=0,
        ) as router:
            return list(await asyncio.gather(*(router.aroute(event) for event in events)))

    results = asyncio.run(scenario())
    sizes = [d.batch_size for per_event in results for d in per_event if d.outcome == "delivered"]
    assert sizes == [2, 2, 1, 2, 2]
    assert log == [
        ("POST", [{"type": "EVENT", "eventKey": "A"}, {"type": "EVENT", "eventKey": "B"}]),
        ("PATCH", {"plan": "pro"}),
        ("POST", [{"type": "EVENT", "eventKey": "C"}, {"type": "EVENT", "eventKey": "D"}]),
    ]
