"""The request template's settings forms, for every destination: a method setting, headers
from an object setting (headersFrom), a batch size setting (maxCountFrom) and a body signature
(sign). Checked when the definition loads and when an instance loads, each problem at its
pointer; the signature is checked against the bytes a real server on loopback receives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import Router, load_destination, load_instance
from framework.definitions.signing import body_bytes
from framework.delivery.aiohttp_sender import encode_json
from framework.errors import DefinitionError


def definition(request: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "name": "Forms",
        "slug": "forms",
        "settings": {
            "url": {"label": "URL", "type": "string"},
            "verb": {"label": "Verb", "type": "string", "default": "POST"},
            "extra": {"label": "Extra", "type": "object", "secret": True},
            "secret": {"label": "Secret", "type": "password"},
            "size": {"label": "Size", "type": "integer"},
        },
        "actions": {
            "send": {
                "title": "Send",
                "defaultTrigger": 'type = "track"',
                "fields": {
                    "event": {"label": "Event", "type": "string", "default": {"@path": "$.event"}}
                },
                "request": {"url": "{{settings.url}}", **request},
                **more,
            }
        },
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    folder = tmp_path / "forms"
    folder.mkdir(exist_ok=True)
    (folder / "destination.yaml").write_text(json.dumps(data), encoding="utf-8")
    return folder


def problems_of(tmp_path: Path, data: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        load_destination(write(tmp_path, data))
    return {(problem.pointer, problem.code) for problem in caught.value.problems}


def instance_problems(folder: Path, settings: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        load_instance({"destination": str(folder), "settings": settings})
    return {(problem.pointer, problem.code) for problem in caught.value.problems}


BODY = {"event": {"@path": "$.payload.event"}}


@pytest.mark.parametrize(
    ("request_part", "more", "expected"),
    [
        ({"method": "FETCH"}, {}, ("/actions/send/request/method", "SCHEMA")),
        ({"method": "{{payload.event}}"}, {}, ("/actions/send/request/method", "TEMPLATE_INVALID")),
        (
            {"method": "POST", "headersFrom": "x-{{settings.extra}}"},
            {},
            ("/actions/send/request/headersFrom", "TEMPLATE_INVALID"),
        ),
        (
            {
                "method": "POST",
                "body": BODY,
                "sign": {"header": "bad name", "secret": "{{settings.secret}}"},
            },
            {},
            ("/actions/send/request/sign/header", "HEADER_NAME_INVALID"),
        ),
        (
            {
                "method": "POST",
                "headers": {"X-Signature": "x"},
                "body": BODY,
                "sign": {"header": "x-signature", "secret": "{{settings.secret}}"},
            },
            {},
            ("/actions/send/request/sign/header", "HEADER_NAME_INVALID"),
        ),
        (
            {
                "method": "POST",
                "body": BODY,
                "sign": {"header": "x-sig", "secret": "{{payload.event}}"},
            },
            {},
            ("/actions/send/request/sign/secret", "TEMPLATE_INVALID"),
        ),
        (
            {"method": "POST", "body": [BODY]},
            {
                "batch": {
                    "key": "{{settings.url}}",
                    "combine": "concat",
                    "maxCountFrom": "{{payload.event}}",
                }
            },
            ("/actions/send/batch/maxCountFrom", "TEMPLATE_INVALID"),
        ),
    ],
)
def test_a_form_written_wrong_refuses_the_definition_at_its_pointer(
    tmp_path: Path, request_part: dict[str, Any], more: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in problems_of(tmp_path, definition(request_part, **more))


def test_secret_is_for_settings_only(tmp_path: Path) -> None:
    data = definition({"method": "POST"})
    data["actions"]["send"]["fields"]["event"]["secret"] = True
    assert ("/actions/send/fields/event/secret", "SECRET_NOT_ALLOWED") in problems_of(
        tmp_path, data
    )


def test_a_method_setting_must_hold_a_method(tmp_path: Path) -> None:
    folder = write(tmp_path, definition({"method": "{{settings.verb}}"}))
    url = "https://api.example.com/in"
    assert ("/settings/verb", "METHOD_INVALID") in instance_problems(
        folder, {"url": url, "verb": "post"}
    )
    instance = load_instance(
        {"destination": str(folder), "settings": {"url": url, "verb": "DELETE"}}
    )
    builder = instance.destination.actions["send"].request
    assert builder.build({"event": "E"}, instance.settings).method == "DELETE"


def test_headers_from_a_setting_are_checked_name_by_name(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        definition(
            {"method": "POST", "headers": {"x-fixed": "1"}, "headersFrom": "{{settings.extra}}"}
        ),
    )
    url = "https://api.example.com/in"
    found = instance_problems(
        folder,
        {
            "url": url,
            "extra": {"bad name": "v", "X-Fixed": "2", "x-num": 3, "x-nl": "a\nb", "é": "v"},
        },
    )
    assert found == {
        ("/settings/extra/bad name", "HEADER_NAME_INVALID"),
        ("/settings/extra/X-Fixed", "HEADER_NAME_INVALID"),
        ("/settings/extra/x-num", "HEADER_VALUE_INVALID"),
        ("/settings/extra/x-nl", "HEADER_VALUE_INVALID"),
        ("/settings/extra/é", "HEADER_NAME_INVALID"),
    }


def test_headers_from_a_secret_setting_are_sent_and_masked(tmp_path: Path) -> None:
    folder = write(tmp_path, definition({"method": "POST", "headersFrom": "{{settings.extra}}"}))
    instance = load_instance(
        {
            "destination": str(folder),
            "settings": {
                "url": "https://api.example.com/in",
                "extra": {"X-Key": "v4lue", "x-e": " "},
            },
            "mappings": [{"name": "All", "action": "send"}],
        }
    )
    [planned] = instance.plan({"type": "track", "userId": "u", "event": "E"})
    assert planned.request is not None
    assert planned.request.headers == {"x-key": "v4lue"}
    assert "v4lue" not in json.dumps(planned.to_dict()) + repr(planned)
    assert instance.redacted_settings()["extra"] == "[REDACTED]"


def test_a_batch_size_setting_must_fit_the_action(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        definition(
            {"method": "POST", "body": [BODY]},
            batch={
                "key": "{{settings.url}}",
                "maxCount": 10,
                "combine": "concat",
                "maxCountFrom": "{{settings.size}}",
            },
        ),
    )
    url = "https://api.example.com/in"
    for size in (0, 11):
        assert ("/settings/size", "BATCH_SIZE_INVALID") in instance_problems(
            folder, {"url": url, "size": size}
        )
    instance = load_instance({"destination": str(folder), "settings": {"url": url, "size": 3}})
    builder = instance.destination.actions["send"].request
    requests = [builder.build({"event": str(n)}, instance.settings) for n in range(7)]
    assert builder.runs(requests) == [[0, 1, 2], [3, 4, 5], [6]]


def test_no_signature_without_a_secret_or_a_body(tmp_path: Path) -> None:
    sign = {"header": "x-sig", "secret": "{{settings.secret}}"}
    folder = write(tmp_path, definition({"method": "POST", "body": BODY, "sign": sign}))
    instance = load_instance(
        {"destination": str(folder), "settings": {"url": "https://a.example.com"}}
    )
    builder = instance.destination.actions["send"].request
    assert "x-sig" not in builder.build({"event": "E"}, instance.settings).headers
    assert "x-sig" not in builder.build({"event": "E"}, {**instance.settings, "secret": ""}).headers
    bodiless = write(tmp_path, definition({"method": "POST", "sign": sign}))
    instance = load_instance(
        {"destination": str(bodiless), "settings": {"url": "https://a.example.com"}}
    )
    builder = instance.destination.actions["send"].request
    assert (
        "x-sig" not in builder.build({"event": "E"}, {**instance.settings, "secret": "s"}).headers
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(value=JSON.filter(lambda value: value is not None))
def test_the_signed_bytes_are_the_bytes_the_delivery_and_httpx_send(value: Any) -> None:
    # (None is no body at all: nothing is signed.)
    signed = body_bytes(value)
    assert signed == encode_json(value)
    assert signed == httpx.Request("POST", "https://a.example.com", json=value).content


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def capture() -> Iterator[str]:
    _Capture.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_signature_is_the_hmac_of_the_bytes_received(capture: str) -> None:
    instance = load_instance(
        {
            "destination": "webhook",
            "settings": {"url": f"{capture}/in", "sharedSecret": "shh"},
            "mappings": [
                {"name": "All", "action": "send", "mapping": {"data": {"@path": "$.properties"}}}
            ],
            "delivery": {"allowLoopback": True},
        }
    )
    event = {
        "type": "track",
        "userId": "u",
        "event": "E",
        "properties": {"name": "José ✓", "n": 1.5},
    }
    with Router([instance]) as router:
        [delivery] = router.route(event)
    assert delivery.outcome == "delivered"
    [(headers, body)] = _Capture.received
    assert json.loads(body) == event["properties"]
    assert headers["x-signature"] == hmac.new(b"shh", body, hashlib.sha1).hexdigest()
