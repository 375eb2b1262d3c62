"""Destination instances: settings checks, the 50-mapping cap, subscriptions, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework import MAX_MAPPINGS, DefinitionError, load_instance
from framework.definitions import PlannedRequest, combine_requests

FIXTURES = Path(__file__).parent / "fixtures"
WEBHOOK = str(FIXTURES / "destinations" / "webhook")
SECRET = "sk_live_very_secret_value"


def _contentstack(mappings: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {
        "destination": "contentstack",
        "settings": {
            "personalizeProjectId": "p",
            "personalizeEdgeApiBaseUrl": "aws-na",
            **settings,
        },
        "mappings": mappings,
    }


def _problems(error: DefinitionError) -> list[tuple[str, str]]:
    return [(problem.pointer, problem.code) for problem in error.problems]


def test_fifty_mappings_load() -> None:
    mappings = [{"name": f"m{i}", "preset": "events-sync"} for i in range(MAX_MAPPINGS)]
    instance = load_instance(_contentstack(mappings))
    assert len(instance.subscriptions) == MAX_MAPPINGS


def test_a_fifty_first_mapping_is_refused_with_a_clear_error() -> None:
    mappings = [{"name": f"m{i}", "preset": "events-sync"} for i in range(MAX_MAPPINGS + 1)]
    with pytest.raises(DefinitionError) as caught:
        load_instance(_contentstack(mappings))
    assert _problems(caught.value) == [("/mappings", "TOO_MANY_MAPPINGS")]
    assert "at most 50 mappings" in caught.value.problems[0].message
    assert "51" in caught.value.problems[0].message


def test_missing_and_malformed_settings_are_reported_together() -> None:
    data = _contentstack([{"name": "t", "preset": "events-sync"}])
    del data["settings"]["personalizeProjectId"]
    data["settings"]["personalizeEdgeApiBaseUrl"] = "http://edge.example.com"
    with pytest.raises(DefinitionError) as caught:
        load_instance(data)
    pointers = [pointer for pointer, _ in _problems(caught.value)]
    assert "/settings/personalizeProjectId" in pointers  # missing
    assert "/settings/personalizeEdgeApiBaseUrl" in pointers  # plain http off loopback


def test_mapping_errors_point_into_the_instance() -> None:
    data = _contentstack(
        [
            {"name": "a", "action": "eventsSync", "trigger": "type = = 1"},
            {"name": "b", "action": "eventsSync", "mapping": {"event": {"@nope": 1}}},
            {"name": "c", "action": "eventsSync", "mapping": {"evnt": {"@path": "$.event"}}},
            {"name": "d", "preset": "no-such-preset"},
            {"name": "e", "action": "noSuchAction"},
            {"name": "a", "preset": "events-sync"},
        ]
    )
    with pytest.raises(DefinitionError) as caught:
        load_instance(data)
    found = _problems(caught.value)
    assert ("/mappings/0/trigger", "TRIGGER_SYNTAX") in found
    assert any(p.startswith("/mappings/1/mapping/event") for p, _ in found)
    assert ("/mappings/2/mapping/evnt", "UNKNOWN_FIELD") in found
    assert ("/mappings/3/preset", "UNKNOWN_PRESET") in found
    assert ("/mappings/4/action", "UNKNOWN_ACTION") in found
    assert ("/mappings/5/name", "DUPLICATE_NAME") in found


def test_a_broken_trigger_does_not_hide_the_mapping_problems_beside_it() -> None:
    data = _contentstack(
        [{"name": "a", "action": "eventsSync", "trigger": "type =", "mapping": {"evnt": 1}}]
    )
    with pytest.raises(DefinitionError) as caught:
        load_instance(data)
    found = _problems(caught.value)
    assert ("/mappings/0/trigger", "TRIGGER_SYNTAX") in found
    assert ("/mappings/0/mapping/evnt", "UNKNOWN_FIELD") in found


def test_a_setting_the_destination_does_not_define_is_reported() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance(_contentstack([], personalizeProjectUid="p"))
    assert _problems(caught.value) == [("/settings/personalizeProjectUid", "UNKNOWN_SETTING")]
    assert "personalizeProjectId" in caught.value.problems[0].message  # the known ones listed


def test_a_mapping_entry_needs_a_preset_or_an_action() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance(_contentstack([{"name": "a"}]))
    [problem] = caught.value.problems
    assert problem.pointer == "/mappings/0"
    assert "'preset' or 'action'" in problem.message


def test_an_editors_schema_key_is_ignored() -> None:
    data = {"$schema": "../schemas/instance.schema.json", **_contentstack([])}
    assert load_instance(data).settings["personalizeProjectId"] == "p"


def test_an_explicit_mapping_merges_over_the_action_defaults() -> None:
    instance = load_instance(
        _contentstack(
            [
                {
                    "name": "big orders",
                    "action": "eventsSync",
                    "trigger": 'type = "track" and properties.total > 100',
                    "mapping": {"event": {"@template": "big-{{event}}"}},
                }
            ]
        )
    )
    small, big = (
        instance.plan({"type": "track", "event": "Buy", "userId": "u", "properties": {"total": t}})
        for t in (5, 500)
    )
    assert small[0].status == "not_subscribed"
    assert big[0].request is not None
    assert big[0].request.json == [{"type": "EVENT", "eventKey": "big-Buy"}]
    assert big[0].request.headers["x-cs-personalize-user-uid"] == "u"


def test_disabled_mappings_are_not_planned() -> None:
    instance = load_instance(
        _contentstack(
            [
                {"name": "on", "preset": "events-sync"},
                {"name": "off", "preset": "events-sync", "enabled": False},
                {"name": "page default off", "preset": "page-events"},
            ]
        )
    )
    plans = instance.plan({"type": "track", "event": "E", "userId": "u"})
    assert [plan.mapping for plan in plans] == ["on"]


def _webhook_instance(**settings: Any) -> Any:
    return load_instance(
        {
            "destination": WEBHOOK,
            "settings": {"baseUrl": "https://hooks.example", "apiKey": SECRET, **settings},
            "mappings": [{"name": "users", "action": "sendUser"}],
        }
    )


def test_payload_values_in_a_url_are_percent_encoded() -> None:
    instance = _webhook_instance()
    plan = instance.plan({"type": "identify", "userId": "a/b c?", "traits": {"age": "41"}})[0]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.url == "https://hooks.example/users/a%2Fb%20c%3F?region=eu"
    assert plan.request.method == "PUT"
    assert plan.request.headers["x-age"] == "41"
    assert plan.request.json["age"] == 41  # "41" coerced to the integer field
    assert "tags" not in plan.request.json  # a missing value leaves its key out


def test_password_values_never_appear_in_reprs_or_dry_run_output() -> None:
    instance = _webhook_instance()
    plan = instance.plan({"type": "identify", "userId": "u", "traits": {"tags": "vip"}})[0]
    assert plan.request is not None
    # The real request carries the secret ...
    assert plan.request.headers["authorization"] == f"Bearer {SECRET}"
    assert plan.request.json["tags"] == ["vip"]  # a scalar wrapped for a multiple field
    # ... but nothing a person or a log sees does.
    for shown in (
        repr(instance),
        repr(plan),
        repr(plan.request),
        str(plan.to_dict()),
        str(instance.redacted_settings()),
    ):
        assert SECRET not in shown
    assert plan.to_dict()["request"]["headers"]["authorization"] == "Bearer [REDACTED]"
    assert plan.to_dict()["request"]["json"]["key_hint"] == "key=[REDACTED]"


def test_a_bad_password_setting_is_reported_without_its_value() -> None:
    with pytest.raises(DefinitionError) as caught:
        _webhook_instance(region="mars")
    assert SECRET not in str(caught.value)
    assert ("/settings/region", caught.value.problems[0].code) in _problems(caught.value)


def test_combining_requests_concatenates_or_merges_bodies() -> None:
    first = PlannedRequest("POST", "https://x/events", {"h": "1"}, [{"k": 1}])
    second = PlannedRequest("POST", "https://x/events", {"h": "1"}, [{"k": 2}])
    assert combine_requests([first, second], "concat").json == [{"k": 1}, {"k": 2}]
    a = PlannedRequest("PATCH", "https://x/attrs", {}, {"plan": "free", "age": 1})
    b = PlannedRequest("PATCH", "https://x/attrs", {}, {"plan": "pro"})
    assert combine_requests([a, b], "merge").json == {"plan": "pro", "age": 1}
