"""What the real Edge API serves, the emulator serves: Segment's user header, JSON sent as
text/plain or with no content-type, ``GET /manifest`` and impressions (issue 14, part 2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.emulators import ContentstackEmulator, PersonalizeEdge, Request
from framework.emulators.manifest import Experience, Variant, manifest, parse_experiences

PROJECT = "project-1"
EXPERIENCES = (
    Experience("a", (Variant("1", {"plan": "pro"}), Variant("0"))),
    Experience("b", (Variant("0", {"plan": "pro"}),), tags=("Home",)),
    Experience("c", (Variant("0"),), enabled=False),
)


@pytest.fixture(scope="module")
def shared() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid=PROJECT, experiences=EXPERIENCES) as emulator:
        yield emulator


@pytest.fixture
def api(shared: ContentstackEmulator) -> ContentstackEmulator:
    shared.reset()
    shared.set_experiences(EXPERIENCES)
    return shared


@pytest.fixture
def client(api: ContentstackEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=5) as client:
        yield client


def users(api: ContentstackEmulator) -> dict[str, dict[str, object]]:
    users: dict[str, dict[str, object]] = api.state()["projects"][PROJECT]["users"]
    return users


# The user header: Contentstack's or Segment's


@pytest.mark.parametrize("header", ["x-cs-personalize-user-uid", "x-cs-eclipse-user-uid"])
def test_either_user_header_names_the_user(
    client: httpx.Client, api: ContentstackEmulator, header: str
) -> None:
    headers = {"x-project-uid": PROJECT, header: "user-1"}
    sent = client.post("/events", json=[{"type": "EVENT", "eventKey": "signup"}], headers=headers)
    assert sent.status_code == 200
    assert (
        client.patch("/user-attributes", json={"plan": "pro"}, headers=headers).status_code == 200
    )
    assert users(api) == {
        "user-1": {
            "attributes": {"plan": "pro"},
            "events": [{"type": "EVENT", "eventKey": "signup"}],
        }
    }


def test_the_documented_header_wins_when_both_are_sent(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    headers = {
        "x-project-uid": PROJECT,
        "x-cs-personalize-user-uid": "documented",
        "x-cs-eclipse-user-uid": "segment",
    }
    assert client.patch("/user-attributes", json={"a": 1}, headers=headers).status_code == 200
    assert list(users(api)) == ["documented"]


def test_a_blank_documented_header_falls_back_to_segments(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    headers = {
        "x-project-uid": PROJECT,
        "x-cs-personalize-user-uid": "",
        "x-cs-eclipse-user-uid": "segment",
    }
    assert client.patch("/user-attributes", json={"a": 1}, headers=headers).status_code == 200
    assert list(users(api)) == ["segment"]


def test_both_headers_blank_is_a_missing_user(client: httpx.Client) -> None:
    # Segment's web Custom Attributes Sync sends `userId ?? ''`: an empty header.
    headers = {"x-project-uid": PROJECT, "x-cs-eclipse-user-uid": ""}
    answer = client.patch("/user-attributes", json={"a": 1}, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "MISSING_USER_UID")
    assert "x-cs-eclipse-user-uid" in answer.json()["message"]


# Content types a JSON body may come as


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain;charset=UTF-8", "TEXT/PLAIN", None],
    ids=["json", "fetch-string-body", "upper-case", "none"],
)
def test_a_json_body_is_read_whatever_fetch_labels_it(
    client: httpx.Client, api: ContentstackEmulator, content_type: str | None
) -> None:
    headers = {"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "user-1"}
    if content_type is not None:
        headers["content-type"] = content_type
    body = json.dumps([{"type": "EVENT", "eventKey": "signup"}]).encode()
    # httpx adds no content-type for raw bytes, so "none" really sends none.
    answer = client.post("/events", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert content_type is not None or "content-type" not in api.requests[-1].headers
    assert users(api)["user-1"]["events"] == [{"type": "EVENT", "eventKey": "signup"}]


def test_text_plain_that_is_not_json_is_invalid_json(client: httpx.Client) -> None:
    headers = {
        "x-project-uid": PROJECT,
        "x-cs-personalize-user-uid": "user-1",
        "content-type": "text/plain;charset=UTF-8",
    }
    answer = client.patch("/user-attributes", content=b"plan=pro", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_JSON")


# Impressions


def test_impressions_are_recorded_with_events_in_order(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    headers = {"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "user-1"}
    impression = {"type": "IMPRESSION", "experienceShortUid": "a", "variantShortUid": "0"}
    sent = client.post(
        "/events", json=[impression, {"type": "EVENT", "eventKey": "buy"}], headers=headers
    )
    assert sent.status_code == 200
    assert users(api)["user-1"]["events"] == [impression, {"type": "EVENT", "eventKey": "buy"}]


def test_an_impression_without_a_variant_is_refused(client: httpx.Client) -> None:
    headers = {"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "user-1"}
    answer = client.post(
        "/events", json=[{"type": "IMPRESSION", "experienceShortUid": "a"}], headers=headers
    )
    assert answer.status_code == 400
    assert [error["pointer"] for error in answer.json()["errors"]] == ["/0/variantShortUid"]


# GET /manifest


def test_manifest_without_a_user_makes_a_new_uid_each_time(client: httpx.Client) -> None:
    first = client.get("/manifest", headers={"x-project-uid": PROJECT})
    second = client.get("/manifest", headers={"x-project-uid": PROJECT})
    assert (first.status_code, second.status_code) == (200, 200)
    uids = [first.headers["x-cs-personalize-user-uid"], second.headers["x-cs-personalize-user-uid"]]
    assert uids[0] != uids[1]
    assert all(uuid.UUID(uid) for uid in uids)
    assert first.json() == {
        "experiences": [
            {"shortUid": "a", "activeVariantShortUid": "0"},
            {"shortUid": "b", "activeVariantShortUid": None},
            {"shortUid": "c", "activeVariantShortUid": None},
        ]
    }


@pytest.mark.parametrize("header", ["x-cs-personalize-user-uid", "x-cs-eclipse-user-uid"])
def test_manifest_evaluates_the_users_attributes_and_echoes_the_uid(
    client: httpx.Client, header: str
) -> None:
    headers = {"x-project-uid": PROJECT, header: "user-1"}
    assert (
        client.patch("/user-attributes", json={"plan": "pro"}, headers=headers).status_code == 200
    )
    answer = client.get("/manifest", headers=headers)
    assert answer.headers["x-cs-personalize-user-uid"] == "user-1"
    assert answer.json()["experiences"][:2] == [
        {"shortUid": "a", "activeVariantShortUid": "1"},
        {"shortUid": "b", "activeVariantShortUid": "0"},
    ]


def test_manifest_changes_no_state(client: httpx.Client, api: ContentstackEmulator) -> None:
    client.get("/manifest", headers={"x-project-uid": PROJECT})
    client.get("/manifest", headers={"x-project-uid": PROJECT, "x-cs-personalize-user-uid": "u"})
    assert api.state()["projects"] == {}
    assert api.duplicates() == {}


def test_live_attributes_count_for_this_manifest_only(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    headers = {
        "x-project-uid": PROJECT,
        "x-cs-personalize-user-uid": "user-1",
        "x-live-attributes": json.dumps({"plan": "pro"}),
    }
    answer = client.get("/manifest", headers=headers)
    assert answer.json()["experiences"][0] == {"shortUid": "a", "activeVariantShortUid": "1"}
    assert api.state()["projects"] == {}


def test_live_attributes_that_are_not_an_object_are_refused(client: httpx.Client) -> None:
    headers = {"x-project-uid": PROJECT, "x-live-attributes": "[1]"}
    answer = client.get("/manifest", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_LIVE_ATTRIBUTES")


def test_manifest_tags_filter_experiences_in_any_case(client: httpx.Client) -> None:
    answer = client.get(
        "/manifest", params={"tags[]": ["home", "other"]}, headers={"x-project-uid": PROJECT}
    )
    assert answer.json() == {"experiences": [{"shortUid": "b", "activeVariantShortUid": None}]}


def test_manifest_for_another_project_is_the_sdks_project_not_found(client: httpx.Client) -> None:
    answer = client.get("/manifest", headers={"x-project-uid": "other"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "personalize.MANIFEST.PROJECT_NOT_FOUND"


def test_manifest_needs_a_project(client: httpx.Client) -> None:
    answer = client.get("/manifest")
    assert (answer.status_code, answer.json()["code"]) == (400, "MISSING_PROJECT_UID")


def test_manifest_is_get_only(client: httpx.Client) -> None:
    answer = client.post("/manifest", headers={"x-project-uid": PROJECT})
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")


# Experiences: in Python, and over HTTP


def test_experiences_are_set_over_http_and_survive_a_reset(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    raw = [{"shortUid": "x", "variants": [{"shortUid": "2", "when": {"tier": 3}}, "1"]}]
    assert client.put("/_emulator/experiences", json=raw).json() == {"experiences": 1}
    api.reset()
    headers = {"x-project-uid": PROJECT, "x-live-attributes": '{"tier": 3}'}
    answer = client.get("/manifest", headers=headers)
    assert answer.json() == {"experiences": [{"shortUid": "x", "activeVariantShortUid": "2"}]}


def test_bad_experiences_over_http_are_a_sentence(client: httpx.Client) -> None:
    answer = client.put("/_emulator/experiences", json=[{"shortUid": "x", "variants": [3]}])
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_EXPERIENCES"
    assert answer.json()["message"].startswith("experiences[0].variants[0] must be")


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        ({}, "The experiences must be a JSON array."),
        ([1], "experiences[0] must be an object."),
        ([{"shortUid": ""}], "experiences[0].shortUid must be"),
        ([{"shortUid": "a", "variants": {}}], "experiences[0].variants must be an array."),
        ([{"shortUid": "a", "enabled": "no"}], "experiences[0].enabled must be true or false."),
        ([{"shortUid": "a", "tags": [1]}], "experiences[0].tags[0] must be"),
        ([{"shortUid": "a", "variants": [{"shortUid": "0", "when": 1}]}], "experiences[0]"),
    ],
)
def test_parse_experiences_names_the_bad_item(raw: object, start: str) -> None:
    with pytest.raises(ValueError, match=r"^" + start.replace("[", r"\[").replace(".", r"\.")):
        parse_experiences(raw)


def test_parse_experiences_reads_the_documented_form() -> None:
    raw = [
        {"shortUid": "a", "variants": ["0", {"shortUid": "1", "when": {"plan": "pro"}}]},
        {"shortUid": "b", "enabled": False, "tags": ["home"]},
    ]
    assert parse_experiences(raw) == (
        Experience("a", (Variant("0"), Variant("1", {"plan": "pro"}))),
        Experience("b", (), enabled=False, tags=("home",)),
    )


def test_a_variant_needs_every_when_value() -> None:
    experience = Experience("a", (Variant("1", {"plan": "pro", "country": "FR"}),))
    assert (
        manifest([experience], {"plan": "pro"})["experiences"][0]["activeVariantShortUid"] is None
    )
    assert manifest([experience], {"plan": "pro", "country": "FR"}) == {
        "experiences": [{"shortUid": "a", "activeVariantShortUid": "1"}]
    }


# CORS: the SDK and Segment's web actions call the API from pages


def test_a_preflight_allows_what_the_page_asks(
    client: httpx.Client, api: ContentstackEmulator
) -> None:
    asked = "content-type,x-project-uid,x-cs-eclipse-user-uid"
    answer = client.options(
        "/user-attributes",
        headers={
            "origin": "http://shop.example",
            "access-control-request-method": "PATCH",
            "access-control-request-headers": asked,
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["access-control-allow-methods"] == "OPTIONS, PATCH"
    assert answer.headers["access-control-allow-headers"] == asked
    assert api.state()["projects"] == {}


def test_every_answer_lets_a_page_read_it_and_its_user_uid(client: httpx.Client) -> None:
    manifest_answer = client.get("/manifest", headers={"x-project-uid": PROJECT})
    refused = client.post("/events", json=[], headers={"x-project-uid": PROJECT})
    for answer in (manifest_answer, refused):
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["access-control-expose-headers"] == "x-cs-personalize-user-uid"
    assert refused.status_code == 400


def test_options_on_an_unknown_path_is_still_404(client: httpx.Client) -> None:
    assert client.options("/profiles").status_code == 404


# Properties


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
event_items = st.fixed_dictionaries(
    {"type": st.sampled_from(["EVENT", "IMPRESSION", "OTHER"])},
    optional={
        "eventKey": st.text(max_size=3),
        "experienceShortUid": st.text(max_size=2),
        "variantShortUid": st.text(max_size=2),
    },
)
bodies = json_values | st.lists(event_items, max_size=3)


@given(
    body=bodies,
    path=st.sampled_from(["/events", "/user-attributes", "/user-attributes/actions/merge"]),
)
def test_a_body_means_the_same_whatever_json_label_it_has(body: object, path: str) -> None:
    method = "PATCH" if path == "/user-attributes" else "POST"
    raw = json.dumps(body).encode()
    outcomes = []
    for content_type in ("application/json", "text/plain;charset=UTF-8", None):
        edge = PersonalizeEdge()
        headers = {"x-project-uid": PROJECT, "x-cs-eclipse-user-uid": "u"}
        if content_type is not None:
            headers["content-type"] = content_type
        answer = edge.handle(Request(method, path, "", headers, raw))
        outcomes.append((answer.status, answer.body, edge.state()))
    assert outcomes[0] == outcomes[1] == outcomes[2]


variants = st.builds(
    Variant,
    st.sampled_from(["0", "1", "2"]),
    st.dictionaries(
        st.sampled_from(["plan", "tier"]), st.sampled_from(["pro", 1, True]), max_size=2
    ),
)
experiences = st.lists(
    st.builds(
        Experience, st.text(min_size=1, max_size=2), st.tuples(variants, variants), st.booleans()
    ),
    max_size=3,
)
attributes = st.dictionaries(st.sampled_from(["plan", "tier"]), st.sampled_from(["pro", 1, True]))


@given(experiences=experiences, attributes=attributes)
def test_the_active_variant_is_the_first_the_user_meets(
    experiences: list[Experience], attributes: dict[str, object]
) -> None:
    answer = manifest(experiences, attributes)["experiences"]
    assert [item["shortUid"] for item in answer] == [item.short_uid for item in experiences]
    for item, experience in zip(answer, experiences, strict=True):
        met = [
            variant.short_uid
            for variant in experience.variants
            if all(
                key in attributes and json.dumps(attributes[key]) == json.dumps(value)
                for key, value in variant.when.items()
            )
        ]
        expected = met[0] if experience.enabled and met else None
        assert item["activeVariantShortUid"] == expected


def test_true_is_not_one_in_a_variants_criteria() -> None:
    experience = Experience("a", (Variant("1", {"tier": 1}), Variant("2", {"tier": [True]})))
    assert experience.active_variant({"tier": True}) is None
    assert experience.active_variant({"tier": 1.0}) == "1"
    assert experience.active_variant({"tier": [True]}) == "2"
    assert experience.active_variant({"tier": [1]}) is None
