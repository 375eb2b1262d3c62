"""Emulator faults narrowed to one header value (one user), and clearing queued faults."""

from __future__ import annotations

import httpx
import pytest

from framework.emulators import ContentstackEmulator, Fault

USER_HEADER = "x-cs-personalize-user-uid"


def headers(user: str) -> dict[str, str]:
    return {"x-project-uid": "p", USER_HEADER: user}


def test_a_fault_narrowed_to_a_header_fails_only_that_users_requests() -> None:
    with ContentstackEmulator() as api, httpx.Client(base_url=api.url) as client:
        api.inject(Fault("status", status=400, count=2, header=(USER_HEADER.upper(), "u2")))
        body = [{"type": "EVENT", "eventKey": "e"}]
        assert client.post("/events", json=body, headers=headers("u1")).status_code == 200
        assert client.post("/events", json=body, headers=headers("u2")).status_code == 400
        assert client.post("/events", json=body, headers=headers("u1")).status_code == 200
        assert client.post("/events", json=body, headers=headers("u2")).status_code == 400
        assert client.post("/events", json=body, headers=headers("u2")).status_code == 200
        users = api.state()["projects"]["p"]["users"]
        assert (len(users["u1"]["events"]), len(users["u2"]["events"])) == (2, 1)


def test_clear_faults_forgets_queued_faults_but_not_the_outage() -> None:
    with ContentstackEmulator() as api, httpx.Client(base_url=api.url) as client:
        api.inject(Fault("status", status=400, count=5), Fault("drop"))
        assert api.clear_faults() == 2
        body = {"plan": "pro"}
        assert client.patch("/user-attributes", json=body, headers=headers("u")).status_code == 200
        api.inject(Fault("status", status=500, count=3))
        api.start_outage(503)
        assert client.delete("/_emulator/faults").json() == {"cleared": 1}
        assert client.patch("/user-attributes", json=body, headers=headers("u")).status_code == 503
        api.end_outage()
        assert client.patch("/user-attributes", json=body, headers=headers("u")).status_code == 200


def test_a_header_fault_over_http_round_trips_and_a_bad_one_is_refused() -> None:
    with ContentstackEmulator() as api, httpx.Client(base_url=api.url) as client:
        fault = {"kind": "status", "status": 400, "header": [USER_HEADER, "u9"]}
        queued = client.post("/_emulator/faults", json=fault).json()["queued"][0]
        assert queued["header"] == [USER_HEADER, "u9"]
        refused = client.post("/_emulator/faults", json={"kind": "drop", "header": ["x"]})
        assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_FAULT")


@pytest.mark.parametrize("header", [("", "v"), ("n", ""), ("n",), ("n", 1)])
def test_a_header_must_be_a_name_and_a_value(header: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="header"):
        Fault("status", header=header)  # type: ignore[arg-type]
