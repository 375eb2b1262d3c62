"""The Webhook destination's secret headers are masked everywhere, as password settings are.

It reuses the sweep of tests/test_secrets.py: an API that echoes every request (so responses
and error messages hold the secrets), a router with a dead-letter store, and the log.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from framework import Router, load_instance
from framework.errors import DefinitionError
from tests.test_secrets import (
    API_KEY,
    EVENTS,
    FAST_RETRY,
    SIGNING_SECRET,
    EchoApi,
    api,  # noqa: F401  (the fixture)
    assert_files_hidden,
    assert_hidden,
)

WEBHOOK = Path(__file__).parent.parent / "destinations" / "webhook"


def webhook_document(url: str, **settings: str) -> dict[str, Any]:
    return {
        "destination": str(WEBHOOK),
        "name": "hook",
        "settings": {
            "url": f"{url}/in",
            # The whole value is the secret: masking replaces a password setting's whole text,
            # so "Bearer <key>" would leave the key shown where an answer quotes it alone.
            "authorization": API_KEY,
            "secretHeaderName": "x-api-key",
            "secretHeaderValue": SIGNING_SECRET,
            **settings,
        },
        "mappings": [{"name": "Identify", "action": "sendPatch", "trigger": 'type = "identify"'}],
        "delivery": {"maxAttempts": 2, "allowLoopback": True},
    }


def test_the_webhook_shows_no_secret_header(
    tmp_path: Path,
    api: EchoApi,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    instance = load_instance(webhook_document(api.url))
    store = tmp_path / "dead-letters.sqlite"
    with Router([instance], dead_letters=store, retry=FAST_RETRY) as router:
        deliveries = [delivery for event in EVENTS for delivery in router.route(event)]
        plans = [plan for event in EVENTS for plan in instance.plan(event)]
    assert api.got_the_secrets()
    assert [d.outcome for d in deliveries].count("dead_lettered") == 3
    assert_hidden(json.dumps([d.to_dict() for d in deliveries]), "Delivery.to_dict()")
    assert_hidden(repr(deliveries), "repr(Delivery)")
    assert_hidden(str([d.error_message for d in deliveries]), "a delivery's error message")
    assert_hidden(json.dumps([p.to_dict() for p in plans]), "Planned.to_dict()")
    assert_hidden(repr(plans) + repr(instance), "repr(Planned) or repr(Instance)")
    assert_hidden(json.dumps(instance.redacted_settings()), "Instance.redacted_settings()")
    assert_hidden(caplog.text, "the log")
    assert_files_hidden(tmp_path, "dead-letters.sqlite*")


def test_a_secret_header_name_that_is_no_token_refuses_the_instance() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_instance(webhook_document("https://hooks.example.com", secretHeaderName="x key"))
    problems = [(p.pointer, p.code) for p in caught.value.problems]
    assert ("/settings/secretHeaderName", "HEADER_NAME_INVALID") in problems


def test_the_webhook_shows_no_header_of_its_secret_headers_setting(
    tmp_path: Path,
    api: EchoApi,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Segment's form: the secrets in the headers object (secret: true), and a shared secret.
    caplog.set_level(logging.DEBUG)
    document = webhook_document(api.url)
    settings = document["settings"]
    for key in ("authorization", "secretHeaderName", "secretHeaderValue"):
        settings.pop(key)
    settings["headers"] = {"Authorization": API_KEY, "X-Api-Key": SIGNING_SECRET}
    settings["sharedSecret"] = "webhook-shared-secret"
    instance = load_instance(document)
    store = tmp_path / "dead-letters.sqlite"
    with Router([instance], dead_letters=store, retry=FAST_RETRY) as router:
        deliveries = [delivery for event in EVENTS for delivery in router.route(event)]
        plans = [plan for event in EVENTS for plan in instance.plan(event)]
    assert api.got_the_secrets()
    assert all(
        "x-signature" in (d.request or {}).get("headers", {}) for d in deliveries if d.request
    )
    assert_hidden(json.dumps([d.to_dict() for d in deliveries]), "Delivery.to_dict()")
    assert_hidden(repr(deliveries), "repr(Delivery)")
    assert_hidden(str([d.error_message for d in deliveries]), "a delivery's error message")
    assert_hidden(json.dumps([p.to_dict() for p in plans]), "Planned.to_dict()")
    assert_hidden(repr(plans) + repr(instance), "repr(Planned) or repr(Instance)")
    assert_hidden(json.dumps(instance.redacted_settings()), "Instance.redacted_settings()")
    assert "webhook-shared-secret" not in json.dumps(instance.redacted_settings())
    assert_hidden(caplog.text, "the log")
    assert_files_hidden(tmp_path, "dead-letters.sqlite*")


def test_a_header_of_the_headers_setting_that_is_no_token_refuses_the_instance() -> None:
    document = webhook_document("https://hooks.example.com")
    document["settings"]["headers"] = {"x key": "v"}
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    problems = [(p.pointer, p.code) for p in caught.value.problems]
    assert problems == [("/settings/headers/x key", "HEADER_NAME_INVALID")]
