"""Errors about a name outside a closed set list the set and suggest the closest name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from framework.definitions.instance import load_instance
from framework.definitions.loader import load_destination
from framework.definitions.schema_check import make_validator, schema_problems
from framework.errors import DefinitionError, MappingError
from framework.mapping import compile_mapping
from framework.suggestions import closest, did_you_mean
from framework.testing.cases import load_case_file

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"personalizeProjectId": "p", "personalizeEdgeApiBaseUrl": "aws-eu"}


def _problems(error: DefinitionError) -> dict[str, str]:
    return {problem.pointer: problem.message for problem in error.problems}


def test_a_misspelling_gets_the_closest_choice_and_a_stranger_none() -> None:
    assert closest("@pathh", ["@path", "@if", "@template"]) == "@path"
    assert closest("EventsSync", ["eventsSync", "mergeUsers"]) == "eventsSync"
    assert closest("zzzz", ["eventsSync", "mergeUsers"]) is None
    assert did_you_mean("delivred", ["delivered", "filtered"]) == " Did you mean 'delivered'?"
    assert did_you_mean("zzzz", ["delivered"]) == ""


@given(st.sampled_from(["eventsSync", "customAttributesSync", "mergeUsers"]), st.data())
def test_one_dropped_letter_is_always_traced_back(word: str, data: Any) -> None:
    index = data.draw(st.integers(0, len(word) - 1))
    typo = word[:index] + word[index + 1 :]
    assert closest(typo, ["eventsSync", "customAttributesSync", "mergeUsers"]) == word


def test_an_unknown_directive_names_the_likely_one_and_lists_them_all() -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping({"email": {"@pathh": "$.email"}})
    (problem,) = caught.value.errors
    assert problem.pointer == "/email"
    assert "Did you mean '@path'?" in problem.message
    assert "The directives are: @arrayPath, @case," in problem.message


def test_a_field_default_is_reported_at_the_default_not_under_the_field_again(
    tmp_path: Path,
) -> None:
    definition = yaml.safe_load((ROOT / "destinations/contentstack/destination.yaml").read_text())
    definition["actions"]["eventsSync"]["fields"]["event"]["default"] = {"@pathh": "$.event"}
    path = tmp_path / "destination.yaml"
    path.write_text(yaml.safe_dump(definition))
    with pytest.raises(DefinitionError) as caught:
        load_destination(path)
    problems = _problems(caught.value)
    assert list(problems) == ["/actions/eventsSync/fields/event/default"]
    assert "Did you mean '@path'?" in problems["/actions/eventsSync/fields/event/default"]


@pytest.mark.parametrize(
    ("entry", "settings", "pointer", "hint"),
    [
        ({"name": "a", "action": "eventSync"}, {}, "/mappings/0/action", "'eventsSync'"),
        ({"name": "a", "preset": "event-sync"}, {}, "/mappings/0/preset", "'events-sync'"),
        (
            {"name": "a", "action": "eventsSync"},
            {"personalizeProjectID": "p"},
            "/settings/personalizeProjectID",
            "'personalizeProjectId'",
        ),
    ],
)
def test_unknown_names_in_an_instance_get_a_suggestion(
    entry: dict[str, Any], settings: dict[str, Any], pointer: str, hint: str
) -> None:
    document = {
        "destination": "contentstack",
        "settings": {**SETTINGS, **settings},
        "mappings": [entry],
    }
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    problems = _problems(caught.value)
    assert f"Did you mean {hint}?" in problems[pointer]


def test_an_unknown_key_of_a_schema_gets_the_closest_allowed_key() -> None:
    document = {
        "destination": "contentstack",
        "settings": SETTINGS,
        "delivery": {"retryFr": "10m"},
        "mappings": [],
    }
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    message = _problems(caught.value)["/delivery"]
    assert message.startswith("Unknown key 'retryFr'; the keys allowed here are: ")
    assert message.endswith("Did you mean 'retryFor'?")


def test_a_value_outside_a_fixed_set_lists_the_set_and_the_closest() -> None:
    outcome = {"enum": ["delivered", "filtered", "invalid"]}
    schema = {
        "type": "object",
        "properties": {
            "outcome": {"oneOf": [outcome, {"type": "object", "additionalProperties": outcome}]}
        },
    }
    (problem,) = schema_problems(make_validator(schema), {"outcome": "delivred"})
    assert problem.pointer == "/outcome"
    assert problem.message == (
        '"delivred" is not allowed here; the value must be one of: "delivered", "filtered", '
        "\"invalid\". Did you mean 'delivered'?"
    )


def test_settings_problems_speak_of_the_settings_and_list_a_settings_aliases() -> None:
    document = {
        "destination": "contentstack",
        "settings": {"personalizeEdgeApiBaseUrl": "aws-euu"},
        "mappings": [],
    }
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    problems = _problems(caught.value)
    assert problems["/settings/personalizeProjectId"] == (
        "The settings are missing the required setting 'personalizeProjectId'."
    )
    url = problems["/settings/personalizeEdgeApiBaseUrl"]
    assert "'aws-euu' is not one of its aliases either: aws-au, aws-eu, aws-na," in url
    assert url.endswith("Did you mean 'aws-eu'?")


def test_an_instance_with_a_broken_shape_still_reports_its_unknown_names() -> None:
    document = {
        "destination": "contentstack",
        "settings": {**SETTINGS, "regoin": "x"},
        "mappings": [
            {"action": "eventSync"},
            {"preset": "event-sync"},
            {"action": "eventsSync", "trigger": "type =", "mapping": {"userId": {"@pathh": 1}}},
        ],
    }
    with pytest.raises(DefinitionError) as caught:
        load_instance(document)
    codes = {(problem.pointer, problem.code) for problem in caught.value.problems}
    assert codes == {
        ("/mappings/0", "SCHEMA"),
        ("/mappings/1", "SCHEMA"),
        ("/mappings/2", "SCHEMA"),
        ("/mappings/0/action", "UNKNOWN_ACTION"),
        ("/mappings/1/preset", "UNKNOWN_PRESET"),
        ("/mappings/2/trigger", "TRIGGER_SYNTAX"),
        ("/mappings/2/mapping/userId", "MAPPING_UNKNOWN_DIRECTIVE"),
        ("/settings/regoin", "UNKNOWN_SETTING"),
    }


def test_a_word_that_is_not_text_gets_no_suggestion() -> None:
    assert closest(None, ["a"]) is None
    assert did_you_mean(3, ["3", "a"]) == ""
    assert closest("a", [None, 3, "a"]) is None
    assert closest("ab", [None, 3, "abc"]) == "abc"


def test_a_destination_with_a_broken_shape_still_reports_its_triggers_defaults_and_presets(
    tmp_path: Path,
) -> None:
    definition = yaml.safe_load((ROOT / "destinations/contentstack/destination.yaml").read_text())
    definition["description"] = 5  # a schema problem
    definition["actions"]["eventsSync"]["defaultTrigger"] = 'type = "track" and'
    definition["actions"]["eventsSync"]["fields"]["event"]["default"] = {"@pathh": "$.event"}
    definition["presets"]["events-sync"]["action"] = "eventSync"
    path = tmp_path / "destination.yaml"
    path.write_text(yaml.safe_dump(definition))
    with pytest.raises(DefinitionError) as caught:
        load_destination(path)
    codes = {(problem.pointer, problem.code) for problem in caught.value.problems}
    assert codes == {
        ("/description", "SCHEMA"),
        ("/actions/eventsSync/defaultTrigger", "TRIGGER_SYNTAX"),
        ("/actions/eventsSync/fields/event/default", "MAPPING_UNKNOWN_DIRECTIVE"),
        ("/presets/events-sync/action", "UNKNOWN_ACTION"),
    }


def test_a_case_file_naming_an_unknown_action_or_preset_gets_a_suggestion(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        yaml.safe_dump(
            {
                "destination": "contentstack",
                "cases": [
                    {"name": "a", "action": "eventSync", "event": {"type": "track"}},
                    {"name": "b", "preset": "event-sync", "event": {"type": "track"}},
                ],
            }
        )
    )
    with pytest.raises(DefinitionError) as caught:
        load_case_file(cases)
    problems = _problems(caught.value)
    assert problems["/cases/0/action"].endswith("Did you mean 'eventsSync'?")
    assert problems["/cases/1/preset"].endswith("Did you mean 'events-sync'?")
