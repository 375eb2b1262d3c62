"""The one rule for event JSON (``framework.event_json``), alone and at every edge using it.

Each case is a document that once made ``actionkit run`` abort with a traceback, or the server
answer 500, or was accepted though the server refused it. Here each is refused with
``EVENT_JSON_INVALID`` and a ``reason``, at its location: by the module, by ``actionkit run``
(tests/test_cli_run.py), by ``try``, ``map`` and ``trigger``, by the server's app, and by
the queue's codec.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from framework import event_json
from framework.cli.main import cli
from framework.errors import EventError, EventJsonError, InputError
from framework.event_json import MAX_DEPTH, MAX_NUMBER_CHARS, decode_event_json
from framework.queue.base import QueuedEvent
from framework.queue.codec import decode_item, encode_item
from framework.queue.sqlite import SqliteQueue
from framework.server import create_app
from framework.sync.values import check_value
from tests.server_helpers import WRITE_KEY, server_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "examples" / "contentstack.yaml"


def nested(depth: int) -> bytes:
    """A track event whose ``properties.x`` nests arrays so that the whole is ``depth`` deep."""
    inner = depth - 2  # the event and its properties are two levels
    return (
        b'{"type": "track", "userId": "u1", "event": "A", "properties": {"x": '
        + b"[" * inner
        + b"]" * inner
        + b"}}"
    )


# (id, document, reason, pointer or None, byte offset or None)
REFUSED: list[tuple[str, bytes, str, str | None, int | None]] = [
    ("invalid-utf8", b'{"userId": "a\xffb"}', "NOT_UTF8", None, 13),
    ("encoded-surrogate", b'{"userId": "\xed\xa0\x80"}', "NOT_UTF8", None, 12),
    ("truncated-utf8", b'{"userId": "\xc3', "NOT_UTF8", None, 12),
    ("bom", b'\xef\xbb\xbf{"a": 1}', "SYNTAX", None, 0),
    ("syntax", b'{"a": 1,}', "SYNTAX", None, 8),
    ("empty", b"", "SYNTAX", None, 0),
    ("nan", b'{"a": [1, NaN]}', "NON_FINITE_NUMBER", "/a/1", None),
    ("infinity", b'{"a": Infinity}', "NON_FINITE_NUMBER", "/a", None),
    ("minus-infinity", b"-Infinity", "NON_FINITE_NUMBER", "", None),
    ("overflowing-double", b'{"total": 1e999}', "NON_FINITE_NUMBER", "/total", None),
    ("long-integer", b'{"id": ' + b"9" * 5000 + b"}", "NUMBER_TOO_LONG", "/id", None),
    ("long-fraction", b'{"x": 0.' + b"1" * 200 + b"}", "NUMBER_TOO_LONG", "/x", None),
    ("lone-high", b'{"userId": "\\ud800"}', "LONE_SURROGATE", "/userId", None),
    ("lone-low", b'{"p": {"e": "x\\uDC00y"}}', "LONE_SURROGATE", "/p/e", None),
    ("reversed-pair", b'["\\udc00\\ud800"]', "LONE_SURROGATE", "/0", None),
    ("lone-in-key", b'{"p": {"\\ud800": 1}}', "LONE_SURROGATE", "/p", None),
    ("deep-10000", b"[" * 10_000 + b"]" * 10_000, "TOO_DEEP", None, MAX_DEPTH),
    ("deep-by-one", nested(MAX_DEPTH + 1), "TOO_DEEP", None, None),
    ("deep-unclosed", b'{"a": ' + b"[" * 100_000, "TOO_DEEP", None, 6 + MAX_DEPTH - 1),
]


@pytest.mark.parametrize(
    ("raw", "reason", "pointer", "offset"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_each_broken_rule_is_refused_with_its_reason_and_location(
    raw: bytes, reason: str, pointer: str | None, offset: int | None
) -> None:
    with pytest.raises(EventJsonError) as caught:
        decode_event_json(raw)
    error = caught.value
    assert (error.code, error.reason) == ("EVENT_JSON_INVALID", reason)
    assert isinstance(error, EventError)
    assert isinstance(error, InputError)
    if pointer is not None:
        assert (error.pointer, error.offset) == (pointer, None)
    if offset is not None:
        assert error.offset == offset
        assert (error.line, error.column) == (1, offset + 1)


def test_a_message_names_no_value_of_the_event() -> None:
    secret = "s3cr3t-value"
    for raw in [
        f'{{"token": "{secret}", "n": NaN}}'.encode(),
        f'{{"token": "{secret}\\ud800"}}'.encode(),
        f'{{"token": "{secret}", "n": {"1" * 200}}}'.encode(),
        f'{{"token": "{secret}" oops}}'.encode(),
    ]:
        with pytest.raises(EventJsonError) as caught:
            decode_event_json(raw)
        assert secret not in str(caught.value)


def test_lines_and_columns_count_from_the_line_given() -> None:
    with pytest.raises(EventJsonError) as caught:
        decode_event_json(b'{\n  "a": 1,\n  "b": \xff\n}', line=10)
    assert (caught.value.line, caught.value.column, caught.value.offset) == (12, 8, 19)
    with pytest.raises(EventJsonError) as caught:
        decode_event_json('{"é": 1,\n "x": }'.encode(), line=3)
    assert (caught.value.reason, caught.value.line, caught.value.column) == ("SYNTAX", 4, 7)


ACCEPTED: list[tuple[str, bytes, Any]] = [
    ("event", b'{"type": "track", "userId": "u1"}', {"type": "track", "userId": "u1"}),
    ("surrogate-pair", b'{"e": "\\ud83d\\ude00"}', {"e": "\U0001f600"}),
    ("escaped-backslash-then-u", b'["\\\\ud800"]', ["\\ud800"]),
    ("raw-astral", '["\U0001f600"]'.encode(), ["\U0001f600"]),
    ("brackets-in-strings", b'{"a": "' + b"[{" * 200 + b'"}', {"a": "[{" * 200}),
    ("escaped-quote-then-brackets", b'["\\"[[[", "\\\\"]', ['"[[[', "\\"]),
    ("longest-number", b"[" + b"9" * MAX_NUMBER_CHARS + b"]", [int("9" * MAX_NUMBER_CHARS)]),
    ("large-double", b"[1.7976931348623157e308]", [1.7976931348623157e308]),
    ("underflow-is-zero", b"[1e-999]", [0.0]),
    ("scalar", b"42", 42),
    ("whitespace", b' \t\r\n{"a": null}\r\n', {"a": None}),
]


@pytest.mark.parametrize(
    ("raw", "value"), [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED]
)
def test_strict_json_within_the_limits_decodes_as_json_does(raw: bytes, value: Any) -> None:
    assert decode_event_json(raw) == value


def test_the_deepest_event_accepted_is_max_depth() -> None:
    event = decode_event_json(nested(MAX_DEPTH))
    assert event["type"] == "track"


def test_a_longer_depth_is_for_a_wrapper_of_events_only() -> None:
    wrapped = b'{"event": ' + nested(MAX_DEPTH) + b"}"
    with pytest.raises(EventJsonError):
        decode_event_json(wrapped)
    assert decode_event_json(wrapped, max_depth=MAX_DEPTH + 1)["event"]["userId"] == "u1"


REASONS = {
    "NOT_UTF8",
    "SYNTAX",
    "TOO_DEEP",
    "NUMBER_TOO_LONG",
    "NON_FINITE_NUMBER",
    "LONE_SURROGATE",
}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_the_rules_error(raw: bytes) -> None:
    reason = None
    try:
        decode_event_json(raw)
    except EventJsonError as exc:
        reason = exc.reason
    assert reason in {None, *REASONS}


JSON_ISH = st.lists(
    st.sampled_from(
        [
            *("[", "]", "{", "}", '"', "\\", "\\u", "d800", "dc00", ":", ",", "1", "e999"),
            *("NaN", "-", ".", " ", "\n", '"a"', "null", "\udcff", "é", "9" * 60),
        ]
    ),
    max_size=60,
).map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape"))


@settings(max_examples=300, deadline=None)
@given(JSON_ISH)
def test_near_json_decodes_to_strict_json_or_raises_the_rules_error(raw: bytes) -> None:
    try:
        value = decode_event_json(raw)
    except EventJsonError:
        return
    # What decodes can be written back as strict UTF-8 JSON, and reads back the same.
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    assert decode_event_json(text.encode("utf-8")) == value


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_within_the_limits_round_trips(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    surrogates = any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False))
    try:
        decoded = decode_event_json(raw)
    except EventJsonError as exc:
        reason = exc.reason
    else:
        reason = None
    if surrogates:
        assert reason == "NOT_UTF8"
        return
    assert reason is None
    assert decoded == value


# -- the server ----------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, SqliteQueue]]:
    config = server_config(tmp_path, "http://127.0.0.1:9")
    queue = SqliteQueue(tmp_path / "q.sqlite")

    @asynccontextmanager
    async def closing(app: Starlette) -> AsyncIterator[None]:
        yield
        await queue.close()

    with TestClient(create_app(config, queue, lifespan=closing)) as test_client:
        yield test_client, queue


def post(test_client: TestClient, path: str, content: bytes) -> Any:
    return test_client.post(
        path,
        content=content,
        auth=(WRITE_KEY, ""),
        headers={"Content-Type": "application/json"},
    )


def queued(test_client: TestClient, queue: SqliteQueue) -> list[Any]:
    entries = test_client.portal.call(functools.partial(queue.take, 100, block=0))
    return [entry.item.event for entry in entries]


SERVER_CASES = [case for case in REFUSED if len(case[1]) < 32_000]


@pytest.mark.parametrize(
    ("raw", "reason", "pointer"),
    [(raw, reason, pointer) for _, raw, reason, pointer, _ in SERVER_CASES],
    ids=[case[0] for case in SERVER_CASES],
)
def test_the_server_refuses_each_broken_rule_with_400_and_its_reason(
    client: tuple[TestClient, SqliteQueue], raw: bytes, reason: str, pointer: str | None
) -> None:
    test_client, queue = client
    answer = post(test_client, "/v1/track", raw)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["success"], body["code"]) == (False, "INVALID_JSON")
    [problem] = body["errors"]
    assert problem["code"] == reason
    if pointer is not None:
        assert problem["pointer"] == pointer
    assert queued(test_client, queue) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/track", b'{"userId": "\\ud800", "event": "A"}'),
        ("/v1/track", b'{"userId": "u1", "event": "\\udfff"}'),
        ("/v1/batch", b'{"batch": [{"type": "track", "userId": "u1", "event": "\\ud800"}]}'),
    ],
    ids=["userId", "event", "in-batch"],
)
def test_a_lone_surrogate_in_an_event_is_400_not_500(
    client: tuple[TestClient, SqliteQueue], path: str, body: bytes
) -> None:
    test_client, queue = client
    answer = post(test_client, path, body)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "LONE_SURROGATE"
    assert queued(test_client, queue) == []


def test_the_deepest_event_is_accepted_queued_and_read_back(
    client: tuple[TestClient, SqliteQueue],
) -> None:
    test_client, queue = client
    answer = post(test_client, "/v1/track", nested(MAX_DEPTH))
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    [event] = queued(test_client, queue)
    assert event["userId"] == "u1"


def test_a_surrogate_pair_is_accepted_and_kept(client: tuple[TestClient, SqliteQueue]) -> None:
    test_client, queue = client
    answer = post(test_client, "/v1/track", b'{"userId": "\\ud83d\\ude00", "event": "A"}')
    assert answer.status_code == 200
    [event] = queued(test_client, queue)
    assert event["userId"] == "\U0001f600"


# -- the queue's codec ---------------------------------------------------------------------


def test_the_codec_reads_back_the_deepest_event() -> None:
    event = decode_event_json(nested(MAX_DEPTH))
    item = QueuedEvent(event, ("personalize",))
    assert decode_item(encode_item(item)) == item


@pytest.mark.parametrize(
    "text",
    [
        '{"event": {"a": "\ud800"}, "instances": []}',
        '{"event": {"a": NaN}, "instances": []}',
        '{"event": ' + "[" * 5000 + "]" * 5000 + ', "instances": []}',
        '{"event": {"n": ' + "1" * 5000 + '}, "instances": []}',
        "[1]",
    ],
    ids=["lone-surrogate", "nan", "deep", "long-number", "not-an-item"],
)
def test_the_codec_sets_aside_what_breaks_the_rule(text: str) -> None:
    assert decode_item(text) is None


# -- try, map and trigger ------------------------------------------------------------------

COMMANDS = {
    "try": ["try", str(INSTANCE)],
    "map": ["map", str(ROOT / "examples" / "mappings" / "order-completed.json")],
    "trigger": ["trigger", 'type = "track"'],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason, _, _ in REFUSED[::3]],
    ids=[case[0] for case in REFUSED[::3]],
)
def test_an_event_file_breaking_the_rule_is_a_file_that_cannot_be_parsed(
    tmp_path: Path, command: str, raw: bytes, reason: str
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(raw)
    for source, stdin in ((str(event), None), ("-", raw)):
        result = CliRunner().invoke(cli, [*COMMANDS[command], source, "--json"], input=stdin)
        assert result.exit_code == 2, result.output
        assert f"[{reason}]" in result.stderr
        assert result.stdout == ""
        assert result.exception is None or isinstance(result.exception, SystemExit)


YAML_EVENTS = [
    ("nan", "type: track\nuserId: u\nevent: e\nproperties: {n: .nan}\n", "NON_FINITE_NUMBER"),
    ("lone-surrogate", 'type: track\nuserId: "\\ud800"\nevent: e\n', "LONE_SURROGATE"),
    ("deep", "a: " + "[" * 200 + "]" * 200 + "\n", "TOO_DEEP"),
    (
        "alias-bomb",
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
            for i in range(6)
        ),
        "TOO_MANY_VALUES",
    ),
    ("tag", "a: !!python/object:os.system x\n", "UNSUPPORTED_TAG"),
]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("text", "reason"), [case[1:] for case in YAML_EVENTS], ids=[case[0] for case in YAML_EVENTS]
)
def test_a_yaml_event_file_is_held_to_the_same_rule_and_limits(
    tmp_path: Path, command: str, text: str, reason: str
) -> None:
    event = tmp_path / "event.yaml"
    event.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, [*COMMANDS[command], str(event), "--json"])
    assert result.exit_code == 2, result.output
    assert f"[{reason}]" in result.stderr
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_yaml_event_file_with_a_date_reads_it_as_an_iso_string(tmp_path: Path) -> None:
    event = tmp_path / "event.yaml"
    event.write_text("type: track\nuserId: u\nevent: e\ntimestamp: 2024-01-02\n")
    result = CliRunner().invoke(cli, ["trigger", 'timestamp = "2024-01-02"', str(event), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matches"] is True


# -- a sync's list values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["[" * 100_000, "[NaN]", "[" + "1" * 5000 + "]", '["\ud800"]'],
    ids=["deep", "nan", "long-number", "lone-surrogate"],
)
def test_a_sync_cell_breaking_the_rule_is_not_a_list(cell: str) -> None:
    converted, problem = check_value("tags", "list", cell)
    assert converted is None
    assert problem is not None


def test_a_sync_cell_holding_a_json_array_is_a_list() -> None:
    assert check_value("tags", "list", '["a", 1, 2.5]') == (["a", 1, 2.5], None)


def test_a_leading_byte_order_mark_is_named_plainly() -> None:
    with pytest.raises(EventJsonError) as caught:
        decode_event_json(b'\xef\xbb\xbf{"a": 1}')
    assert caught.value.reason == "SYNTAX"
    assert "byte order mark" in caught.value.message
    assert "utf-8-sig" not in caught.value.message


# -- the depth check's shortcut decides as the token scan does --------------------------------

TRICKY_TEXT = st.text(alphabet='[]{}"\\a', max_size=6)
NESTED_JSON = st.recursive(
    st.none() | st.integers(0, 9) | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=12,
).map(lambda value: json.dumps(value, ensure_ascii=False))


def scanned_depth(text: str) -> int:
    """The deepest nesting of brackets outside strings, token by token (the exact rule)."""
    depth = deepest = 0
    for match in event_json._TOKENS.finditer(text):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(match.group(), 0)
        deepest = max(deepest, depth)
    return deepest


def test_brackets_inside_strings_never_count_toward_the_depth() -> None:
    # Outside strings 3 deep; counting the strings' brackets too would give 2.
    text = '[["]",[],"["]]'
    assert scanned_depth(text) == 3
    with pytest.raises(EventJsonError):
        event_json._check_depth(text, text.encode(), 1, 2)
    event_json._check_depth(text, text.encode(), 1, 3)


@settings(max_examples=500, deadline=None)
@given(NESTED_JSON, st.integers(0, 6))
def test_the_depth_check_refuses_exactly_what_the_token_scan_finds_too_deep(
    text: str, limit: int
) -> None:
    if scanned_depth(text) > limit:
        with pytest.raises(EventJsonError, match="more than") as refused:
            event_json._check_depth(text, text.encode(), 1, limit)
        assert refused.value.reason == "TOO_DEEP"
    else:
        event_json._check_depth(text, text.encode(), 1, limit)


# -- orjson reads what the json reading reads --------------------------------------------------


def json_reading(raw: bytes) -> tuple[str, Any]:
    """``decode_event_json`` without orjson: ("ok", value) or ("refused", reason)."""
    original = event_json.orjson
    event_json.orjson = None
    try:
        return outcome(raw)
    finally:
        event_json.orjson = original


def outcome(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", decode_event_json(raw)
    except EventJsonError as exc:
        return "refused", exc.reason


NUMBERISH = st.lists(
    st.sampled_from(
        [
            *("[", "]", "{", "}", ",", ":", '"k"', "-", ".", "e", "E", "+", "0", "1", "9"),
            *("9" * 19, "1" * 18, "18446744073709551615", "9223372036854775808", "1e400"),
            *("NaN", "Infinity", '"\\ud800"', '"\\ud83d\\ude00"', '"\\udc00"', " ", "true"),
            # digit runs inside strings, after escapes that look like a string's end
            *('"' + "7" * 20 + '"', '"\\"' + "8" * 19, '"\\\\"', '"'),
        ]
    ),
    max_size=30,
).map(lambda parts: "".join(parts).encode())


@settings(max_examples=500, deadline=None)
@given(st.one_of(JSON_ISH, NUMBERISH))
def test_orjson_reads_near_json_as_the_json_reading_does(raw: bytes) -> None:
    assert outcome(raw) == json_reading(raw)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_orjson_reads_json_values_as_the_json_reading_does(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    read, expected = outcome(raw), json_reading(raw)
    assert read == expected
    if read[0] == "ok":  # the same types too: 1 and 1.0 compare equal
        assert repr(read[1]) == repr(expected[1])
