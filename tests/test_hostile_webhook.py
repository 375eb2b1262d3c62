"""Hostile settings for the Webhook destination: an instance either loads or is refused with
clear problems, and a loaded one plans any event without raising or showing a secret.

The settings exercise every request-template form the Webhook uses (the method from a
setting, headers from an object setting, a header name from a setting, a batch size from a
setting, a body signature, secret settings), with values of every JSON type, text no header
can carry (line breaks, NUL, non-ASCII), and sizes at and past the bounds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import load_instance
from framework.definitions import Instance
from framework.definitions.instance import Planned
from framework.errors import ActionkitError, DefinitionError, EventError

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK = ROOT / "destinations" / "webhook" / "destination.yaml"
SECRETS = ("authorization", "secretHeaderValue", "sharedSecret")
MARK = "Zq9SECRETmark"

_HOSTILE_TEXT = st.sampled_from(
    ["", " ", "a\r\nb", "nul\x00", "é", "x" * 9000, "POST", "post", "GET", "ok-value", "a b"]
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    _HOSTILE_TEXT,
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "x-ok",
            "X-OK",
            "content-type",
            "Authorization",
            "",
            "bad name",
            "x\r\ny",
            "é",
            "x-signature",
        ]
    ),
    st.text(max_size=8),
)
_HEADERS = st.one_of(
    _JSON,
    st.dictionaries(_HEADER_NAMES, st.one_of(_HOSTILE_TEXT, _SCALAR), max_size=4),
)
_SECRET = st.one_of(
    _SCALAR, st.text(alphabet="abcdefgh", min_size=4, max_size=8).map(lambda t: MARK + t)
)

HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "url": st.one_of(
        st.sampled_from(
            ["https://hooks.example/in", "http://127.0.0.1:9/x", "ftp://x", "", "https://"]
        ),
        _SCALAR,
    ),
    "method": st.one_of(st.sampled_from(["POST", "PUT", "PATCH", "patch", "DELETE"]), _SCALAR),
    "headers": _HEADERS,
    "batchSize": st.one_of(
        st.sampled_from([1, 100, 1000, 1001, 0, -1, 1.5, "10", True, 10**30]), _SCALAR
    ),
    "sharedSecret": _SECRET,
    "authorization": _SECRET,
    "secretHeaderName": st.one_of(_HEADER_NAMES, _SCALAR),
    "secretHeaderValue": _SECRET,
}

VALID: dict[str, Any] = {
    "url": "https://hooks.example/in",
    "method": "PUT",
    "headers": {"x-team": MARK + "team"},
    "batchSize": 3,
    "sharedSecret": MARK + "sign",
    "authorization": MARK + "auth",
    "secretHeaderName": "x-api-key",
    "secretHeaderValue": MARK + "key",
}

# A working instance's settings with up to two keys made hostile and up to two left out, so
# that most examples load and their plans are exercised, and every key is attacked in turn.
SETTINGS = st.builds(
    lambda overrides, dropped: {
        **{key: value for key, value in VALID.items() if key not in dropped},
        **dict(overrides),
    },
    st.lists(st.one_of(*(st.tuples(st.just(k), v) for k, v in HOSTILE.items())), max_size=2),
    st.sets(st.sampled_from(sorted(VALID)), max_size=2),
)

EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page"])},
    optional={
        "userId": st.one_of(st.text(max_size=8), _SCALAR),
        "event": _SCALAR,
        "properties": _JSON,
        "traits": _JSON,
        "messageId": st.text(max_size=8),
    },
)


def _marks(settings: dict[str, Any]) -> list[str]:
    """The secret texts planted in ``settings`` (those made to be recognised)."""
    found = [value for key in SECRETS if isinstance(value := settings.get(key), str)]
    headers = settings.get("headers")
    if isinstance(headers, dict):
        found += [value for value in headers.values() if isinstance(value, str)]
    return [value for value in found if value.startswith(MARK)]


def _load(document: dict[str, Any]) -> Instance | ActionkitError:
    """The instance, or the error that refused it (any other exception fails the test)."""
    try:
        return load_instance(document)
    except ActionkitError as error:
        return error


def _plan(instance: Instance, event: dict[str, Any]) -> list[Planned] | EventError:
    """The plans of ``event``, or the EventError ``Instance.plan`` documents for a non-event."""
    try:
        return instance.plan(event)
    except EventError as error:
        return error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETTINGS, st.lists(EVENTS, min_size=1, max_size=3))
def test_hostile_settings_load_or_are_refused_and_plans_never_raise(
    webhook_settings: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    document = {
        "destination": str(WEBHOOK),
        "name": "hooks",
        "settings": webhook_settings,
        "mappings": [
            {"name": "Send", "action": "send"},
            {"name": "Batch", "action": "sendBatch"},
        ],
    }
    marks = _marks(webhook_settings)
    loaded = _load(document)
    if isinstance(loaded, ActionkitError):
        assert loaded.code
        assert loaded.message
        shown = loaded.message
        if isinstance(loaded, DefinitionError):
            assert loaded.problems, loaded.message
            for problem in loaded.problems:
                assert problem.pointer.startswith("/"), problem
                assert problem.message
                assert "Traceback" not in problem.message
            shown += str(loaded) + "".join(problem.message for problem in loaded.problems)
        assert not [mark for mark in marks if mark in shown]
        return
    instance = loaded
    for event in events:
        plans = _plan(instance, event)
        if isinstance(plans, EventError):  # not a Segment event: said, with its pointer
            assert plans.message
            continue
        for plan in plans:
            shown = json.dumps(plan.to_dict()) + repr(plan)
            assert not [mark for mark in marks if mark in shown]
            if plan.status == "ready":
                assert plan.request is not None
                assert plan.request.method in {"POST", "PUT", "PATCH"}
            for problem in plan.errors:
                assert problem.message
