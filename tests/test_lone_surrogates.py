"""An event holding a lone surrogate (JSON's ``"\\ud800"``) is delivered, stored and shown.

UTF-8 cannot carry a lone surrogate, so each place that writes text escapes it instead of
failing: request bodies (and their signatures) escape non-ASCII characters, as JavaScript's
``JSON.stringify`` escapes lone surrogates; the dead-letter store keeps the letter; the
command line writes ``\\ud800`` (in JSON output, the very value).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from framework import Router, load_instance
from framework.definitions.signing import body_bytes
from framework.delivery.aiohttp_sender import encode_json
from framework.delivery.deadletter import DeadLetter, DeadLetterStore
from framework.emulators import ContentstackEmulator
from framework.emulators.faults import Fault

EVENT_TEXT = (
    '{"type": "identify", "userId": "u1", "messageId": "m\\ud800",'
    ' "traits": {"plan": "\\ud800x\\u00e9", "name": "Zo\\u00eb"}}'
)


def instance(url: str) -> Any:
    return load_instance(
        {
            "destination": "contentstack",
            "name": "lone",
            "settings": {"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": url},
            "mappings": [
                {
                    "name": "attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                }
            ],
            "delivery": {"allowLoopback": True},
        }
    )


def test_a_body_with_a_lone_surrogate_is_escaped_and_reads_back_the_same() -> None:
    value = json.loads('{"a": "\\ud800", "b": "\\u00e9", "c": [1.5, null]}')
    sent = body_bytes(value)
    assert sent == b'{"a":"\\ud800","b":"\\u00e9","c":[1.5,null]}'
    assert json.loads(sent) == value
    assert encode_json(value) == sent  # the body sent is the body signed
    assert body_bytes({"b": "\u00e9"}) == '{"b":"\u00e9"}'.encode()  # otherwise UTF-8


def test_the_router_delivers_it_and_dead_letters_it_when_refused(tmp_path: Path) -> None:
    event = json.loads(EVENT_TEXT)
    store = tmp_path / "dead.sqlite"
    with ContentstackEmulator(project_uid="proj") as api:
        with Router([instance(api.url)], dead_letters=store) as router:
            (delivered,) = router.route(event)
        assert delivered.outcome == "delivered"
        assert api.requests[-1].body == {"plan": "\ud800x\u00e9", "name": "Zo\u00eb"}
        api.inject(Fault(kind="status", status=400))
        with Router([instance(api.url)], dead_letters=store) as router:
            (refused,) = router.route(event)
    assert refused.outcome == "dead_lettered"
    with DeadLetterStore(store) as letters:
        (letter,) = letters.list()
    assert letter.event == event
    assert letter.message_id == "m\ud800"  # read from the event, as it came


def test_the_store_keeps_a_letter_whatever_its_text(tmp_path: Path) -> None:
    event = json.loads(EVENT_TEXT)
    with DeadLetterStore(tmp_path / "dead.sqlite") as letters:
        letters.add(
            DeadLetter(
                instance="lone",
                mapping="attributes",
                action="customAttributesSync",
                event=event,
                error_code="INTEGRATION_ERROR",
                error_message="The API answered 400: \udcff",
                status=400,
                attempts=1,
                request={"json": {"plan": "\ud800"}},
            )
        )
        (letter,) = letters.list()
    assert letter.event == event
    assert letter.request == {"json": {"plan": "\ud800"}}
    assert letter.error_message == "The API answered 400: \\udcff"


def test_the_command_line_shows_it_as_its_escape(tmp_path: Path) -> None:
    store = tmp_path / "dead.sqlite"
    event = json.loads(EVENT_TEXT)
    with ContentstackEmulator(project_uid="proj") as api:
        api.inject(Fault(kind="status", status=400))
        with Router([instance(api.url)], dead_letters=store) as router:
            router.route(event)
    command = [sys.executable, "-m", "framework", "dlq"]
    listed = subprocess.run(
        [*command, "list", "--store", str(store)], capture_output=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr.decode(errors="replace")
    assert b"m\\ud800" in listed.stdout
    shown = subprocess.run(
        [*command, "show", "1", "--store", str(store), "--json"], capture_output=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert json.loads(shown.stdout)["event"] == event
