"""Property: whatever is wrong with an instance or a destination, every problem reported is a
sentence at a JSON pointer, never a raw validator message (jsonschema's or pydantic's)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.definitions.instance import load_instance
from framework.definitions.loader import load_destination
from framework.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = yaml.safe_load((ROOT / "examples" / "contentstack.yaml").read_text())
DESTINATION = yaml.safe_load((ROOT / "destinations/contentstack/destination.yaml").read_text())

RAW_PHRASES = (
    "is not valid under any of the given schemas",
    "is not of type",
    "Additional properties are not allowed",
    "is a required property",
    "does not match '",
    "Input should be",
    "validation error",
    "Field required",
    "Traceback",
)

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.text(max_size=12)
    | st.sampled_from(["eventsSync", "eventSync", "@pathh", "type = ", "aws-euu", "delivred"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutate(document: Any, data: st.DataObject) -> Any:
    mutated = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(mutated)))
        if not path:
            continue
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(values)
    return mutated


def _assert_sentences(error: DefinitionError) -> None:
    assert error.problems, error.message
    for problem in error.problems:
        assert problem.pointer == "" or problem.pointer.startswith("/"), problem
        text = problem.message.strip()
        assert text, problem
        assert text[-1] in ".?!)", problem
        assert not any(phrase in text for phrase in RAW_PHRASES), problem


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_problem_of_a_broken_instance_is_a_sentence(data: st.DataObject) -> None:
    document = _mutate(INSTANCE, data)
    try:
        load_instance(document)
    except DefinitionError as error:
        _assert_sentences(error)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_problem_of_a_broken_destination_is_a_sentence(
    data: st.DataObject, tmp_path_factory: Any
) -> None:
    folder = tmp_path_factory.mktemp("destination")
    path = folder / "destination.yaml"
    path.write_text(yaml.safe_dump(_mutate(DESTINATION, data)))
    try:
        load_destination(path)
    except DefinitionError as error:
        _assert_sentences(error)
