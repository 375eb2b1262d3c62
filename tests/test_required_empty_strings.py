"""A required string that resolves to "" never reaches a request (Contentstack's user header).

Segment lets ``[""]`` and a nested ``""`` through a required field; we refuse both as missing
(``docs/payload-validation.md``, *Required strings are never empty*).
"""

from __future__ import annotations

from typing import Any

import pytest

from framework import Instance, PayloadValidationError, load_instance
from framework.definitions.models import FieldDefinition
from framework.definitions.payload import REQUIRED_FIELD_MISSING, PayloadValidator


def _instance(user_id: dict[str, Any]) -> Instance:
    return load_instance(
        {
            "destination": "contentstack",
            "settings": {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": "aws-na"},
            "mappings": [
                {
                    "name": "events",
                    "action": "eventsSync",
                    "mapping": {"userId": user_id, "event": {"@path": "$.event"}},
                },
                {
                    "name": "merge",
                    "action": "mergeUsers",
                    "trigger": 'type = "track"',
                    "mapping": {"userId": user_id, "previousId": {"@path": "$.anonymousId"}},
                },
            ],
        }
    )


def _track(**properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-1",
        "anonymousId": "anon-1",
        "messageId": "m-1",
        "properties": properties,
    }


@pytest.mark.parametrize("uid", ["", [""]], ids=["empty", "one-empty-in-an-array"])
def test_an_empty_user_id_is_a_missing_field_and_no_request(uid: Any) -> None:
    instance = _instance({"@path": "$.properties.uid"})
    plans = instance.plan(_track(uid=uid))
    assert [plan.mapping for plan in plans] == ["events", "merge"]
    for plan in plans:
        assert plan.status == "invalid"
        assert plan.request is None
        assert [(problem.pointer, problem.code) for problem in plan.errors] == [
            ("/userId", REQUIRED_FIELD_MISSING)
        ]


def test_a_user_id_in_a_one_element_array_still_goes_out_unwrapped() -> None:
    plan = _instance({"@path": "$.properties.uid"}).plan(_track(uid=["user-9"]))[0]
    assert plan.status == "ready"
    assert plan.request is not None
    assert plan.request.headers["x-cs-personalize-user-uid"] == "user-9"


def test_an_empty_required_property_of_an_object_field_is_missing_at_its_pointer() -> None:
    validator = PayloadValidator(
        {
            "user": FieldDefinition.model_validate(
                {
                    "label": "User",
                    "type": "object",
                    "properties": {"id": {"label": "ID", "type": "string", "required": True}},
                }
            )
        }
    )
    with pytest.raises(PayloadValidationError) as caught:
        validator.validate({"user": {"id": ""}})
    assert [(problem.pointer, problem.code) for problem in caught.value.errors] == [
        ("/user/id", REQUIRED_FIELD_MISSING)
    ]
    assert caught.value.code == "PAYLOAD_VALIDATION_FAILED"
    # The schema says the same: jsonschema refuses "" there too.
    assert not validator.json_validator.is_valid({"user": {"id": ""}})
    assert validator.validate({"user": {"id": "u"}}) == {"user": {"id": "u"}}
