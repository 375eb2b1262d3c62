"""Test events: a full Segment-spec event with the defaults of Segment's ``createTestEvent``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["make_test_event"]

_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 9_1 like Mac OS X) AppleWebKit/601.1.46 "
    "(KHTML, like Gecko) Version/9.0 Mobile/13B143 Safari/601.1"
)


def _now() -> str:
    """The current time as JavaScript's ``new Date().toISOString()`` writes it."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def make_test_event(**overrides: Any) -> dict[str, Any]:
    """A track event with the defaults of Segment's ``createTestEvent``, overrides applied.

    The defaults are those of ``@segment/actions-core`` (``create-test-event.ts``): user
    ``user1234``, anonymous ID ``anonId1234``, ``type: "track"``, ``event: "Test Event"``, a
    ``context`` with ip, library (analytics.js), locale, location, page, timezone and user
    agent, empty ``properties`` and ``traits``, a fresh UUID ``messageId`` on every call, and
    ``timestamp``, ``sentAt`` and ``receivedAt`` set to now (ISO-8601, milliseconds, UTC).

    Overrides are applied as Segment does, with a shallow spread (``{...defaults, ...event}``):
    a key given replaces the default whole, so ``context={"ip": "1.2.3.4"}`` drops the other
    context defaults, and ``userId=None`` leaves ``userId`` null. Each call returns new dicts.
    """
    now = _now()
    event: dict[str, Any] = {
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
            "userAgent": _USER_AGENT,
        },
        "event": "Test Event",
        "messageId": str(uuid.uuid4()),
        "properties": {},
        "receivedAt": now,
        "sentAt": now,
        "timestamp": now,
        "traits": {},
        "type": "track",
        "userId": "user1234",
    }
    event.update(overrides)
    return event
