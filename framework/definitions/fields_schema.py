"""The JSON Schema of an action's payload, built from its fields.

The schema keeps the structure of Segment's ``fieldsToJsonSchema`` (actions-core 3.170.0): an
object whose properties are the fields, ``additionalProperties: false`` at the root, ``text``
and ``password`` as strings, ``datetime`` as a string or number with the ``date-like`` format,
``multiple`` as an array of items, ``allowNull`` as a type union with ``null``, choices as
``enum``. It differs where Segment silently drops a declared constraint (see
``docs/payload-validation.md``): ``minimum``/``maximum`` apply to integers, to ``0``, to text
and password lengths and to each item of a ``multiple`` field, and a declared ``format`` is
kept on text, password and ``multiple`` fields. A required string, text or password field
(not ``multiple``) has ``minLength`` of at least 1: Segment lets ``""`` through a required field
(``remove-empty-values.ts`` drops it only at the top level), we refuse it as missing.

The schema is the specification; :class:`framework.definitions.payload.PayloadValidator`
compiles it into a fast plan; the formats' meaning is in
:mod:`framework.definitions.formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from framework.definitions.coercion import is_integer, is_number
from framework.definitions.models import FieldDefinition
from framework.errors import DefinitionError, Problem

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "fields_to_json_schema",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every schema :func:`fields_to_json_schema` returns."""

_SCHEMA_TYPE: Final[Mapping[str, str | tuple[str, ...]]] = {
    "string": "string",
    "text": "string",
    "password": "string",
    "datetime": ("string", "number"),
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
}
# The format a type implies when the field declares none (Segment's UI hints and date-like).
_IMPLIED_FORMAT: Final[Mapping[str, str]] = {
    "datetime": "date-like",
    "text": "text",
    "password": "password",
}
_STRING_TYPES: Final = frozenset({"string", "text", "password"})
_NUMBER_TYPES: Final = frozenset({"number", "integer"})


def fields_to_json_schema(fields: Mapping[str, FieldDefinition]) -> dict[str, Any]:
    """The JSON Schema (2020-12) that a payload for these fields must satisfy.

    Raises :class:`DefinitionError` listing every field whose constraints could never hold as
    declared (a ``minimum`` on a boolean, a number choice on a string field, ...); each
    problem's pointer is ``/<field>/<attribute>`` within ``fields``.
    """
    problems: list[Problem] = []
    schema = _object_schema(fields, additional=False, pointer="", problems=problems)
    if problems:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        raise DefinitionError(f"The action's fields are invalid ({count} {noun}).", problems)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def _object_schema(
    fields: Mapping[str, FieldDefinition],
    *,
    additional: bool,
    pointer: str,
    problems: list[Problem],
) -> dict[str, Any]:
    properties = {
        key: _field_schema(field, f"{pointer}/{key}", problems) for key, field in fields.items()
    }
    return {
        "type": "object",
        "additionalProperties": additional,
        "properties": properties,
        "required": [key for key, field in fields.items() if field.required],
    }


def _field_schema(field: FieldDefinition, pointer: str, problems: list[Problem]) -> dict[str, Any]:
    problems.extend(_field_problems(field, pointer))
    base = _SCHEMA_TYPE[field.type]
    schema: dict[str, Any] = {"title": field.label}
    if field.description:
        schema["description"] = field.description

    # What one value must satisfy: the whole field, or each item of a `multiple` field.
    value: dict[str, Any] = {"type": base if isinstance(base, str) else list(base)}
    fmt = field.format or _IMPLIED_FORMAT.get(field.type)
    if fmt is not None:
        value["format"] = fmt
    if field.choices is not None:
        value["enum"] = [choice.value for choice in field.choices]
        if field.allow_null:
            # Segment lists null among the choices, for `multiple` fields too.
            value["enum"].append(None)
    value.update(_limits(field))
    if field.required and field.type in _STRING_TYPES and not field.multiple:
        # A required string is never empty: "" is refused as missing (Segment passes it).
        value["minLength"] = max(value.get("minLength", 0), 1)
    if field.type == "object" and field.properties is not None:
        value.update(
            _object_schema(
                field.properties,
                additional=field.additional_properties,
                pointer=f"{pointer}/properties",
                problems=problems,
            )
        )

    if field.multiple:
        # An array is never nullable: Segment drops a null `multiple` value as empty.
        schema.update(type="array", items=value)
        return schema
    if field.allow_null:
        types = value["type"]
        value["type"] = [*([types] if isinstance(types, str) else types), "null"]
    schema.update(value)
    return schema


def _limits(field: FieldDefinition) -> dict[str, Any]:
    if field.type in _NUMBER_TYPES:
        names = ("minimum", "maximum")
    elif field.type in _STRING_TYPES:
        names = ("minLength", "maxLength")
    else:
        return {}
    limits: dict[str, Any] = {}
    for name, limit in zip(names, (field.minimum, field.maximum), strict=True):
        if limit is not None:
            # Lengths are whole numbers (checked in _field_problems); keep them as ints.
            limits[name] = int(limit) if name.endswith("Length") else _plain_number(limit)
    return limits


def _plain_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _field_problems(field: FieldDefinition, pointer: str) -> list[Problem]:
    problems: list[Problem] = []

    def problem(attribute: str, message: str) -> None:
        problems.append(Problem(f"{pointer}/{attribute}", message, "FIELD_INVALID"))

    limits = {"minimum": field.minimum, "maximum": field.maximum}
    for name, limit in limits.items():
        if limit is None:
            continue
        if field.type not in _NUMBER_TYPES | _STRING_TYPES:
            problem(name, f"'{name}' applies only to number, integer, and string fields.")
        elif field.type in _STRING_TYPES and not (limit >= 0 and float(limit).is_integer()):
            problem(name, f"'{name}' of a {field.type} field is a length: a whole number >= 0.")
    if field.minimum is not None and field.maximum is not None and field.minimum > field.maximum:
        problem("minimum", "'minimum' is greater than 'maximum': no value could satisfy both.")
    if field.required and field.type in _STRING_TYPES and not field.multiple and field.maximum == 0:
        problem(
            "maximum",
            "'maximum' is 0 on a required field: the only value it allows is the empty "
            "string, which a required field refuses; raise it or make the field optional.",
        )
    if field.format is not None and not (
        field.type in _STRING_TYPES or (field.type == "datetime" and field.format == "date-time")
    ):
        problem("format", f"A {field.type} field cannot have the format '{field.format}'.")
    if field.properties is not None and field.type != "object":
        problem("properties", "Only an object field can have 'properties'.")
    if field.choices is not None:
        accepts = _CHOICE_ACCEPTS[field.type]
        for index, choice in enumerate(field.choices):
            if not accepts(choice.value):
                problems.append(
                    Problem(
                        f"{pointer}/choices/{index}/value",
                        f"A {field.type} field cannot have this choice: no value of the "
                        "field's type would ever equal it.",
                        "FIELD_INVALID",
                    )
                )
    return problems


_CHOICE_ACCEPTS: Final[Mapping[str, Callable[[object], bool]]] = {
    "string": lambda value: isinstance(value, str),
    "text": lambda value: isinstance(value, str),
    "password": lambda value: isinstance(value, str),
    "datetime": lambda value: isinstance(value, str) or is_number(value),
    "number": is_number,
    "integer": lambda value: is_number(value) and is_integer(value),
    "boolean": lambda value: isinstance(value, bool),
    "object": lambda value: False,
}
