"""The mapping test harness: make_test_event, DestinationTester, assert_request, fixtures."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.definitions.events import EventChecker
from framework.errors import DefinitionError
from framework.testing import (
    DestinationTester,
    assert_request,
    make_test_event,
    request_diff,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
WEBHOOK = ROOT / "tests" / "fixtures" / "destinations" / "webhook"
CONTENTSTACK_SETTINGS = {
    "personalizeProjectId": "proj-1",
    "personalizeEdgeApiBaseUrl": "https://edge.example",
}


@pytest.fixture
def contentstack() -> DestinationTester:
    return DestinationTester("contentstack", settings=CONTENTSTACK_SETTINGS)


# -- make_test_event ---------------------------------------------------------------------------


def test_test_event_has_segments_create_test_event_defaults() -> None:
    event = make_test_event()
    varying = {key: event.pop(key) for key in ("messageId", "timestamp", "sentAt", "receivedAt")}
    assert event == {
        "anonymousId": "anonId1234",
        "context": {
            "ip": "8.8.8.8",
            "library": {"name": "analytics.js", "version": "2.11.1"},
            "locale": "en-US",
            "location": {
                "city": "San Francisco",
                "country": "United States",
                "latitude": 40.2964197,
                "longitude": -76.9411617,
                "speed": 0,
            },
            "page": {
                "path": "/academy/",
                "referrer": "",
                "search": "",
                "title": "Analytics Academy",
                "url": "https://segment.com/academy/",
            },
            "timezone": "Europe/Amsterdam",
            "userAgent": (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 9_1 like Mac OS X) AppleWebKit/601.1.46 "
                "(KHTML, like Gecko) Version/9.0 Mobile/13B143 Safari/601.1"
            ),
        },
        "event": "Test Event",
        "properties": {},
        "traits": {},
        "type": "track",
        "userId": "user1234",
    }
    assert uuid.UUID(varying["messageId"]).version == 4
    for key in ("timestamp", "sentAt", "receivedAt"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", varying[key])
        datetime.fromisoformat(varying[key])


def test_test_event_matches_segments_own_source(peer_dir: Path) -> None:
    source = peer_dir / "node_modules/@segment/actions-core/dist/cjs/create-test-event.js"
    text = source.read_text(encoding="utf-8")
    event = make_test_event()
    for value in ("anonId1234", "user1234", "Test Event", "8.8.8.8", "2.11.1", "Europe/Amsterdam"):
        assert f"'{value}'" in text
    assert f"userAgent: '{event['context']['userAgent']}'" in text
    assert f"title: '{event['context']['page']['title']}'" in text


def test_each_test_event_is_new_and_a_valid_segment_event() -> None:
    first, second = make_test_event(), make_test_event()
    assert first["messageId"] != second["messageId"]
    first["context"]["ip"] = "1.1.1.1"
    assert second["context"]["ip"] == "8.8.8.8"
    assert EventChecker().problems(first) == []


def test_test_event_overrides_replace_top_level_keys_whole() -> None:
    event = make_test_event(type="identify", context={"ip": "1.2.3.4"}, userId=None)
    assert event["type"] == "identify"
    assert event["context"] == {"ip": "1.2.3.4"}
    assert event["userId"] is None
    assert event["anonymousId"] == "anonId1234"


# -- run_action ----------------------------------------------------------------------------------


def test_run_action_returns_the_payload_and_the_request(contentstack: DestinationTester) -> None:
    result = contentstack.run_action("eventsSync", make_test_event(event="Signed Up"))
    assert (result.status, result.outcome) == ("ready", "delivered")
    assert result.payload == {"userId": "user1234", "event": "Signed Up"}
    assert result.errors == ()
    assert result.request == {
        "method": "POST",
        "url": "https://edge.example/events",
        "headers": {
            "x-project-uid": "proj-1",
            "x-cs-personalize-user-uid": "user1234",
            "content-type": "application/json",
        },
        "json": [{"type": "EVENT", "eventKey": "Signed Up"}],
    }


def test_run_action_skips_the_trigger(contentstack: DestinationTester) -> None:
    # mergeUsers is triggered by alias calls; run_action runs it on a track call anyway.
    result = contentstack.run_action("mergeUsers", make_test_event(previousId="p1"))
    assert result.payload == {"previousId": "p1", "userId": "user1234"}


def test_a_mapping_goes_over_the_default_mapping(contentstack: DestinationTester) -> None:
    event = make_test_event(properties={"key": "k1"})
    result = contentstack.run_action(
        "eventsSync", event, mapping={"event": {"@path": "$.properties.key"}}
    )
    assert result.payload == {"userId": "user1234", "event": "k1"}


def test_without_default_mappings_only_the_mapping_is_used(contentstack: DestinationTester) -> None:
    result = contentstack.run_action(
        "eventsSync", make_test_event(), mapping={"event": "Fixed"}, use_default_mappings=False
    )
    assert result.outcome == "invalid"
    assert [(p.code, p.pointer) for p in result.errors] == [
        ("PAYLOAD_REQUIRED_FIELD_MISSING", "/userId")
    ]
    assert result.requests == ()
    assert result.request is None


def test_a_malformed_event_is_invalid_with_every_problem(contentstack: DestinationTester) -> None:
    result = contentstack.run_action("eventsSync", {"type": "track", "userId": 7, "traits": []})
    assert result.outcome == "invalid"
    assert [(p.code, p.pointer) for p in result.errors] == [
        ("MISSING_FIELD", "/event"),
        ("WRONG_TYPE", "/traits"),
        ("WRONG_TYPE", "/userId"),
    ]
    assert result.delivery.error_code == "EVENT_INVALID"


def test_the_integrations_object_still_applies_to_an_action(
    contentstack: DestinationTester,
) -> None:
    event = make_test_event(integrations={"All": False})
    result = contentstack.run_action("eventsSync", event)
    assert result.outcome == "filtered"
    assert result.events[0].reason is not None
    assert "All" in result.events[0].reason


@pytest.mark.parametrize(
    ("call", "code", "pointer"),
    [
        ({"action": "nope"}, "UNKNOWN_ACTION", "/action"),
        (
            {"action": "eventsSync", "mapping": {"eventName": "x"}},
            "UNKNOWN_FIELD",
            "/mapping/eventName",
        ),
        ({"action": "eventsSync", "mapping": {"event": {"@nope": 1}}}, None, "/mapping/event"),
        (
            {"action": "eventsSync", "settings": {"personalizeEdgeApiBaseUrl": "http://x.com"}},
            None,
            "/settings/personalizeEdgeApiBaseUrl",
        ),
    ],
)
def test_a_wrong_action_mapping_or_setting_is_refused_at_its_pointer(
    contentstack: DestinationTester, call: dict[str, Any], code: str | None, pointer: str
) -> None:
    action = call.pop("action")
    with pytest.raises(DefinitionError) as caught:
        contentstack.run_action(action, make_test_event(), **call)
    pointers = [problem.pointer for problem in caught.value.problems]
    assert any(found.startswith(pointer) for found in pointers), pointers
    if code is not None:
        assert code in [problem.code for problem in caught.value.problems]


def test_events_sent_together_are_batched_by_user(contentstack: DestinationTester) -> None:
    events = [
        make_test_event(event="A"),
        make_test_event(event="B", userId="u2"),
        make_test_event(event="C"),
    ]
    result = contentstack.run_action("eventsSync", events)
    assert [event.outcome for event in result.events] == ["delivered"] * 3
    assert [event.delivery.batch_size for event in result.events] == [2, 1, 2]
    assert [request["json"] for request in result.requests] == [
        [{"type": "EVENT", "eventKey": "A"}, {"type": "EVENT", "eventKey": "C"}],
        [{"type": "EVENT", "eventKey": "B"}],
    ]
    assert result.payloads[1] == {"userId": "u2", "event": "B"}
    with pytest.raises(ValueError, match="events"):
        _ = result.payload
    with pytest.raises(ValueError, match="requests"):
        _ = result.request


def test_password_settings_never_appear_in_results() -> None:
    tester = DestinationTester(WEBHOOK, settings={"baseUrl": "https://hooks.example"})
    secret = "sk_live_very_secret_value"
    result = tester.run_action(
        "sendUser",
        make_test_event(type="identify", traits={"age": 41}),
        settings={"apiKey": secret},
    )
    assert result.outcome == "delivered"
    assert result.request is not None
    assert result.request["headers"]["authorization"] == "Bearer [REDACTED]"
    assert result.request["json"]["key_hint"] == "key=[REDACTED]"
    assert result.request["url"] == "https://hooks.example/users/user1234?region=eu"
    shown = json.dumps(result.to_dict()) + repr(result) + json.dumps(result.delivery.to_dict())
    assert secret not in shown
    # ...but the API did receive it.
    assert tester.api.received[0].headers["authorization"] == f"Bearer {secret}"


# -- answers from the mock API ---------------------------------------------------------------------


def test_answers_are_used_in_order_and_the_last_one_repeats(
    contentstack: DestinationTester,
) -> None:
    contentstack.respond(429)
    contentstack.respond(500, text="busy")
    contentstack.respond(200)
    result = contentstack.run_action("eventsSync", make_test_event())
    assert (result.outcome, result.delivery.attempts, len(result.requests)) == ("delivered", 3, 3)
    again = contentstack.run_action("eventsSync", make_test_event())
    assert (again.outcome, again.delivery.attempts) == ("delivered", 1)


def test_a_permanent_error_is_not_retried(contentstack: DestinationTester) -> None:
    contentstack.respond(400, json={"message": "unknown event key"})
    result = contentstack.run_action("eventsSync", make_test_event())
    assert result.outcome == "permanent_failure"
    assert result.delivery.status == 400
    assert result.delivery.error_code == "INTEGRATION_ERROR"
    assert len(result.requests) == 1
    assert not result.ok


def test_retries_stop_after_the_policys_attempts(contentstack: DestinationTester) -> None:
    contentstack.respond(503)
    result = contentstack.run_action("eventsSync", make_test_event())
    assert (result.outcome, result.delivery.attempts, len(result.requests)) == (
        "retryable_failure",
        5,
        5,
    )


def test_a_handler_answers_each_request(contentstack: DestinationTester) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        user = request.headers.get("x-cs-personalize-user-uid", "none")
        seen.append(user)
        return httpx.Response(401 if user in ("bad", "none") else 202)

    contentstack.respond(handler)
    result = contentstack.run_action("mergeUsers", make_test_event(previousId="p"))
    assert result.outcome == "permanent_failure"
    assert result.delivery.error_code == "INVALID_AUTHENTICATION"
    events = contentstack.run_action(
        "eventsSync", [make_test_event(), make_test_event(userId="bad")]
    )
    assert [event.outcome for event in events.events] == ["delivered", "permanent_failure"]
    assert sorted(seen) == ["bad", "none", "user1234"]


def test_failures_go_to_a_dead_letter_store_when_given_one(tmp_path: Path) -> None:
    tester = DestinationTester(
        "contentstack", settings=CONTENTSTACK_SETTINGS, dead_letters=tmp_path / "dlq.sqlite"
    )
    tester.respond(404)
    result = tester.run_action("eventsSync", make_test_event())
    assert result.outcome == "dead_lettered"
    assert result.delivery.dead_letter_id is not None


def test_the_tester_works_inside_a_running_event_loop(contentstack: DestinationTester) -> None:
    async def inside() -> str:
        return contentstack.run_action("eventsSync", make_test_event()).outcome

    assert asyncio.run(inside()) == "delivered"


# -- run_instance and run_preset -----------------------------------------------------------------


def test_run_instance_goes_through_triggers(contentstack: DestinationTester) -> None:
    results = contentstack.run_instance(
        ROOT / "examples" / "contentstack.yaml", make_test_event(type="identify", traits={"a": 1})
    )
    assert [(r.mapping, r.outcome) for r in results] == [
        ("Events", "not_subscribed"),
        ("Attributes", "delivered"),
        ("Page views", "not_subscribed"),
        ("Merge on alias", "not_subscribed"),
    ]
    assert results[1].request is not None
    assert results[1].request["json"] == {"a": 1}
    assert all(r.requests == () for r in results if r.mapping != "Attributes")


def test_an_inline_instance_defaults_to_the_testers_destination(
    contentstack: DestinationTester,
) -> None:
    instance = {
        "settings": CONTENTSTACK_SETTINGS,
        "mappings": [{"name": "Events", "preset": "events-sync"}],
    }
    [result] = contentstack.run_instance(
        instance, {"type": "alias", "userId": "u", "previousId": ""}
    )
    assert result.outcome == "invalid"
    assert [(p.code, p.pointer) for p in result.errors] == [("EMPTY", "/previousId")]


def test_run_preset_turns_the_preset_on_and_uses_its_trigger(
    contentstack: DestinationTester,
) -> None:
    page = contentstack.run_preset("page-events", make_test_event(type="page", name="Home"))
    assert page.payload == {"userId": "user1234", "event": "Home"}
    assert page.outcome == "delivered"
    track = contentstack.run_preset("page-events", make_test_event())
    assert track.outcome == "not_subscribed"


# -- assert_request ------------------------------------------------------------------------------

ACTUAL = {
    "method": "POST",
    "url": "https://edge.example/events",
    "headers": {"x-project-uid": "proj-1", "content-type": "application/json"},
    "json": [{"type": "EVENT", "eventKey": "Signed Up", "n": 1}],
}


def test_assert_request_compares_only_what_is_expected() -> None:
    assert_request(ACTUAL, {"json": ACTUAL["json"]})
    assert_request(ACTUAL, {"method": "POST", "headers": {"X-Project-UID": "proj-1"}})


def test_assert_request_fails_with_a_diff_by_pointer() -> None:
    expected = {
        "method": "PATCH",
        "headers": {"x-project-uid": "proj-2", "authorization": "Bearer x"},
        "json": [{"type": "EVENT", "eventKey": "Signed In", "n": "1"}, {"type": "EVENT"}],
    }
    with pytest.raises(AssertionError) as caught:
        assert_request(ACTUAL, expected)
    message = str(caught.value)
    assert 'method: expected "PATCH", got "POST"' in message
    assert 'headers.x-project-uid: expected "proj-2", got "proj-1"' in message
    assert 'headers.authorization: expected "Bearer x", but there is no such header' in message
    assert 'json/0/eventKey: expected "Signed In", got "Signed Up"' in message
    assert 'json/0/n: expected "1", got 1' in message
    assert 'json/1: expected {"type": "EVENT"}, but it is missing' in message
    assert "POST https://edge.example/events" in message  # the actual request, in full


def test_request_diff_reports_unexpected_keys_and_refuses_unknown_expectations() -> None:
    lines = request_diff(ACTUAL, {"json": [{"type": "EVENT", "eventKey": "Signed Up"}]})
    assert lines == ["json/0/n: not expected, but it is 1"]
    with pytest.raises(ValueError, match="body"):
        request_diff(ACTUAL, {"body": {}})
    with pytest.raises(AssertionError, match="No request was sent"):
        assert_request(None, {"method": "POST"})


# -- the pytest plugin's fixtures, and the getting-started page ------------------------------------


def _doc_blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_fixtures_of_the_getting_started_page_work(pytester: pytest.Pytester) -> None:
    [module] = [block for block in _doc_blocks("python") if "def test_" in block]
    pytester.makepyfile(test_from_docs=module)
    pytester.chdir()
    (pytester.path / "examples").symlink_to(ROOT / "examples")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "test_from_docs.py")
    result.assert_outcomes(passed=2)


def test_the_fixtures_give_a_tester_factory_and_make_test_event(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        from framework.testing import DestinationTester, make_test_event

        def test_fixtures(actionkit_tester, test_event):
            assert test_event is make_test_event
            tester = actionkit_tester({str(WEBHOOK)!r})
            assert isinstance(tester, DestinationTester)
            assert test_event(type="identify")["type"] == "identify"
        """
    )
    pytester.runpytest("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_testing_package_exports_exactly_its_documented_names() -> None:
    import framework.testing as testing

    public = {
        name
        for name, value in vars(testing).items()
        if not name.startswith("_") and not isinstance(value, type(testing))
    }
    assert public == set(testing.__all__)
    assert [name for name in testing.__all__ if not getattr(testing, name).__doc__] == []
