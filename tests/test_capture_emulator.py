"""The generic capture emulator: any destination without an emulator of its own can be run
with --emulate; it answers what the actions declare, refuses the rest, and takes faults."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from framework import Router, load_destination, load_instance
from framework.cli.main import cli
from framework.emulators.capture import CaptureEmulator, NotEmulable, emulated_settings
from framework.emulators.server import Fault

ROOT = Path(__file__).resolve().parents[1]
ACME = ROOT / "examples" / "destinations" / "acme-crm"


def test_run_emulates_a_destination_that_has_no_emulator_of_its_own(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(ACME / "events.jsonl"), "--instance", str(ACME / "instance.yaml")),
            *("--emulate", "--json", "--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    delivered: dict[str, int] = {}
    for delivery in report["deliveries"]:
        if delivery["outcome"] == "delivered":
            delivered[delivery["action"]] = delivered.get(delivery["action"], 0) + 1
    state = report["emulator_state"]
    assert delivered
    assert state["received"] == dict(sorted(delivered.items()))
    assert state["unmatched"] == 0
    text = CliRunner().invoke(
        cli,
        [
            *("run", str(ACME / "events.jsonl"), "--instance", str(ACME / "instance.yaml")),
            *("--emulate", "--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
    )
    assert "(matched no action)" in text.stdout


def _send(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, url + path, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_a_request_no_action_declares_is_refused_with_the_reason() -> None:
    with CaptureEmulator(load_destination(ACME)) as api:
        auth = {"authorization": "Bearer k", "content-type": "application/json"}
        good = _send(api.url, "POST", "/v1/activities", headers=auth, json={"contact": "c"})
        assert good.status_code == 200
        unknown_key = _send(api.url, "POST", "/v1/activities", headers=auth, json={"who": 1})
        assert unknown_key.status_code == 400
        assert "never sends: 'who'" in unknown_key.json()["errors"][0]["message"]
        no_auth = _send(api.url, "PUT", "/v1/contacts/c%2F42", json={"email": "a@b.c"})
        assert no_auth.status_code == 400
        assert no_auth.json()["errors"][0]["pointer"] == "/headers/authorization"
        nowhere = _send(api.url, "DELETE", "/v2/other", headers=auth)
        assert nowhere.status_code == 400
        assert (
            "No action of acme-crm sends DELETE /v2/other" in nowhere.json()["errors"][0]["message"]
        )
        state = api.state()
        assert (state["received"], state["unmatched"]) == ({"trackActivity": 1}, 3)


def test_faults_are_injected_as_in_every_emulator() -> None:
    destination = load_destination(ACME)
    with CaptureEmulator(destination) as api:
        api.inject(Fault("status", count=1, status=503))
        instance = load_instance(ACME / "instance.yaml").with_settings(
            dict.fromkeys(emulated_settings(destination), api.url), allow_loopback=True
        )
        with Router([instance]) as router:
            (delivery,) = [
                d
                for d in router.route({"type": "track", "userId": "c-1", "event": "Demo Booked"})
                if d.outcome != "not_subscribed"
            ]
        assert (delivery.outcome, delivery.attempts) == ("delivered", 2)
        assert api.state()["received"] == {"trackActivity": 1}


def test_a_destination_whose_url_is_fixed_cannot_be_emulated(tmp_path: Path) -> None:
    definition = yaml.safe_load((ACME / "destination.yaml").read_text())
    definition["actions"]["trackActivity"]["request"]["url"] = "https://api.example.com/a"
    folder = tmp_path / "fixed"
    folder.mkdir()
    (folder / "destination.yaml").write_text(yaml.safe_dump(definition))
    with pytest.raises(NotEmulable, match="The action 'trackActivity' sends to"):
        emulated_settings(load_destination(folder))
    instance = tmp_path / "instance.yaml"
    instance.write_text(
        yaml.safe_dump(
            {
                "destination": str(folder / "destination.yaml"),
                "settings": {"apiKey": "k"},
                "mappings": [{"name": "a", "action": "trackActivity"}],
            }
        )
    )
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "track", "userId": "u", "event": "A"}\n')
    result = CliRunner().invoke(cli, ["run", str(events), "--instance", str(instance), "--emulate"])
    assert result.exit_code == 2
    assert "cannot be pointed at a local emulator" in result.stderr


WEBHOOK = ROOT / "destinations" / "webhook"


def test_a_method_setting_allows_its_choices_and_a_batch_counts_as_the_batch() -> None:
    # The url setting is the whole URL: pointed at the emulator, requests go to its root.
    json_body = {"content-type": "application/json"}
    with CaptureEmulator(load_destination(WEBHOOK)) as api:
        put = _send(api.url, "PUT", "/", headers=json_body, json={"event": "A"})
        batch = _send(api.url, "PATCH", "/", headers=json_body, json=[{"event": "A"}])
        get = _send(api.url, "GET", "/")
        assert (put.status_code, batch.status_code, get.status_code) == (200, 200, 400)
        assert "PATCH|POST|PUT" in get.json()["errors"][0]["message"]
        state = api.state()
        assert (state["received"], state["unmatched"]) == ({"send": 1, "sendBatch": 1}, 1)


def test_run_emulates_the_webhook_with_every_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("run", str(ROOT / "examples" / "events.jsonl")),
            *("--instance", str(WEBHOOK / "example-instance.yaml")),
            *("--emulate", "--json", "--dead-letters", str(tmp_path / "dl.sqlite")),
        ],
    )
    report = json.loads(result.stdout)
    state = report["emulator_state"]
    assert state["unmatched"] == 0
    assert set(state["received"]) == {"send", "sendBatch"}
    delivered = [d for d in report["deliveries"] if d["outcome"] == "delivered"]
    assert delivered
    for delivery in delivered:
        headers = delivery["request"]["headers"]
        assert headers["authorization"] == "[REDACTED]"
        assert len(headers["x-signature"]) == 40
