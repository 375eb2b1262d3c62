"""Anonymous visitors over the 347 example events (examples/events.jsonl).

With the example instance (examples/contentstack.yaml), 80 plans are invalid for lack of a
userId (71 Events Sync, 9 Custom Attributes Sync); with the anonymous presets, none is.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from framework import EventError, load_instance
from framework.definitions.instance import Instance

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "examples" / "events.jsonl"
ANONYMOUS_USER_ID = {
    "@if": {
        "exists": {"@path": "$.userId"},
        "then": {"@path": "$.userId"},
        "else": {"@path": "$.anonymousId"},
    }
}
ANONYMOUS = {
    "destination": "contentstack",
    "settings": {"personalizeProjectId": "example-project", "personalizeEdgeApiBaseUrl": "aws-eu"},
    "mappings": [
        {"name": "Events", "preset": "events-sync-anonymous"},
        {
            "name": "Attributes",
            "preset": "custom-attributes-sync-anonymous",
            "trigger": 'type = "identify" or (type = "track" and context.traits != null)',
        },
        {
            "name": "Page views",
            "preset": "page-events",
            "enabled": True,
            "mapping": {"userId": ANONYMOUS_USER_ID, "event": {"@path": "$.name"}},
        },
        {"name": "Merge on alias", "preset": "merge-users"},
        {"name": "Merge on identify", "preset": "merge-anonymous-on-identify"},
    ],
}


def _events() -> list[Any]:
    events = []
    for line in EVENTS.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def _missing_user(instance: Instance) -> Counter[str]:
    counts: Counter[str] = Counter()
    for event in _events():
        try:
            plans = instance.plan(event)
        except EventError:
            continue
        for plan in plans:
            if plan.status == "invalid" and any(e.pointer == "/userId" for e in plan.errors):
                counts[plan.action] += 1
    return counts


def test_the_example_instance_leaves_anonymous_events_invalid() -> None:
    instance = load_instance(ROOT / "examples" / "contentstack.yaml")
    assert _missing_user(instance) == {"eventsSync": 71, "customAttributesSync": 9}


def test_the_anonymous_presets_leave_no_event_invalid_for_lack_of_a_user() -> None:
    assert _missing_user(load_instance(ANONYMOUS)) == {}


def test_an_identify_with_both_ids_plans_one_merge_of_the_pair() -> None:
    instance = load_instance(ANONYMOUS)
    plans = instance.plan(
        {"type": "identify", "userId": "u1", "anonymousId": "anon-1", "traits": {"plan": "pro"}}
    )
    [merge] = [plan for plan in plans if plan.action == "mergeAnonymousUser"]
    assert merge.request is not None
    assert merge.request.json == {"sourceUserUid": "anon-1", "targetUserUid": "u1"}
