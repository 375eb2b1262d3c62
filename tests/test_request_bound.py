"""A request template bound to an instance's settings builds exactly what the unbound one does.

:class:`framework.definitions.bound.BoundRequest` resolves the settings-only parts of a
request once; :meth:`RequestBuilder.build` renders everything per event. Over random settings
(valid, missing, or values no URL or header can carry) and random payloads, both give the
same request (method, URL, headers, body, signer, batch size) or the same error (code, reason,
pointer, message). A destination written to exercise every part: settings in the URL's base
and path, payload values in its path and query, headers of settings, of the payload and of
both, a header name a setting chooses, headers from an object setting, a method setting, a
signature, and a batch size from a setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import load_destination, load_instance
from framework.definitions.bound import BoundRequest
from framework.definitions.destination import Destination
from framework.errors import RequestBuildError

ROOT = Path(__file__).resolve().parents[1]

DEFINITION: dict[str, Any] = {
    "name": "Bound",
    "slug": "bound",
    "settings": {
        "base": {"label": "Base", "type": "string"},
        "ws": {"label": "Workspace", "type": "string"},
        "key": {"label": "Key", "type": "password"},
        "userHeader": {"label": "User header", "type": "string"},
        "method": {"label": "Method", "type": "string"},
        "headers": {"label": "Headers", "type": "object", "secret": True},
        "secret": {"label": "Secret", "type": "password"},
        "size": {"label": "Size", "type": "integer"},
        "missing": {"label": "Never given", "type": "string"},  # an optional setting left out
    },
    "actions": {
        "go": {
            "title": "Go",
            "defaultTrigger": 'type = "track"',
            "fields": {
                "id": {"label": "ID", "type": "string"},
                "q": {"label": "Q", "type": "string"},
                "tag": {"label": "Tag", "type": "string"},
            },
            "request": {
                "method": "{{settings.method}}",
                "url": "{{settings.base}}/v1/{{settings.ws}}/{{payload.id}}?q={{payload.q}}",
                "headers": {
                    "authorization": "Bearer {{settings.key}}",
                    "x-mixed": " {{payload.tag}}-{{settings.ws}} ",
                    "x-fixed": "yes",
                    "x-empty": "{{settings.missing}}",
                    "{{settings.userHeader}}": "{{payload.id}}",
                },
                "headersFrom": "{{settings.headers}}",
                "body": {"id": {"@path": "$.payload.id"}, "ws": {"@path": "$.settings.ws"}},
                "sign": {"header": "x-signature", "secret": "{{settings.secret}}"},
            },
        },
        "batched": {
            "title": "Batched",
            "defaultTrigger": 'type = "track"',
            "fields": {
                "id": {"label": "ID", "type": "string"},
                "tag": {"label": "Tag", "type": "string"},
            },
            "request": {
                "method": "POST",
                "url": "{{settings.base}}/batch/{{payload.id}}",
                "body": [{"tag": {"@path": "$.payload.tag"}}],
                "sign": {
                    "header": "x-signature",
                    "algorithm": "sha256",
                    "secret": "{{settings.secret}}",
                },
            },
            "batch": {
                "key": "{{payload.id}}",
                "maxCount": 50,
                "maxCountFrom": "{{settings.size}}",
                "combine": "concat",
            },
        },
    },
}

# Values that are fine, empty, path-changing, or that no header can carry.
TEXT = st.one_of(
    st.sampled_from(["", ".", "..", "a/b", "a?b#c", "josé", "x\r\ny", " pad ", "ok", "Zeta-9"]),
    st.text(max_size=6),
)
VALUE = st.one_of(st.none(), TEXT, st.integers(-3, 3), st.booleans())


@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> Destination:
    folder = tmp_path_factory.mktemp("bound")
    (folder / "destination.yaml").write_text(json.dumps(DEFINITION), encoding="utf-8")
    return load_destination(folder)


GOOD: dict[str, st.SearchStrategy[Any]] = {
    "base": st.sampled_from(["https://api.example.com", "https://x.example.com/p/"]),
    "ws": st.sampled_from(["team", "a/b", " pad ", "é", 7]),
    "key": st.sampled_from(["k3y", " pad ", "", "Bearer x"]),
    "userHeader": st.sampled_from(["x-user", "X-User-Id"]),
    "method": st.sampled_from(["POST", "PUT", "PATCH"]),
    "headers": st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["X-Api-Key", "x-more", "X-Other"]),
            st.sampled_from(["abc", " spaced ", "", "\t"]),
            max_size=3,
        ),
    ),
    "secret": st.sampled_from(["shh", "", "s3cret"]),
    "size": st.integers(1, 50),
}
BAD: dict[str, st.SearchStrategy[Any]] = {
    "base": VALUE,
    "ws": VALUE,
    "key": VALUE,
    "userHeader": st.one_of(st.sampled_from(["X-Fixed", "bad name", "authorization"]), VALUE),
    "method": st.one_of(st.just("get"), VALUE),
    "headers": st.one_of(
        st.just("not an object"),
        st.dictionaries(
            st.sampled_from(["X-Api-Key", "bad name", "content-type", "X-Fixed", "x-signature"]),
            st.one_of(TEXT, st.integers(0, 2)),
            max_size=3,
        ),
    ),
    "secret": VALUE,
    "size": st.one_of(st.integers(-1, 60), VALUE),
}


@st.composite
def settings_strategy(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid settings, with a few keys made bad or left out: both paths of a bound
    request (bound, and left unbound) are exercised."""
    settings = {key: draw(strategy) for key, strategy in GOOD.items()}
    for key in draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=3, unique=True)):
        if draw(st.booleans()):
            settings[key] = draw(BAD[key])
        else:
            del settings[key]
    return settings


PAYLOADS = st.fixed_dictionaries({}, optional={"id": VALUE, "q": VALUE, "tag": VALUE})


def outcome(build: Any) -> tuple[Any, ...]:
    """What a build gives, comparable: the request's parts, or the error's."""
    try:
        request = build()
    except RequestBuildError as exc:
        return ("error", exc.code, exc.reason, exc.pointer, exc.message)
    return (
        "request",
        request.method,
        request.url,
        list(request.headers.items()),
        request.json,
        request.secrets,
        request.signer,
        request.batch_limit,
    )


@given(settings=settings_strategy(), payload=PAYLOADS, action=st.sampled_from(["go", "batched"]))
def test_a_bound_request_builds_what_the_unbound_one_builds(
    destination: Destination, settings: dict[str, Any], payload: dict[str, Any], action: str
) -> None:
    builder = destination.actions[action].request
    secrets = frozenset({"k", "s"})
    unbound = outcome(lambda: builder.build(payload, settings, secrets))
    bound = outcome(lambda: BoundRequest(builder, settings, secrets).build(payload))
    assert bound == unbound


VALID_SETTINGS = {
    "base": "https://api.example.com",
    "ws": "team a/b",
    "key": "k3y",
    "userHeader": "x-user",
    "method": "PUT",
    "headers": {"X-Api-Key": "abc", "x-blank": "  "},
    "secret": "shh",
    "size": 7,
}


@given(payload=PAYLOADS, action=st.sampled_from(["go", "batched"]))
def test_valid_settings_are_bound_and_give_the_same_requests(
    destination: Destination, payload: dict[str, Any], action: str
) -> None:
    builder = destination.actions[action].request
    bound = BoundRequest(builder, VALID_SETTINGS)
    assert bound.bound
    assert outcome(lambda: bound.build(payload)) == outcome(
        lambda: builder.build(payload, VALID_SETTINGS)
    )


def test_settings_the_unbound_build_refuses_stay_unbound(destination: Destination) -> None:
    builder = destination.actions["go"].request
    assert not BoundRequest(builder, {**VALID_SETTINGS, "method": "get"}).bound
    assert not BoundRequest(builder, {**VALID_SETTINGS, "key": "a\nb"}).bound
    assert not BoundRequest(builder, {k: v for k, v in VALID_SETTINGS.items() if k != "base"}).bound


def test_an_instance_plans_with_its_bound_requests() -> None:
    instance = load_instance(
        {
            "destination": str(ROOT / "destinations" / "webhook"),
            "settings": {"url": "https://hooks.example.com/in", "sharedSecret": "shh"},
            "mappings": [{"name": "All", "action": "send"}],
        }
    )
    event = {"type": "track", "userId": "u1", "event": "E"}
    [planned] = instance.plan(event)
    builder = instance.destination.actions["send"].request
    assert planned.request is not None
    assert planned.request == builder.build(planned.payload or {}, instance.settings)
    assert (
        planned.request.headers["x-signature"]
        == builder.build(planned.payload or {}, instance.settings).headers["x-signature"]
    )
