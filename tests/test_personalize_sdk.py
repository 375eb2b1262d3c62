"""Contentstack's own client, ``@contentstack/personalize-edge-sdk`` 1.0.27, against the emulator.

``tests/node/personalize-sdk/sdk_client.js`` drives the SDK (installed by
``scripts/personalize-sdk.sh``) with the emulator's URL as its Edge API: init, triggerEvent,
set, setUserId(..., {preserveUserAttributes: true}), triggerImpression, then init again as the
known user. The SDK ignores the status of what it sends, so these tests assert the emulator's
log and state, not only what the SDK says.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.emulators import ContentstackEmulator, Fault
from framework.emulators.manifest import Experience, Variant

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "tests" / "node" / "personalize-sdk" / "sdk_client.js"
PROJECT = "project-1"
EXPERIENCES = (
    Experience("a", (Variant("1", {"plan": "pro"}), Variant("0"))),
    Experience("b", (Variant("0", {"plan": "pro"}),)),
)


def install_sdk() -> Path:
    """Where the SDK is installed; scripts/personalize-sdk.sh installs it when missing."""
    modules = ROOT / ".cache" / "personalize-sdk"
    if not (modules / "node_modules" / "@contentstack" / "personalize-edge-sdk").is_dir():
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "personalize-sdk.sh")],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        modules = Path(done.stdout.strip().splitlines()[-1])
    return modules


@pytest.fixture(scope="session")
def sdk_modules() -> Path:
    """Where the SDK is installed (see :func:`install_sdk`). Never skips."""
    return install_sdk()


@pytest.fixture
def api() -> Iterator[ContentstackEmulator]:
    with ContentstackEmulator(project_uid=PROJECT, experiences=EXPERIENCES) as emulator:
        yield emulator


def run_sdk(
    api: ContentstackEmulator, modules: Path, project: str = PROJECT
) -> subprocess.CompletedProcess[str]:
    command = ["node", str(CLIENT), "--url", api.url, "--project", project]
    command += ["--modules", str(modules), "--user", "known-user", "--experience", "a"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_sdk_is_served_on_every_call(api: ContentstackEmulator, sdk_modules: Path) -> None:
    report = report_of(run_sdk(api, sdk_modules))
    anonymous = report["anonymous"]
    assert report["version"] == "1.0.27"

    calls = [(entry.method, entry.path, entry.status) for entry in api.requests]
    assert calls == [
        ("GET", "/manifest", 200),
        ("POST", "/events", 200),
        ("PATCH", "/user-attributes", 200),
        ("POST", "/user-attributes/actions/merge", 200),
        ("POST", "/events", 200),
        ("GET", "/manifest", 200),
        ("POST", "/events", 200),
    ]
    # What made the emulator refuse it before: a string body is sent as text/plain.
    sent_bodies = [entry for entry in api.requests if entry.method != "GET"]
    assert {entry.headers["content-type"] for entry in sent_bodies} == {"text/plain;charset=UTF-8"}

    assert api.state()["projects"] == {
        PROJECT: {
            "users": {
                "known-user": {
                    "attributes": {"plan": "pro"},
                    "events": [
                        {"type": "EVENT", "eventKey": "signup"},
                        {"type": "IMPRESSION", "experienceShortUid": "a", "variantShortUid": "0"},
                        {"type": "IMPRESSION", "experienceShortUid": "a", "variantShortUid": "1"},
                        {"type": "IMPRESSION", "experienceShortUid": "b", "variantShortUid": "0"},
                    ],
                }
            },
            "merges": [{"sourceUserUid": anonymous, "targetUserUid": "known-user"}],
        }
    }


def test_the_sdk_reads_the_uid_and_manifest_the_emulator_answers(
    api: ContentstackEmulator, sdk_modules: Path
) -> None:
    report = report_of(run_sdk(api, sdk_modules))
    first_manifest = api.requests[0]
    # No user yet: the SDK sends none, and takes the UID the API made from the answer.
    assert "x-cs-personalize-user-uid" not in first_manifest.headers
    assert report["anonymous"]
    assert api.requests[1].headers["x-cs-personalize-user-uid"] == report["anonymous"]
    assert report["first"] == {
        "experiences": [
            {"shortUid": "a", "activeVariantShortUid": "0"},
            {"shortUid": "b", "activeVariantShortUid": None},
        ],
        "aliases": ["cs_personalize_a_0"],
    }
    assert report["afterSetUserId"] == "known-user"
    # The known user now has plan=pro (merged from the anonymous one): other variants.
    assert report["second"] == {
        "userId": "known-user",
        "experiences": [
            {"shortUid": "a", "activeVariantShortUid": "1"},
            {"shortUid": "b", "activeVariantShortUid": "0"},
        ],
        "variants": {"a": "1", "b": "0"},
        "aliases": ["cs_personalize_a_1", "cs_personalize_b_0"],
        "variantParam": "a_1,b_0",
    }


def test_the_sdk_says_project_not_found_for_a_project_not_served(
    api: ContentstackEmulator, sdk_modules: Path
) -> None:
    done = run_sdk(api, sdk_modules, project="another-project")
    assert done.returncode == 1
    assert done.stderr.strip() == "Project not found: another-project"
    assert api.state()["projects"] == {}


def test_the_sdk_fails_init_on_an_emulated_outage(
    api: ContentstackEmulator, sdk_modules: Path
) -> None:
    api.inject(Fault("status", status=503, path="/manifest"))
    done = run_sdk(api, sdk_modules)
    assert done.returncode == 1
    assert done.stderr.strip() == "Could not fetch manifest: 503"
    assert [entry.fault for entry in api.requests] == ["status"]
