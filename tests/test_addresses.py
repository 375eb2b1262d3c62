"""Where events may be sent: base URLs and addresses refused at load and at connect time.

At load, a setting that gives the host of request URLs may carry no user name or password,
no query and no fragment, and its host may not be a metadata, private, link-local or (without
the testing switch ``allowLoopback``) loopback address. At connect time, every address a name
resolves to is judged the same way: ``0x7f000001`` is a name to a URL parser and 127.0.0.1
to the system's resolver, so only the connect-time check stops it. The API is a real HTTP
server on loopback; a refused request never reaches it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.abc import AbstractResolver, ResolveResult
from click.testing import CliRunner

from framework import AddressNotAllowedError, DefinitionError, Router, load_instance
from framework.cli.main import cli
from framework.definitions.network import NetworkPolicy, address_refusal, host_refusal
from framework.delivery.http import _PolicyResolver

HOOK = Path(__file__).parent / "fixtures" / "destinations" / "hook" / "destination.yaml"
POINTER = "/settings/baseUrl"
TRACK = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m1"}


class Receiver:
    """A real HTTP server on loopback that counts what it receives."""

    def __init__(self) -> None:
        self.received: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append(self.path)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def hook(url: str, **delivery: Any) -> dict[str, Any]:
    return {
        "destination": str(HOOK),
        "name": "hook",
        "settings": {"baseUrl": url},
        "mappings": [{"name": "Post", "action": "post"}],
        "delivery": {"maxAttempts": 1, **delivery},
    }


def refusal(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    return [(problem.pointer, problem.code) for problem in caught.value.problems]


# At load: the base URL setting


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]",
        "https://100.100.100.200",
        "https://0.0.0.0",
        "https://[::]",
        "https://224.0.0.1",
    ],
)
def test_metadata_unspecified_and_multicast_addresses_are_always_refused(url: str) -> None:
    assert refusal(hook(url)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]
    everything = {"allowPrivateNetwork": True, "allowLoopback": True}
    assert refusal(hook(url, **everything)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5",
        "https://172.16.3.4:8443/api",
        "https://192.168.1.1",
        "https://169.254.10.10",
        "https://100.64.0.1",
        "https://[fd12:3456::1]",
        "https://[fe80::1]",
        "https://[::ffff:10.0.0.1]",
    ],
)
def test_private_and_link_local_addresses_need_allow_private_network(url: str) -> None:
    assert refusal(hook(url)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]
    assert refusal(hook(url, allowLoopback=True)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]
    load_instance(hook(url, allowPrivateNetwork=True))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9",
        "http://127.8.9.10",
        "http://localhost:9",
        "http://LOCALHOST.",
        "https://[::1]",
        "https://api.localhost",
    ],
)
def test_loopback_needs_the_testing_switch(url: str) -> None:
    assert refusal(hook(url)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]
    assert refusal(hook(url, allowPrivateNetwork=True)) == [(POINTER, "ADDRESS_NOT_ALLOWED")]
    load_instance(hook(url, allowLoopback=True))


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@edge.example.com",
        "https://token@edge.example.com",
        "https://edge.example.com/v1?region=eu",
        "https://edge.example.com/v1#part",
        "https://edge.example.com?",
    ],
)
def test_credentials_queries_and_fragments_are_refused_in_a_base_url(url: str) -> None:
    assert refusal(hook(url, allowPrivateNetwork=True, allowLoopback=True)) == [
        (POINTER, "URL_NOT_ALLOWED")
    ]


@pytest.mark.parametrize(
    "url", ["https://edge.example.com", "https://edge.example.com:8443/v1/", "https://8.8.8.8"]
)
def test_public_base_urls_are_accepted(url: str) -> None:
    instance = load_instance(hook(url))
    [plan] = instance.plan(TRACK)
    assert plan.request is not None
    assert plan.request.url == f"{url.rstrip('/')}/hook" or plan.request.url == f"{url}/hook"


def test_the_contentstack_base_url_is_checked_by_the_engine() -> None:
    def contentstack(url: str) -> dict[str, Any]:
        return {
            "destination": "contentstack",
            "settings": {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": url},
        }

    pointer = "/settings/personalizeEdgeApiBaseUrl"
    for url in ("https://169.254.169.254/latest", "https://10.1.2.3", "https://u:p@edge.example"):
        assert [p for p, _ in refusal(contentstack(url))] == [pointer], url
    load_instance(contentstack("aws-eu"))


def test_a_refused_setting_in_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "hook.yaml"
    path.write_text(yaml.safe_dump(hook("https://169.254.169.254"), sort_keys=False), "utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_instance(path)
    [problem] = caught.value.problems
    assert (problem.pointer, problem.code) == (POINTER, "ADDRESS_NOT_ALLOWED")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert problem.line is not None
    assert "169.254.169.254" in lines[problem.line - 1]


def test_with_settings_checks_addresses_and_can_turn_on_the_testing_switch() -> None:
    instance = load_instance(hook("https://edge.example.com"))
    with pytest.raises(DefinitionError) as caught:
        instance.with_settings({"baseUrl": "http://127.0.0.1:9"})
    assert [(p.pointer, p.code) for p in caught.value.problems] == [
        (POINTER, "ADDRESS_NOT_ALLOWED")
    ]
    emulated = instance.with_settings({"baseUrl": "http://127.0.0.1:9"}, allow_loopback=True)
    assert emulated.network == NetworkPolicy(allow_loopback=True)
    assert instance.network == NetworkPolicy()
    with pytest.raises(DefinitionError):
        emulated.with_settings({"baseUrl": "https://10.0.0.1"})


# Settings inside URLs: the base as it is, and checked; any other setting percent-encoded


@pytest.mark.parametrize(
    "url",
    [
        "https://edge.example.com/v1 ",
        "https://edge.example.com/a b",
        "https://edge.example.com\t.evil.example",
        "https://edge.example.com/\r\nx",
        "https://edge.example.com/\x00",
        "https://edge.example.com/\x7f",
        "https://edge.example.com/\x85",
        "https://edge.example.com\u200b/v1",
        "https://evil.example\\@edge.example.com",
        "https://evil.example\\edge",
    ],
    ids=["trailing space", "space", "tab", "CRLF", "NUL", "DEL", "NEL", "zero-width", "bs @", "bs"],
)
def test_a_base_url_with_a_space_control_character_or_backslash_is_refused(
    url: str, tmp_path: Path
) -> None:
    # The setting has no format of its own (hook's is a uri): the engine's check is what stops it.
    document = paths_instance(tmp_path, baseUrl=url)
    document["delivery"]["allowPrivateNetwork"] = True
    assert refusal(document) == [(POINTER, "URL_NOT_ALLOWED")]
    # Through with_settings too.
    instance = load_instance(paths_instance(tmp_path))
    with pytest.raises(DefinitionError) as caught:
        instance.with_settings({"baseUrl": url})
    assert [(p.pointer, p.code) for p in caught.value.problems] == [(POINTER, "URL_NOT_ALLOWED")]


PATHS = {
    "name": "Paths",
    "slug": "paths",
    "settings": {
        "baseUrl": {"label": "Base URL", "type": "string", "required": True},
        "workspace": {"label": "Workspace", "type": "string", "required": True},
        "region": {"label": "Region", "type": "string", "required": True},
    },
    "actions": {
        "post": {
            "title": "Post",
            "defaultTrigger": 'type = "track"',
            "fields": {
                "userId": {
                    "label": "User",
                    "type": "string",
                    "required": True,
                    "default": {"@path": "$.userId"},
                }
            },
            "request": {
                "method": "POST",
                "url": "{{settings.baseUrl}}/v1/{{settings.workspace}}/users/{{payload.userId}}"
                "?region={{settings.region}}",
                "body": {"user": {"@path": "$.payload.userId"}},
            },
        }
    },
}


def paths_instance(folder: Path, **settings: str) -> dict[str, Any]:
    destination = folder / "paths" / "destination.yaml"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(yaml.safe_dump(PATHS, sort_keys=False), encoding="utf-8")
    given = {"baseUrl": "https://edge.example.com", "workspace": "w", "region": "eu", **settings}
    return {
        "destination": str(destination),
        "name": "paths",
        "settings": given,
        "mappings": [{"name": "Post", "action": "post"}],
        "delivery": {"allowLoopback": True, "maxAttempts": 1},
    }


def test_settings_after_the_base_are_percent_encoded_like_payload_values(tmp_path: Path) -> None:
    document = paths_instance(tmp_path, workspace="../a b/c?d#e", region="eu west&admin=1")
    [plan] = load_instance(document).plan(TRACK)
    assert plan.request is not None
    assert plan.request.url == (
        "https://edge.example.com/v1/..%2Fa%20b%2Fc%3Fd%23e/users/u1?region=eu%20west%26admin%3D1"
    )


@pytest.mark.parametrize("name", [".", ".."])
def test_a_setting_that_would_be_a_dot_segment_of_the_path_is_refused(
    name: str, tmp_path: Path
) -> None:
    assert refusal(paths_instance(tmp_path, workspace=name)) == [
        ("/settings/workspace", "URL_NOT_ALLOWED")
    ]
    # In the query it is only a value.
    load_instance(paths_instance(tmp_path, region=name))


@pytest.mark.parametrize("user", [".", ".."])
def test_a_user_id_that_would_be_a_dot_segment_makes_the_event_invalid(
    user: str, tmp_path: Path
) -> None:
    [plan] = load_instance(paths_instance(tmp_path)).plan({**TRACK, "userId": user})
    assert plan.status == "invalid"
    assert [(p.pointer, p.code) for p in plan.errors] == [("/userId", "REQUEST_NOT_BUILT")]
    assert plan.request is None


def test_an_encoded_setting_reaches_a_real_server_as_one_segment(
    receiver: Receiver, tmp_path: Path
) -> None:
    document = paths_instance(
        tmp_path, baseUrl=f"http://127.0.0.1:{receiver.port}", workspace="../admin"
    )
    delivery = route(document)
    assert delivery.outcome == "delivered"
    assert receiver.received == ["/v1/..%2Fadmin/users/u1?region=eu"]


def test_actionkit_validate_and_try_refuse_a_base_url_with_a_space(tmp_path: Path) -> None:
    path = tmp_path / "paths.yaml"
    document = paths_instance(tmp_path, baseUrl="https://edge.example.com/v 1")
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    [report] = json.loads(result.stdout)
    [problem] = report["problems"]
    assert (problem["pointer"], problem["code"]) == ("/settings/baseUrl", "URL_NOT_ALLOWED")
    assert problem["line"] is not None
    tried = CliRunner().invoke(cli, ["try", str(path), "-", "--json"], input=json.dumps(TRACK))
    assert tried.exit_code != 0
    assert "Traceback" not in tried.output
    assert "URL_NOT_ALLOWED" in tried.output


def test_actionkit_try_shows_an_encoded_setting(tmp_path: Path) -> None:
    path = tmp_path / "paths.yaml"
    document = paths_instance(tmp_path, workspace="a/b")
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    tried = CliRunner().invoke(cli, ["try", str(path), "-", "--json"], input=json.dumps(TRACK))
    assert tried.exit_code == 0, tried.output
    shown = json.loads(tried.stdout)
    [mapping] = shown["mappings"]
    assert mapping["request"]["url"] == "https://edge.example.com/v1/a%2Fb/users/u1?region=eu"


# The policy itself


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("example.com", False),
        ("8.8.8.8", False),
        ("[2001:4860:4860::8888]", False),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("[::ffff:127.0.0.1]", True),
        ("[::ffff:169.254.169.254]", True),
        ("localhost", True),
        ("10.255.255.255", True),
    ],
)
def test_hosts_are_judged_as_addresses(host: str, refused: bool) -> None:
    assert (host_refusal(host, NetworkPolicy()) is not None) is refused


# At connect time, through the router and a real server


def route(instance_document: dict[str, Any]) -> Any:
    with Router([load_instance(instance_document)], dead_letters=None) as router:
        [delivery] = router.route(TRACK)
    return delivery


def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(receiver: Receiver) -> None:
    # Not an address to the URL parser, so the load-time check lets it through; the system's
    # resolver reads it as 127.0.0.1.
    delivery = route(hook(f"http://0x7f000001:{receiver.port}"))
    assert (delivery.outcome, delivery.error_code) == ("permanent_failure", "ADDRESS_NOT_ALLOWED")
    assert delivery.attempts == 1
    assert receiver.received == []


def test_a_name_that_resolves_to_loopback_is_allowed_with_the_testing_switch(
    receiver: Receiver,
) -> None:
    delivery = route(hook(f"http://0x7f000001:{receiver.port}", allowLoopback=True))
    assert delivery.outcome == "delivered"
    assert receiver.received == ["/hook"]


def test_a_refused_delivery_is_dead_lettered_with_its_code(
    receiver: Receiver, tmp_path: Path
) -> None:
    store = tmp_path / "dead.sqlite"
    instance = load_instance(hook(f"http://0x7f000001:{receiver.port}"))
    with Router([instance], dead_letters=store) as router:
        [delivery] = router.route(TRACK)
        letters = router.dead_letters.list() if router.dead_letters is not None else []
    assert delivery.outcome == "dead_lettered"
    assert [letter.error_code for letter in letters] == ["ADDRESS_NOT_ALLOWED"]
    assert receiver.received == []


def test_instances_with_different_policies_do_not_share_a_client(receiver: Receiver) -> None:
    url = f"http://0x7f000001:{receiver.port}"
    allowed = load_instance({**hook(url, allowLoopback=True), "name": "allowed"})
    refused = load_instance({**hook(url), "name": "refused"})
    with Router([allowed, refused], dead_letters=None) as router:
        deliveries = {delivery.instance: delivery for delivery in router.route(TRACK)}
    assert deliveries["allowed"].outcome == "delivered"
    assert deliveries["refused"].error_code == "ADDRESS_NOT_ALLOWED"
    assert receiver.received == ["/hook"]


def test_an_address_rebound_to_a_private_one_is_refused_at_the_next_lookup() -> None:
    # DNS rebinding: the same name answers a public address, then a private one.
    answers = [["93.184.215.14"], ["93.184.215.14", "10.0.0.7"], ["169.254.169.254"]]

    class Rebinding(AbstractResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            return [
                ResolveResult(
                    hostname=host, host=address, port=port, family=family, proto=0, flags=0
                )
                for address in answers.pop(0)
            ]

        async def close(self) -> None:
            pass

    resolver = _PolicyResolver(NetworkPolicy())
    resolver._inner = Rebinding()

    async def lookups() -> list[Any]:
        results: list[Any] = []
        for _ in range(3):
            try:
                found = await resolver.resolve("rebind.example", 443)
                results.append([item["host"] for item in found])
            except OSError as exc:
                results.append(type(exc).__name__)
        return results

    assert asyncio.run(lookups()) == [["93.184.215.14"], ["93.184.215.14"], "_Refused"]
    assert address_refusal(__import__("ipaddress").ip_address("10.0.0.7"), NetworkPolicy())


def test_the_error_class_is_a_permanent_delivery_error() -> None:
    error = AddressNotAllowedError("x")
    assert (error.code, error.retryable) == ("ADDRESS_NOT_ALLOWED", False)


# The command line: --emulate sets the switch; an instance file does not get it for free


def test_run_emulate_turns_on_the_testing_switch(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(TRACK) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            str(events),
            "--instance",
            "examples/contentstack.yaml",
            "--emulate",
            "--dead-letters",
            str(tmp_path / "dead.sqlite"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr
    outcomes = {d["outcome"] for d in json.loads(result.stdout)["deliveries"]}
    assert "delivered" in outcomes


def test_an_instance_file_pointing_at_loopback_is_refused_by_run(tmp_path: Path) -> None:
    instance = tmp_path / "hook.yaml"
    instance.write_text(yaml.safe_dump(hook("http://127.0.0.1:9")), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(TRACK) + "\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            str(events),
            "--instance",
            str(instance),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    body = json.loads(result.stdout)
    codes = {(p["pointer"], p["code"]) for p in body["error"]["problems"]}
    assert codes == {(POINTER, "ADDRESS_NOT_ALLOWED")}
