"""The files of a new destination, or of a new action in one: what ``actionkit init`` writes.

Each generated file validates and its tests pass as generated; comments point to the docs
section of each key, so the files double as a guide. The texts are pure functions of the
slug, the action's key and where the schemas are; writing them is the command's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

SLUG: Final = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
"""A destination slug: lower-case words joined by hyphens (``my-crm``)."""

KEY: Final = re.compile(r"^[a-z][A-Za-z0-9]*$")
"""An action key: camelCase (``sendEvent``)."""


@dataclass(frozen=True, slots=True)
class Names:
    """How one destination is named in its files: slug, title, Python module name."""

    slug: str

    @property
    def title(self) -> str:
        """``my-crm`` as ``My Crm``."""
        return " ".join(word.capitalize() for word in self.slug.split("-"))

    @property
    def module(self) -> str:
        """``my-crm`` as ``my_crm``, for the pytest module's name."""
        return self.slug.replace("-", "_")


def kebab(key: str) -> str:
    """``sendEvent`` as ``send-event``, for file and preset names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", key).lower()


def title_of(key: str) -> str:
    """``sendEvent`` as ``Send Event``."""
    return " ".join(word.capitalize() for word in kebab(key).split("-"))


def action_yaml(key: str, indent: str = "  ") -> str:
    """The YAML of one action ``key`` (a track call sent as JSON), indented under ``actions:``."""
    lines = f"""\
{key}:
  title: {title_of(key)}
  description: Sends a track call's event name and properties.
  # Which events the action takes by default, in FQL (docs/triggers.md).
  defaultTrigger: type = "track"
  # The payload: each field, its type, and its default mapping from the event
  # (docs/destinations.md#fields-and-settings, docs/mapping.md).
  fields:
    userId:
      label: User ID
      type: string
      required: true
      default: {{"@path": "$.userId"}}
    event:
      label: Event name
      type: string
      required: true
      default: {{"@path": "$.event"}}
    properties:
      label: Properties
      type: object
      default: {{"@path": "$.properties"}}
  # The HTTP request, from the settings and the payload (docs/destinations.md#request,
  # docs/destinations.md#templates); the body is itself a mapping over the payload.
  request:
    method: POST
    url: "{{{{settings.baseUrl}}}}/events"
    headers:
      authorization: "Bearer {{{{settings.apiKey}}}}"
      content-type: application/json
    body:
      user: {{"@path": "$.payload.userId"}}
      name: {{"@path": "$.payload.event"}}
      properties: {{"@path": "$.payload.properties"}}
""".splitlines()
    return "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def insert_action(text: str, key: str) -> str:
    """``text`` (a destination's YAML) with the action ``key`` added at the end of ``actions:``.

    The text is edited, not re-serialised: every other line, comment and blank stays as it
    is. The block goes after the last action, before any comment that introduces the next
    top-level key. Raises ValueError when the file has no block-style ``actions:`` or already
    has the action.
    """
    lines = text.splitlines(keepends=True)
    try:
        start = next(n for n, line in enumerate(lines) if re.match(r"actions:\s*(#.*)?$", line))
    except StopIteration:
        raise ValueError("there is no block-style 'actions:' key to add an action to") from None
    end = next(
        (n for n in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[n])), len(lines)
    )
    while end > start + 1 and not lines[end - 1].startswith((" ", "\t")):
        end -= 1  # comments and blank lines before the next key stay with it
    children = [line for line in lines[start + 1 : end] if line.strip()]
    indent = re.match(r"[ ]*", children[0])[0] if children else "  "  # type: ignore[index]
    if any(re.match(rf"{indent}{re.escape(key)}\s*:", line) for line in children):
        raise ValueError(f"the destination already has an action '{key}'")
    block = action_yaml(key, indent)
    before = "".join(lines[:end])
    if before and not before.endswith("\n"):
        before += "\n"
    return before + block + "".join(lines[end:])


def destination_yaml(names: Names, key: str, schemas: str) -> str:
    """A whole destination: two settings, the action ``key``, and a preset for it."""
    return f"""\
# yaml-language-server: $schema={schemas}/destination.schema.json
# A destination defined as data; every key is described in docs/destinations.md.
name: {names.title}
slug: {names.slug}
description: Sends Segment track calls to {names.title}.
# What a user gives in an instance (docs/destinations.md#fields-and-settings).
settings:
  apiKey:
    label: API key
    description: The secret key of the {names.title} API.
    # A password is never shown in logs, errors or dry runs
    # (docs/destinations.md#password-settings).
    type: password
    required: true
  baseUrl:
    label: API base URL
    type: string
    format: https-url
    default: https://api.{names.slug}.example
# What the destination does with an event (docs/destinations.md#actions).
actions:
{action_yaml(key)}\
# Ready-made mappings an instance names instead of an action (docs/destinations.md#presets).
presets:
  {kebab(key)}:
    name: {title_of(key)} from track calls
    action: {key}
"""


def instance_yaml(names: Names, key: str, schemas: str) -> str:
    """An example instance of the destination: its settings and one mapping (the preset)."""
    return f"""\
# yaml-language-server: $schema={schemas}/instance.schema.json
# An instance: the destination, its settings and at most 50 mappings
# (docs/destinations.md#instances).
destination: ./destination.yaml
name: {names.slug}-example
settings:
  apiKey: sk_test_not_a_real_key
mappings:
  - name: {title_of(key)}
    preset: {kebab(key)}
"""


def cases_yaml(names: Names, key: str, schemas: str) -> str:
    """Test cases of the action ``key``: a track call sent, and an event without a user."""
    return f"""\
# yaml-language-server: $schema={schemas}/testcase.schema.json
# Test cases as data: `actionkit test` (or pytest) runs each event through the action and
# compares what the mock API received (docs/getting-started.md#2-write-test-cases-as-data).
# `actionkit test --update` records what a case produced into its `expected`.
settings:
  apiKey: sk_test_123
cases:
  - name: a track call is sent as an event
    action: {key}
    event: {{type: track, userId: u-1, event: Signed Up, properties: {{plan: pro}}}}
    expected:
      outcome: delivered
      requests:
        - method: POST
          url: https://api.{names.slug}.example/events
          headers: {{authorization: "Bearer [REDACTED]"}}
          json: {{user: u-1, name: Signed Up, properties: {{plan: pro}}}}

  - name: an event without a user ID is invalid, and nothing is sent
    action: {key}
    event: {{type: track, anonymousId: a-1, event: Signed Up}}
    expected:
      outcome: invalid
      error: {{code: PAYLOAD_REQUIRED_FIELD_MISSING, pointer: /userId}}
"""


def pytest_module(names: Names, key: str) -> str:
    """A pytest module for the destination, through the Python harness (framework.testing)."""
    return f'''\
"""Tests of the {names.slug} destination with the Python harness.

The YAML cases beside this file run under pytest as well (actionkit's pytest plugin), and
with `actionkit test`. The harness: docs/getting-started.md#3-test-from-python.
"""

from pathlib import Path

from framework.testing import DestinationTester, assert_request, make_test_event

DESTINATION = Path(__file__).resolve().parent.parent


def test_a_track_call_is_sent_as_an_event() -> None:
    tester = DestinationTester(DESTINATION, settings={{"apiKey": "sk_test_123"}})
    result = tester.run_action("{key}", make_test_event(event="Signed Up"))
    assert result.outcome == "delivered"
    assert_request(
        result,
        {{
            "method": "POST",
            "url": "https://api.{names.slug}.example/events",
            "headers": {{"authorization": "Bearer [REDACTED]"}},
            "json": {{"user": "user1234", "name": "Signed Up", "properties": {{}}}},
        }},
    )


def test_the_api_answering_503_then_200_is_retried() -> None:
    tester = DestinationTester(DESTINATION, settings={{"apiKey": "sk_test_123"}})
    tester.respond(503)
    tester.respond(200)
    result = tester.run_action("{key}", make_test_event())
    assert (result.outcome, len(result.requests)) == ("delivered", 2)
'''
