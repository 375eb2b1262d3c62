"""A request is built only from values it can carry, before anything is sent.

A header value from the payload that a header cannot carry (a line break, a control character,
a character outside ASCII) makes that event ``invalid`` at the field's pointer, and the events
after it go on: in ``run`` (a real process on a real stdin), ``serve``, ``try``, the tester and
the library. Settings and the template's own text are checked when they load. URL path
segments built from payload values are percent-encoded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from framework import DefinitionError, load_destination, load_instance
from framework.cli.main import cli
from framework.definitions.templates import header_value_refusal
from framework.emulators import ContentstackEmulator
from framework.errors import RequestBuildError
from framework.server import create_embedded_app
from framework.testing import DestinationTester
from tests.server_helpers import PROJECT, WRITE_KEY, server_config, serving

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "examples" / "contentstack.yaml"

# User IDs no header can carry, each with the reason's kind; none may reach the API.
BAD_USERS = {
    "latin-1": "josé",
    "crlf": "a\r\nx-injected: 1",
    "lf": "ann\n",
    "emoji": "ann😀",
    "nul": "a\x00b",
    "del": "a\x7fb",
    "cjk": "用户",
}


def track(user: str, name: str = "Signed Up") -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": name}


def contentstack(**settings: Any) -> Any:
    return load_instance(
        {
            "destination": "contentstack",
            "settings": {
                "personalizeProjectId": "proj",
                "personalizeEdgeApiBaseUrl": "aws-eu",
                **settings,
            },
            "mappings": [{"name": "Events", "preset": "events-sync"}],
        }
    )


@pytest.mark.parametrize("text", ["ann", "a b\tc", "!#$%&'*+-.^_`|~", "~" * 300, ""])
def test_printable_ascii_spaces_and_tabs_are_header_values(text: str) -> None:
    assert header_value_refusal(text) is None


@pytest.mark.parametrize("text", sorted(BAD_USERS.values()))
def test_anything_else_is_refused_as_a_header_value(text: str) -> None:
    assert header_value_refusal(text) is not None


@pytest.mark.parametrize("kind", sorted(BAD_USERS))
def test_a_user_id_no_header_can_carry_is_invalid_at_its_pointer(kind: str) -> None:
    [plan] = contentstack().plan(track(BAD_USERS[kind]))
    assert plan.status == "invalid"
    assert plan.request is None
    assert [(p.pointer, p.code) for p in plan.errors] == [("/userId", "REQUEST_NOT_BUILT")]
    # The message says what and where, never the value.
    assert BAD_USERS[kind].strip() not in plan.errors[0].message
    assert "x-cs-personalize-user-uid" in plan.errors[0].message


def test_the_builder_raises_with_the_field_pointer_and_reason() -> None:
    instance = contentstack()
    action = instance.destination.actions["eventsSync"]
    with pytest.raises(RequestBuildError) as caught:
        action.request.build({"userId": "josé", "event": "E"}, instance.settings)
    assert (caught.value.code, caught.value.pointer, caught.value.reason) == (
        "REQUEST_NOT_BUILT",
        "/userId",
        "HEADER_VALUE_INVALID",
    )


def test_spaces_around_a_header_value_are_trimmed_as_http_ignores_them() -> None:
    [plan] = contentstack().plan(track("  ann\t"))
    assert plan.request is not None
    assert plan.request.headers["x-cs-personalize-user-uid"] == "ann"


def test_payload_values_in_a_url_are_percent_encoded_as_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    (folder / "destination.yaml").write_text(
        """
name: Users
slug: users
settings:
  baseUrl: {label: Base URL, type: string, required: true}
actions:
  upsert:
    title: Upsert
    defaultTrigger: type = "identify"
    fields:
      userId: {label: User, type: string, required: true, default: {"@path": "$.userId"}}
    request:
      method: PUT
      url: "{{settings.baseUrl}}/users/{{payload.userId}}"
""",
        encoding="utf-8",
    )
    instance = load_instance(
        {
            "destination": str(folder),
            "settings": {"baseUrl": "https://api.example.com"},
            "mappings": [{"name": "Users", "action": "upsert"}],
        }
    )
    [plan] = instance.plan({"type": "identify", "userId": "josé/1?\r\n😀"})
    assert plan.request is not None
    assert plan.request.url == ("https://api.example.com/users/jos%C3%A9%2F1%3F%0D%0A%F0%9F%98%80")


def test_a_setting_no_header_can_carry_refuses_the_instance() -> None:
    with pytest.raises(DefinitionError) as caught:
        contentstack(personalizeProjectId="proj\r\nx-evil: 1")
    assert {(p.pointer, p.code) for p in caught.value.problems} == {
        ("/settings/personalizeProjectId", "HEADER_VALUE_INVALID")
    }
    assert "x-evil" not in str(caught.value)


def test_a_bad_header_in_the_template_refuses_the_destination(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "destination.yaml").write_text(
        """
name: Bad
slug: bad
settings: {}
actions:
  send:
    title: Send
    defaultTrigger: type = "track"
    fields: {}
    request:
      method: POST
      url: https://api.example.com/
      headers:
        "x-note": "caf\\u00e9"
        "bad name": "ok"
""",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as caught:
        load_destination(folder)
    assert {(p.pointer, p.code) for p in caught.value.problems} == {
        ("/actions/send/request/headers/x-note", "HEADER_VALUE_INVALID"),
        ("/actions/send/request/headers/bad name", "HEADER_NAME_INVALID"),
    }


def _lines(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(event, ensure_ascii=False).encode() + b"\n" for event in events)


def test_run_on_a_real_stdin_reports_bad_user_ids_and_delivers_the_rest(tmp_path: Path) -> None:
    bad = [BAD_USERS[kind] for kind in ("latin-1", "crlf", "emoji")]
    events = [event for user in bad for event in (track(user), track("bob", f"After {user!r}"))]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "framework", "run", "-", "--instance", str(INSTANCE)),
            *("--emulate", "--json", "--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
        input=_lines(*events),
        capture_output=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    report = json.loads(done.stdout)
    sent = [d for d in report["deliveries"] if d["mapping"] == "Events"]
    assert [(d["line"], d["outcome"]) for d in sent] == [
        (1, "invalid"),
        (2, "delivered"),
        (3, "invalid"),
        (4, "delivered"),
        (5, "invalid"),
        (6, "delivered"),
    ]
    for delivery in sent[::2]:
        assert [(e["pointer"], e["code"]) for e in delivery["errors"]] == [
            ("/userId", "REQUEST_NOT_BUILT")
        ]
    users = report["emulator_state"]["projects"]["example-project"]["users"]
    assert set(users) == {"bob"}
    assert len(users["bob"]["events"]) == 3


def test_try_shows_the_invalid_plan_at_the_pointer_and_exits_1() -> None:
    result = CliRunner().invoke(
        cli,
        ["try", str(INSTANCE), "-", "--json"],
        input=json.dumps(track("josé")),
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    [events] = [m for m in report["mappings"] if m["mapping"] == "Events"]
    assert events["status"] == "invalid"
    assert [(e["pointer"], e["code"]) for e in events["errors"]] == [
        ("/userId", "REQUEST_NOT_BUILT")
    ]


def test_the_tester_reports_the_event_invalid_and_sends_the_others() -> None:
    tester = DestinationTester(
        "contentstack",
        settings={"personalizeProjectId": "proj", "personalizeEdgeApiBaseUrl": "aws-eu"},
    )
    result = tester.run_action("eventsSync", [track("josé"), track("bob"), track("a\nb")])
    assert [(e.status, e.outcome) for e in result.events] == [
        ("invalid", "invalid"),
        ("ready", "delivered"),
        ("invalid", "invalid"),
    ]
    for bad in (result.events[0], result.events[2]):
        assert [(p.pointer, p.code) for p in bad.errors] == [("/userId", "REQUEST_NOT_BUILT")]
    assert [r["headers"]["x-cs-personalize-user-uid"] for r in result.requests] == ["bob"]


def test_serve_delivers_the_good_events_of_a_batch_with_a_bad_user_id(tmp_path: Path) -> None:
    with ContentstackEmulator() as api:
        app = create_embedded_app(server_config(tmp_path, api.url))
        with serving(app) as url:
            batch = [
                {"type": "track", "userId": "josé", "event": "Bad"},
                {"type": "track", "userId": "bob", "event": "Good"},
                {"type": "track", "userId": "a\r\nb", "event": "Bad"},
            ]
            answer = httpx.post(f"{url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
            assert answer.status_code == 200
            deadline = time.monotonic() + 30
            while httpx.get(f"{url}/health").json()["queue_depth"] != 0:
                assert time.monotonic() < deadline, "the queue never drained"
                time.sleep(0.02)
            server_log = [r.headers.get("x-cs-personalize-user-uid") for r in api.requests]
        state = api.state()["projects"][PROJECT]["users"]
    assert server_log == ["bob"]
    assert set(state) == {"bob"}
