"""The Contentstack destination sends the user's UID in the header its setting chooses: the
documented one by default, Segment's on request; the emulator takes either."""

from __future__ import annotations

import pytest

from framework import Router, load_instance
from framework.emulators.contentstack import ContentstackEmulator
from framework.errors import DefinitionError
from framework.testing import DestinationTester, make_test_event

SETTINGS = {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": "aws-eu"}


@pytest.mark.parametrize(
    ("chosen", "sent", "not_sent"),
    [
        (None, "x-cs-personalize-user-uid", "x-cs-eclipse-user-uid"),
        ("x-cs-eclipse-user-uid", "x-cs-eclipse-user-uid", "x-cs-personalize-user-uid"),
    ],
)
def test_each_action_sends_the_user_in_the_chosen_header_only(
    chosen: str | None, sent: str, not_sent: str
) -> None:
    settings = dict(SETTINGS, **({"userUidHeader": chosen} if chosen else {}))
    tester = DestinationTester("contentstack", settings=settings)
    for action, event in [
        ("eventsSync", make_test_event(event="Signed Up")),
        ("customAttributesSync", make_test_event(type="identify", traits={"plan": "pro"})),
    ]:
        result = tester.run_action(action, event)
        (request,) = result.requests
        assert request["headers"][sent] == "user1234"
        assert not_sent not in request["headers"]


def test_a_header_the_settings_cannot_name_refuses_the_instance() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance(
            {
                "destination": "contentstack",
                "settings": {**SETTINGS, "userUidHeader": "x-other"},
                "mappings": [],
            }
        )
    assert [(p.pointer, p.code) for p in caught.value.problems] == [
        ("/settings/userUidHeader", "PAYLOAD_NOT_IN_CHOICES")
    ]


def test_segment_s_header_reaches_the_emulator_as_the_user() -> None:
    with ContentstackEmulator() as api:
        instance = load_instance(
            {
                "destination": "contentstack",
                "settings": {
                    "personalizeProjectId": "p",
                    "personalizeEdgeApiBaseUrl": "aws-eu",
                    "userUidHeader": "x-cs-eclipse-user-uid",
                },
                "mappings": [{"name": "events", "preset": "events-sync"}],
            }
        ).with_settings({"personalizeEdgeApiBaseUrl": api.url}, allow_loopback=True)
        with Router([instance], retry_for=5) as router:
            (delivery,) = router.route({"type": "track", "userId": "u-7", "event": "Signed Up"})
        assert delivery.outcome == "delivered"
        assert list(api.state()["projects"]["p"]["users"]) == ["u-7"]
