"""Checking a document against a JSON Schema, with every problem as a sentence at its pointer."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from framework.definitions.resources import load_schema
from framework.definitions.source import join_pointer
from framework.errors import Problem
from framework.suggestions import did_you_mean


def make_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema``, checked once; build one per schema and reuse it."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.cache
def bundled_validator(name: str) -> Draft202012Validator:
    """The validator of a bundled schema (``schemas/<name>``), read and checked once."""
    return make_validator(load_schema(name))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _sentence(error: ValidationError) -> tuple[str, str]:
    """(pointer, message) for one jsonschema error, phrased for the person fixing the file."""
    pointer = join_pointer(*error.absolute_path)
    validator = error.validator
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return pointer, f"The required key '{missing}' is missing."
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(key for key in error.instance if key not in allowed)
        known = ", ".join(sorted(allowed))
        names = ", ".join(f"'{key}'" for key in unknown)
        hints = "".join(did_you_mean(key, allowed) for key in unknown)
        return pointer, f"Unknown key {names}; the keys allowed here are: {known}.{hints}"
    if validator == "maxItems" and isinstance(error.instance, list):
        return pointer, (
            f"At most {error.validator_value} items are allowed here, "
            f"but there are {len(error.instance)}."
        )
    if validator == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return pointer, f"Expected {expected_text}, but found {_describe(error.instance)}."
    if validator == "enum":
        choices: list[Any] = (
            list(error.validator_value) if isinstance(error.validator_value, list) else []
        )
        return pointer, _not_a_choice(error.instance, choices)
    if validator == "pattern":
        return pointer, (
            f"The value {error.instance!r} does not have the expected form "
            f"(pattern {error.validator_value})."
        )
    if validator in {"anyOf", "oneOf"} and error.context:
        alternatives = [sub for sub in error.context if sub.validator == "required"]
        if len(alternatives) == len(error.context) and len(alternatives) > 1:
            # Each branch asks for a key: say that one of them is needed.
            keys = [_sentence(sub)[1].split("'")[1] for sub in alternatives]
            listed = " or ".join(f"'{key}'" for key in keys)
            return pointer, f"One of the keys {listed} is needed here; there is none."
        allowed = _choices(error.context)
        if allowed is not None:
            return pointer, _not_a_choice(error.instance, allowed)
        fitting = _fitting_branches(error.context)
        if len(fitting) == 1:  # one form is for this type of value: say what it lacks
            return _sentence(fitting[0][0])
        deepest = max(error.context, key=lambda sub: len(sub.absolute_path))
        if deepest.validator == "required" or deepest.path:
            return _sentence(deepest)  # one form fits but for something inside the value
        forms = _forms(error.context)
        if not forms:
            return pointer, f"{_describe(error.instance).capitalize()} does not fit here."
        return pointer, f"Expected {forms}, but found {_describe(error.instance)}."
    message = error.message[0].upper() + error.message[1:]
    return pointer, message.rstrip(".") + "."


def _forms(alternatives: Iterable[ValidationError]) -> str:
    """The forms a value may take, from the branches it failed: ``a string or an object``."""
    forms: list[str] = []
    for sub in alternatives:
        if sub.validator == "type":
            expected = sub.validator_value
            forms += expected if isinstance(expected, list) else [str(expected)]
        elif sub.validator == "const":
            forms.append(json.dumps(sub.validator_value))
        elif sub.validator == "enum" and isinstance(sub.validator_value, list):
            forms += [json.dumps(value) for value in sub.validator_value]
    unique = list(dict.fromkeys(forms))
    if not unique:
        return ""
    return ", ".join(unique[:-1]) + f" or {unique[-1]}" if len(unique) > 1 else unique[0]


def _fitting_branches(alternatives: Iterable[ValidationError]) -> list[list[ValidationError]]:
    """The failed branches that were for this type of value (none of their errors is its type)."""
    branches: dict[object, list[ValidationError]] = {}
    for sub in alternatives:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)
    return [
        errors
        for errors in branches.values()
        if not any(sub.validator == "type" and not sub.path for sub in errors)
    ]


def _choices(alternatives: Iterable[ValidationError]) -> list[Any] | None:
    """The allowed values when every failed branch allows a fixed set (``const``/``enum``).

    A branch that wants another type (``"delivred"`` against an object) is not one the
    value was meant for, and is left out.
    """
    choices: list[Any] = []
    for sub in alternatives:
        if sub.validator == "type" and not sub.path:
            continue
        if sub.validator == "const":
            choices.append(sub.validator_value)
        elif sub.validator == "enum" and isinstance(sub.validator_value, list):
            choices.extend(sub.validator_value)
        else:
            return None
    return choices or None


def _not_a_choice(value: Any, choices: list[Any]) -> str:
    """The sentence for a value outside a fixed set: the value, the set, the closest one."""
    options = ", ".join(json.dumps(option) for option in choices)
    shown = json.dumps(value) if isinstance(value, str | int | float | bool) else _describe(value)
    hint = did_you_mean(value, [str(c) for c in choices]) if isinstance(value, str) else ""
    return f"{shown} is not allowed here; the value must be one of: {options}.{hint}"


def schema_problems(validator: Draft202012Validator, document: Any) -> list[Problem]:
    """Every problem of ``document`` against the validator's schema (empty when valid)."""
    problems: list[Problem] = []
    errors: Iterable[ValidationError] = validator.iter_errors(document)
    for error in errors:
        if error.validator == "propertyNames" and error.context:
            key = error.instance if isinstance(error.instance, str) else None
            for sub in error.context:
                name = sub.instance if key is None else key
                pointer = join_pointer(*error.absolute_path, str(name))
                problems.append(
                    Problem(pointer, f"The key {name!r} is not a valid name here.", "SCHEMA")
                )
            continue
        pointer, message = _sentence(error)
        problems.append(Problem(pointer, message, "SCHEMA"))
    return problems
