"""The Contentstack Personalize destination: the exact request each action builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework import EventError, Instance, Planned, load_destination, load_instance

FIXTURES = Path(__file__).parent / "fixtures"
EU_EDGE = "https://eu-personalize-edge.contentstack.com"


@pytest.fixture(scope="module")
def instance() -> Instance:
    return load_instance(FIXTURES / "instances" / "contentstack.yaml")


def _by_mapping(plans: list[Planned]) -> dict[str, Planned]:
    return {plan.mapping: plan for plan in plans}


def _track(**extra: Any) -> dict[str, Any]:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-1",
        "anonymousId": "anon-1",
        "messageId": "m-1",
        "properties": {"total": 10},
    }
    event.update(extra)
    return event


def test_the_destination_has_its_actions_and_presets() -> None:
    destination = load_destination("contentstack")
    assert set(destination.actions) == {
        "eventsSync",
        "customAttributesSync",
        "mergeUsers",
        "audienceSync",
        "computedAttributeSync",
        "mergeAnonymousUser",
    }
    assert set(destination.presets) == {
        "events-sync",
        "custom-attributes-sync",
        "page-events",
        "merge-users",
        "audience-sync",
        "computed-attribute-sync",
        "events-sync-anonymous",
        "custom-attributes-sync-anonymous",
        "merge-anonymous-on-identify",
        "group-attributes",
    }
    assert destination.presets["page-events"].enabled is False
    assert "Contentstack Web" in destination.integration_names


def test_events_sync_posts_the_event_key_for_the_user(instance: Instance) -> None:
    plan = _by_mapping(instance.plan(_track()))["Track events"]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.method == "POST"
    assert plan.request.url == f"{EU_EDGE}/events"
    assert dict(plan.request.headers) == {
        "x-project-uid": "proj-123",
        "x-cs-personalize-user-uid": "user-1",
        "content-type": "application/json",
    }
    assert plan.request.json == [{"type": "EVENT", "eventKey": "Order Completed"}]
    assert plan.batch_key == "user-1"


def test_custom_attributes_sync_patches_identify_traits(instance: Instance) -> None:
    event = {
        "type": "identify",
        "userId": "user-2",
        "traits": {"plan": "pro", "age": 41},
        "context": {"traits": {"plan": "ignored"}},
    }
    plan = _by_mapping(instance.plan(event))["Attributes"]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.method == "PATCH"
    assert plan.request.url == f"{EU_EDGE}/user-attributes"
    assert plan.request.headers["x-cs-personalize-user-uid"] == "user-2"
    assert plan.request.json == {"plan": "pro", "age": 41}


def test_custom_attributes_sync_falls_back_to_context_traits_on_track(
    instance: Instance,
) -> None:
    plan = _by_mapping(instance.plan(_track(context={"traits": {"tier": "gold"}})))["Attributes"]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.json == {"tier": "gold"}


def test_page_preset_sends_the_page_name_as_the_event_key(instance: Instance) -> None:
    event = {"type": "page", "name": "Pricing", "userId": "user-3", "properties": {}}
    plans = _by_mapping(instance.plan(event))
    assert plans["Track events"].status == "not_subscribed"
    page = plans["Page views"]
    assert page.status == "ready"
    assert page.request is not None
    assert page.request.json == [{"type": "EVENT", "eventKey": "Pricing"}]


def test_alias_merges_the_previous_user_into_the_user(instance: Instance) -> None:
    event = {"type": "alias", "previousId": "anon-9", "userId": "user-9"}
    plan = _by_mapping(instance.plan(event))["Merge on alias"]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.method == "POST"
    assert plan.request.url == f"{EU_EDGE}/user-attributes/actions/merge"
    assert dict(plan.request.headers) == {
        "x-project-uid": "proj-123",
        "content-type": "application/json",
    }
    assert plan.request.json == {"sourceUserUid": "anon-9", "targetUserUid": "user-9"}
    assert plan.batch_key is None


def test_track_without_user_id_is_invalid_with_a_sentence_naming_the_field(
    instance: Instance,
) -> None:
    event = _track()
    del event["userId"]
    plan = _by_mapping(instance.plan(event))["Track events"]
    assert plan.status == "invalid"
    assert plan.request is None
    assert [(e.pointer, e.message) for e in plan.errors] == [
        ("/userId", "The root value is missing the required field 'userId'.")
    ]


def test_identify_without_traits_is_invalid_for_attributes(instance: Instance) -> None:
    plan = _by_mapping(instance.plan({"type": "identify", "userId": "u"}))["Attributes"]
    assert plan.status == "invalid"
    assert "traits" in plan.errors[0].message


def test_numbers_are_coerced_to_the_string_fields_they_fill() -> None:
    instance = load_instance(
        {
            "destination": "contentstack",
            "settings": {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": "aws-na"},
            "mappings": [
                {
                    "name": "codes",
                    "action": "eventsSync",
                    "mapping": {"event": {"@path": "$.properties.code"}},
                }
            ],
        }
    )
    plan = instance.plan(_track(properties={"code": 42}))[0]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.json == [{"type": "EVENT", "eventKey": "42"}]


@pytest.mark.parametrize(
    ("integrations", "sent"),
    [
        ({"All": False, "Contentstack Web": True}, True),
        ({"Contentstack Web": False}, False),
        ({"All": False}, False),
        ({"All": True, "Mixpanel": False}, True),
        ({"Contentstack Personalize": {"some": "option"}}, True),
    ],
)
def test_the_integrations_object_is_honoured(
    instance: Instance, integrations: dict[str, Any], sent: bool
) -> None:
    plan = _by_mapping(instance.plan(_track(integrations=integrations)))["Track events"]
    if sent:
        assert plan.status == "ready"
    else:
        assert plan.status == "filtered"
        assert plan.reason


def test_a_malformed_event_is_an_error_not_a_silent_drop(instance: Instance) -> None:
    with pytest.raises(EventError):
        instance.plan({"type": "track", "properties": []})
    with pytest.raises(EventError):
        instance.plan(["not", "an", "event"])


@pytest.mark.parametrize(
    ("region", "base"),
    [
        ("aws-na", "https://personalize-edge.contentstack.com"),
        ("aws-au", "https://au-personalize-edge.contentstack.com"),
        ("azure-eu", "https://azure-eu-personalize-edge.contentstack.com"),
        ("gcp-na", "https://gcp-na-personalize-edge.contentstack.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://edge.example.test", "https://edge.example.test"),
    ],
)
def test_the_base_url_setting_takes_a_url_or_a_region_name(region: str, base: str) -> None:
    instance = load_instance(
        {
            "destination": "contentstack",
            "settings": {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": region},
            "mappings": [{"name": "t", "preset": "events-sync"}],
            "delivery": {"allowLoopback": True},  # for the loopback case
        }
    )
    assert instance.settings["personalizeEdgeApiBaseUrl"] == base
    plan = instance.plan(_track())[0]
    assert plan.request is not None
    assert plan.request.url == f"{base}/events"


@pytest.mark.parametrize("size", [1, 2, 30])
def test_a_users_batch_has_the_shape_of_one_event_and_keeps_each(
    instance: Instance, size: int
) -> None:
    events = [_track(event=f"E{i}") for i in range(size)]
    plans = [_by_mapping(instance.plan(event))["Track events"] for event in events]
    requests = [plan.request for plan in plans if plan.request is not None]
    action = instance.destination.actions["eventsSync"]
    assert action.request.combine(requests).json == [
        {"type": "EVENT", "eventKey": f"E{i}"} for i in range(size)
    ]
    identifies = [
        {"type": "identify", "userId": "user-1", "traits": {"n": i, f"k{i}": i}}
        for i in range(size)
    ]
    plans = [_by_mapping(instance.plan(event))["Attributes"] for event in identifies]
    requests = [plan.request for plan in plans if plan.request is not None]
    merged = instance.destination.actions["customAttributesSync"].request.combine(requests)
    assert merged.json == {"n": size - 1, **{f"k{i}": i for i in range(size)}}


@pytest.mark.parametrize("user", ["josé", "a\r\nb", "ann😀", "a\tb\x01"])
def test_a_user_uid_no_header_can_carry_is_invalid_for_events_and_attributes(
    instance: Instance, user: str
) -> None:
    plans = _by_mapping(
        instance.plan({"type": "identify", "userId": user, "traits": {"plan": "pro"}})
    )
    attributes = plans["Attributes"]
    assert (attributes.status, attributes.request) == ("invalid", None)
    assert [(p.pointer, p.code) for p in attributes.errors] == [("/userId", "REQUEST_NOT_BUILT")]
    events = _by_mapping(instance.plan(_track(userId=user)))["Track events"]
    assert [(p.pointer, p.code) for p in events.errors] == [("/userId", "REQUEST_NOT_BUILT")]
