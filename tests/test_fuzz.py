"""Fuzzing every surface a stranger can reach: the server, `actionkit run`, and the loaders.

The promise kept here: arbitrary JSON and arbitrary bytes never give a 500 or a traceback, and
every event the server answered 200 for ends delivered, invalid with a reason, filtered, or
visible in the dead letters. The number of examples is bounded so the suite stays fast; CI
runs them derandomized (the "ci" hypothesis profile), local runs keep exploring, and
``ACTIONKIT_FUZZ_SCALE=N`` runs N times as many (a soak before a release).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.exceptions import StarletteDeprecationWarning

from framework.cli.main import cli
from framework.definitions import load_destination, load_instance
from framework.definitions.source import parse_document
from framework.delivery import DeadLetterStore, Delivery, RetryPolicy, Router
from framework.emulators import ContentstackEmulator
from framework.errors import DefinitionError
from framework.queue.consumer import ENDED_OUTCOMES, handle_entry
from framework.queue.sqlite import SqliteQueue
from framework.server import create_app
from tests.server_helpers import PROJECT, WRITE_KEY, server_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
RUN = (
    "run",
    "-",
    "--instance",
    str(ROOT / "examples" / "contentstack.yaml"),
    "--emulate",
    "--json",
)
ENDPOINTS = ("track", "identify", "page", "screen", "group", "alias", "batch", "import")
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
SEGMENT_KEYS = (
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "event",
    "name",
    "properties",
    "traits",
    "context",
    "integrations",
    "timestamp",
    "sentAt",
    "messageId",
)


def examples(default: int) -> int:
    """``default`` examples, times ``ACTIONKIT_FUZZ_SCALE`` (1 in the suite; raise it to soak)."""
    return default * int(os.environ.get("ACTIONKIT_FUZZ_SCALE", "1"))


FUZZ = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every character, lone surrogates included: json.dumps writes those as \\udxxx escapes, the
# way a buggy client would send them.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    | st.sampled_from(["", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2024-02-30", "é"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(any_text | st.sampled_from(SEGMENT_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
segment_events = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES)},
    optional={
        "userId": any_text | json_values,
        "anonymousId": any_text,
        "event": any_text | json_values,
        "previousId": any_text,
        "properties": json_values,
        "traits": json_values,
        "timestamp": json_values,
        "sentAt": json_values,
        "context": json_values,
        "integrations": json_values,
    },
)
# Events the event check accepts, with anything in their free-form parts: these reach the
# queue, the trigger, the mapping, the request and the emulator.
clean_text = st.text(max_size=12)  # no lone surrogates: those are refused at the door
clean_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | clean_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(clean_text, children, max_size=4)
    ),
    max_leaves=12,
)
identities = st.sampled_from(["u1", "user-2", "jos\u00e9", "a\r\nb", "\U0001f600", " ", "\ud800"])
plausible_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(EVENT_TYPES),
        "userId": identities | st.sampled_from(["u3", "u4"]) | clean_text,
        "event": st.sampled_from(["Signed Up", "Order Completed"]) | clean_text,
        "previousId": identities,
    },
    optional={
        "properties": st.dictionaries(clean_text, clean_values, max_size=4),
        "traits": st.dictionaries(clean_text | st.sampled_from(["email", "plan"]), clean_values),
        "context": st.dictionaries(clean_text, clean_values, max_size=3),
        "integrations": st.dictionaries(clean_text | st.just("All"), clean_values, max_size=3),
        "name": clean_text,
        "groupId": identities,
    },
)
bodies = (
    segment_events
    | json_values
    | st.fixed_dictionaries({"batch": st.lists(segment_events | json_values, max_size=5)})
)
# (endpoint, body): plausible events to the endpoint of their type, half of all requests, so
# that many get past the event check; anything else to any endpoint.
requests = (
    plausible_events.map(lambda event: (event["type"], event))
    | st.tuples(
        st.sampled_from(["batch", "import"]),
        st.fixed_dictionaries({"batch": st.lists(plausible_events, min_size=1, max_size=5)}),
    )
    | st.tuples(st.sampled_from(ENDPOINTS), bodies)
)


SKEWED = {"timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"}
REVERSED = {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"}


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Ingest:
    client: TestClient
    queue: SqliteQueue
    router: Router
    store: DeadLetterStore


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    """A server app, its queue, and a router that delivers to the Personalize emulator."""
    folder = tmp_path_factory.mktemp("fuzz-server")
    with ContentstackEmulator(project_uid=PROJECT) as emulator:
        config = server_config(folder, emulator.url)
        queue = SqliteQueue(folder / "q.sqlite")
        store = DeadLetterStore(folder / "dead.sqlite")
        router = Router(
            config.instances,
            dead_letters=store,
            retry=RetryPolicy(max_attempts=1),
            batch_window=0,
        )
        app = create_app(config, queue)
        with TestClient(app) as client:
            yield Ingest(client, queue, router, store)
            client.portal.call(queue.close)
        store.close()


def _post(client: TestClient, endpoint: str, content: bytes) -> Any:
    return client.post(
        f"/v1/{endpoint}",
        content=content,
        headers={"content-type": "application/json"},
        auth=(WRITE_KEY, ""),
    )


def _answer_is_sound(response: Any) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.text
    assert response.status_code != 500
    body = response.json()
    assert isinstance(body, dict)
    if response.status_code != 200:
        assert body.get("code"), body
        assert body.get("message"), body


async def _drain(ingest: Ingest) -> tuple[int, list[str]]:
    """Route every queued entry: how many there were, and the outcomes of their deliveries."""
    handled: list[Delivery] = []
    count = 0
    async with ingest.router:
        # Taken until none is left: the queue hands out a user's entries one run at a time
        # (an alias after other entries of its users waits for the next take).
        while entries := await ingest.queue.take(10_000, block=0):
            count += len(entries)
            for entry in entries:
                acked = await handle_entry(
                    ingest.router, ingest.queue, entry, lambda _, ds: handled.extend(ds)
                )
                assert acked, f"entry {entry.id} was given back to the queue"
    outcomes: list[str] = []
    for delivery in handled:
        outcomes.append(delivery.outcome)
        if delivery.outcome == "invalid":
            assert delivery.errors or delivery.error_message, delivery
        if delivery.outcome == "filtered":
            assert delivery.reason, delivery
        if delivery.outcome == "dead_lettered":
            assert delivery.dead_letter_id is not None
    return count, outcomes


@FUZZ
@given(request=requests)
@example(("track", {"type": "track", "userId": "\ud800", "event": "e"}))
@example(("track", {"type": "track", "userId": "u", "event": "\udfff"}))
@example(("track", {"type": "track", "userId": "jos\u00e9", "event": "e"}))
@example(("identify", {"type": "identify", "userId": "a\r\nb", "traits": {"k": 1}}))
@example(("track", {"userId": "u", "event": "e", **SKEWED}))
@example(("track", {"userId": "u", "event": "e", **REVERSED}))
def test_any_json_body_is_answered_without_500_and_every_accepted_event_ends(
    ingest: Ingest, request: tuple[str, Any]
) -> None:
    endpoint, body = request
    response = _post(ingest.client, endpoint, _json_bytes(body))
    _answer_is_sound(response)
    entries, outcomes = ingest.client.portal.call(functools.partial(_drain, ingest))
    codes = sorted({problem.get("code") for problem in response.json().get("errors", [])})
    event(f"answered {response.status_code} {codes}")
    accepted = 0
    if response.status_code == 200:
        accepted = len(body["batch"]) if endpoint in ("batch", "import") else 1
    assert entries == accepted
    assert set(outcomes) <= ENDED_OUTCOMES, outcomes
    if accepted:
        event("; ".join(sorted(set(outcomes))))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), content=st.binary(max_size=300))
def test_any_bytes_are_answered_without_500(ingest: Ingest, endpoint: str, content: bytes) -> None:
    response = _post(ingest.client, endpoint, content)
    _answer_is_sound(response)
    entries, outcomes = ingest.client.portal.call(functools.partial(_drain, ingest))
    assert set(outcomes) <= ENDED_OUTCOMES, outcomes
    assert entries == 0 or response.status_code == 200


# -- actionkit run ----------------------------------------------------------------------


_BLANK = b" \t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"
lines = st.one_of(
    bodies.map(lambda value: json.dumps(value).encode()),
    st.binary(min_size=1, max_size=80).filter(
        # One line each, with no edge whitespace (a blank line is skipped, not an event).
        lambda data: b"\n" not in data and b"\r" not in data and data.strip(_BLANK) == data
    ),
    st.sampled_from(
        [b"NaN", b'{"type":"track","userId":"u","event":NaN}', b"[" * 5000, b"1" * 5000]
    ),
)


@settings(max_examples=examples(12), deadline=None)
@given(batch=st.lists(lines, min_size=1, max_size=25))
def test_actionkit_run_accounts_for_every_line_without_a_traceback(batch: list[bytes]) -> None:
    good = b'{"type":"track","userId":"fuzz-good","event":"Fuzzed"}'
    content = b"\n".join([*batch, good]) + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        result = CliRunner().invoke(
            cli,
            [*RUN, "--dead-letters", str(Path(folder) / "dead.sqlite")],
            input=content,
            catch_exceptions=True,
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    lines_seen = {delivery["line"] for delivery in report["deliveries"]}
    assert lines_seen == set(range(1, len(batch) + 2))
    last = [d for d in report["deliveries"] if d["line"] == len(batch) + 1]
    assert any(d["outcome"] == "delivered" for d in last), last


# -- definitions and loaders -------------------------------------------------------------


def _refusal(load: Callable[[], object]) -> DefinitionError | None:
    """None when ``load`` succeeds; its DefinitionError when refused (anything else raises)."""
    try:
        load()
    except DefinitionError as exc:
        return exc
    return None


yaml_texts = st.one_of(
    json_values.map(json.dumps),
    json_values.map(lambda value: yaml.safe_dump(value, allow_unicode=True)),
    st.text(max_size=200),
    st.sampled_from(
        [
            "a: &a [1]\nb: *a\n",
            "!!python/object/apply:os.system ['true']\n",
            "- " * 3000 + "x\n",
            "[" * 10000,
            "{a: 1, a: 2}",
        ]
    ),
)


@settings(max_examples=examples(150), deadline=None)
@given(text=yaml_texts)
def test_any_text_parses_into_a_document_or_a_definition_error(text: str) -> None:
    refusal = _refusal(functools.partial(parse_document, text, "fuzz.yaml"))
    assert refusal is None or (refusal.code and refusal.problems)


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=yaml_texts, data=st.binary(max_size=64))
def test_any_file_loads_or_is_refused_with_a_definition_error(
    tmp_path: Path, text: str, data: bytes
) -> None:
    for name, content in (("t.yaml", text.encode("utf-8", "surrogatepass")), ("b.yaml", data)):
        path = tmp_path / name
        path.write_bytes(content)
        for load in (load_destination, load_instance):
            refusal = _refusal(functools.partial(load, path))
            assert refusal is None or refusal.problems, refusal


@settings(max_examples=examples(25), deadline=None)
@given(text=yaml_texts)
def test_validate_answers_any_file_with_a_report_not_a_traceback(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "destination.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        result = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
