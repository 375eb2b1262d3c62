"""Validating a mapped payload against its action's fields, as Segment does before ``perform``.

Segment (actions-core 3.170.0) runs ``removeEmptyValues``, then ajv with ``coerceTypes:
'array'``, ``removeAdditional`` and ``allErrors``, and words the errors with
``@segment/ajv-human-errors``. :class:`PayloadValidator` does the same in one pass over the
payload, with a plan compiled once from the fields' JSON Schema:

1. Empty values leave the payload: ``null`` where the type does not allow it, ``""`` where it
   does not allow a string, ``""`` on any top-level field (also when a one-element array
   holds it), and ``""`` on a required string field at any depth, which is then missing.
2. Keys the fields do not name leave it (and keys an object field does not name, unless it
   allows ``additionalProperties``).
3. A value of the wrong type is converted when nothing is lost (``5`` -> ``"5"``, ``"12"`` ->
   ``12``, ``"true"`` -> ``True``, ``true`` -> ``1``); a one-element array stands for its
   element; a ``multiple`` field wraps a single value in a list.
4. Then required fields, choices, minimum/maximum and formats are checked, and every problem
   is reported at once.

Where we part from Segment, and why, is in ``docs/payload-validation.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from framework.definitions.coercion import (
    CONVERTERS,
    FAIL,
    choice_key,
    is_number,
    type_matcher,
)
from framework.definitions.fields_schema import fields_to_json_schema
from framework.definitions.formats import FORMAT_LABELS, format_checker, format_predicates
from framework.definitions.models import FieldDefinition
from framework.definitions.payload_wording import (
    Subject,
    article_for,
    describe,
    humanize_list,
    json_text,
)
from framework.errors import PayloadValidationError, Problem
from framework.mapping.jsvalues import js_number_string

__all__ = [
    "BAD_FORMAT",
    "NOT_IN_CHOICES",
    "OUT_OF_RANGE",
    "PAYLOAD_PROBLEM_CODES",
    "REQUIRED_FIELD_MISSING",
    "WRONG_TYPE",
    "PayloadValidator",
]

REQUIRED_FIELD_MISSING: Final = "PAYLOAD_REQUIRED_FIELD_MISSING"
"""A required field is absent, or was empty and so removed."""
WRONG_TYPE: Final = "PAYLOAD_WRONG_TYPE"
"""A value has the wrong type and cannot be converted without loss."""
NOT_IN_CHOICES: Final = "PAYLOAD_NOT_IN_CHOICES"
"""A value is not one of the field's choices."""
OUT_OF_RANGE: Final = "PAYLOAD_OUT_OF_RANGE"
"""A number is outside the field's minimum/maximum, or a string's length is."""
BAD_FORMAT: Final = "PAYLOAD_BAD_FORMAT"
"""A string does not have the field's format (URI, email address, date, ...)."""
PAYLOAD_PROBLEM_CODES: Final = frozenset(
    {REQUIRED_FIELD_MISSING, WRONG_TYPE, NOT_IN_CHOICES, OUT_OF_RANGE, BAD_FORMAT}
)
"""Every ``code`` a :class:`Problem` of a :class:`PayloadValidationError` can have."""

# A check takes a value and its JSON pointer, appends any problems, and returns the cleaned
# value, or _DROP when the value is empty and leaves its object or array.
_Check = Callable[[Any, str, list[Problem]], Any]
_DROP: Final = object()
_FAIL: Final = FAIL  # a conversion that would lose something


class PayloadValidator:
    """Validates payloads for one action's fields; build it once, call :meth:`validate` often.

    ``schema`` is the fields' JSON Schema; ``json_validator`` checks it with ``jsonschema``
    (same formats) and is much slower than :meth:`validate`: use it for tools and tests.
    """

    __slots__ = ("_properties", "_required", "json_validator", "schema")

    def __init__(self, fields: Mapping[str, FieldDefinition]) -> None:
        self.schema: dict[str, Any] = fields_to_json_schema(fields)
        Draft202012Validator.check_schema(self.schema)
        self.json_validator: Validator = Draft202012Validator(
            self.schema, format_checker=format_checker()
        )
        compiler = _Compiler(format_predicates())
        self._properties, self._required = compiler.members(self.schema, top_level=True)

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload cleaned and converted, as a new dict; ``payload`` itself is unchanged.

        Raises :class:`PayloadValidationError` listing every problem, each at the JSON pointer
        of its field (``/userId``, ``/items/0/sku``). Messages never quote a value. The
        contents of free-form object fields (no ``properties``) are shared with the input.
        """
        if not isinstance(payload, Mapping):  # a caller without a type checker
            message = f"The root value must be an object but it was {describe(payload)}."  # type: ignore[unreachable]
            raise PayloadValidationError([Problem("", message, WRONG_TYPE)])
        problems: list[Problem] = []
        result: dict[str, Any] = {}
        properties = self._properties
        for key, value in payload.items():
            member = properties.get(key)
            # Segment drops "" from every top-level field, even a string one.
            if member is None or (value == "" and isinstance(value, str)):
                continue
            check, pointer = member
            cleaned = check(value, pointer, problems)
            if cleaned is not _DROP:
                result[key] = cleaned
        for key, message in self._required:
            if key not in result:
                problems.append(Problem(f"/{key}", message, REQUIRED_FIELD_MISSING))
        if problems:
            raise PayloadValidationError(problems)
        return result


# -- compiling a schema into checks ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Keywords:
    """What a value of the right type must still satisfy, with its message suffixes."""

    choices: frozenset[object] | None
    choices_message: str
    minimum: float | None
    maximum: float | None
    min_length: int | None
    max_length: int | None
    format: Callable[[str], bool] | None
    format_message: str

    @property
    def empty(self) -> bool:
        return self.choices is None and self.format is None and not self.has_limits

    @property
    def has_limits(self) -> bool:
        limits = (self.minimum, self.maximum, self.min_length, self.max_length)
        return any(limit is not None for limit in limits)


class _Compiler:
    """Turns the JSON Schema of some fields into checks, once per action."""

    def __init__(self, formats: Mapping[str, Callable[[str], bool]]) -> None:
        self._formats = formats

    def members(
        self, schema: Mapping[str, Any], *, top_level: bool = False
    ) -> tuple[dict[str, tuple[_Check, str]], tuple[tuple[str, str], ...]]:
        """The check and pointer of each property, and each required key with its message."""
        checks = {
            key: (
                self.value(node, top_level=top_level, required=key in schema["required"]),
                f"/{key}",
            )
            for key, node in schema["properties"].items()
        }
        # For a top-level object the pointer is always "": name it once here.
        subject = Subject(schema.get("title", ""))
        required = tuple(
            (key, f"{subject.name('')} is missing the required field '{key}'.")
            for key in schema["required"]
        )
        return checks, required

    def value(
        self, node: Mapping[str, Any], *, top_level: bool = False, required: bool = False
    ) -> _Check:
        """The check of one value; ``""`` leaves a top-level or required field (see step 1)."""
        kinds = _types(node)
        if "array" in kinds:
            return self._array(node, wrap_anything=top_level)
        if "object" in kinds:
            return self._object(node)
        return self._scalar(node, drop_empty=top_level or required)

    def _type_message(self, node: Mapping[str, Any]) -> str:
        phrase = humanize_list(_types(node))
        return f" must be {article_for(phrase)} {phrase} but it was "

    def _keywords(self, node: Mapping[str, Any]) -> _Keywords:
        choices = node.get("enum")
        fmt = node.get("format")
        check_format = None if fmt is None else self._formats.get(fmt)
        return _Keywords(
            choices=None if choices is None else frozenset(map(choice_key, choices)),
            choices_message=""
            if choices is None
            else f" must be one of: {humanize_list([json_text(c) for c in choices])}.",
            minimum=node.get("minimum"),
            maximum=node.get("maximum"),
            min_length=node.get("minLength"),
            max_length=node.get("maxLength"),
            format=check_format,
            format_message=f" must be a valid {FORMAT_LABELS.get(fmt or '', fmt)} string "
            "but it was not.",
        )

    def _scalar(self, node: Mapping[str, Any], *, drop_empty: bool) -> _Check:
        nullable = "null" in _types(node)
        kinds = tuple(kind for kind in _types(node) if kind != "null")
        allows_string = "string" in kinds
        # Where "" means "no value" for a field that takes strings (other types never keep "").
        drop_empty = drop_empty and allows_string
        subject = Subject(node.get("title", ""))
        type_message = self._type_message(node)
        keywords = self._keywords(node)
        converters = tuple(CONVERTERS[kind] for kind in kinds)
        check_keywords = _keyword_check(keywords, subject)
        matches = type_matcher(kinds)

        def convert(value: object) -> object:
            for converter in converters:
                converted = converter(value)
                if converted is not _FAIL:
                    return converted
            return _FAIL

        def check(value: Any, pointer: str, problems: list[Problem]) -> Any:
            if value is None:
                return None if nullable else _DROP
            if drop_empty and value == "" and isinstance(value, str):
                return _DROP
            if not matches(value):
                if value == "" and isinstance(value, str) and not allows_string:
                    return _DROP
                target = value
                # A one-element array stands for its element (ajv's coerceTypes: 'array').
                if isinstance(value, list | tuple) and len(value) == 1:
                    target = value[0]
                    if drop_empty and target == "" and isinstance(target, str):
                        return _DROP
                    if target is None:
                        converted = None if nullable else _FAIL
                    else:
                        converted = target if matches(target) else convert(target)
                else:
                    converted = convert(value)
                if converted is _FAIL:
                    name = subject.name(pointer)
                    message = f"{name}{type_message}{describe(target)}."
                    problems.append(Problem(pointer, message, WRONG_TYPE))
                    # ajv goes on with the keywords that apply to what it found.
                    if check_keywords is not None:
                        check_keywords(target, pointer, problems)
                    return value
                value = converted
            if check_keywords is not None:
                check_keywords(value, pointer, problems)
            return value

        return check

    def _object(self, node: Mapping[str, Any]) -> _Check:
        nullable = "null" in _types(node)
        subject = Subject(node.get("title", ""))
        type_message = self._type_message(node)
        if "properties" not in node:
            members: dict[str, tuple[_Check, str]] | None = None
            required: tuple[tuple[str, str], ...] = ()
        else:
            members = {
                key: (self.value(child, required=key in node["required"]), f"/{key}")
                for key, child in node["properties"].items()
            }
            required = tuple((key, f"/{key}") for key in node["required"])
        additional = node.get("additionalProperties", True)

        def check(value: Any, pointer: str, problems: list[Problem]) -> Any:
            if value is None:
                return None if nullable else _DROP
            if not isinstance(value, Mapping):
                if value == "" and isinstance(value, str):
                    return _DROP
                message = f"{subject.name(pointer)}{type_message}{describe(value)}."
                problems.append(Problem(pointer, message, WRONG_TYPE))
                return value
            if members is None:
                return value
            result: dict[str, Any] = {}
            for key, item in value.items():
                member = members.get(key)
                if member is None:
                    if additional:
                        result[key] = item
                    continue
                child, segment = member
                cleaned = child(item, pointer + segment, problems)
                if cleaned is not _DROP:
                    result[key] = cleaned
            for key, segment in required:
                if key not in result:
                    message = f"{subject.name(pointer)} is missing the required field '{key}'."
                    problems.append(Problem(pointer + segment, message, REQUIRED_FIELD_MISSING))
            return result

        return check

    def _array(self, node: Mapping[str, Any], *, wrap_anything: bool) -> _Check:
        subject = Subject(node.get("title", ""))
        item_check = self.value(node["items"])
        type_message = self._type_message(node)

        def check(value: Any, pointer: str, problems: list[Problem]) -> Any:
            if value is None:
                return _DROP
            if isinstance(value, list | tuple):
                items = value
            elif value == "" and isinstance(value, str):
                return _DROP
            elif wrap_anything or isinstance(value, str | int | float):
                # Segment's arrify wraps anything at the top level; ajv only scalars below.
                items = (value,)
            else:
                message = f"{subject.name(pointer)}{type_message}{describe(value)}."
                problems.append(Problem(pointer, message, WRONG_TYPE))
                return value
            result: list[Any] = []
            for item in items:
                # Indices count the kept items, as ajv sees the array after cleaning.
                cleaned = item_check(item, f"{pointer}/{len(result)}", problems)
                if cleaned is not _DROP:
                    result.append(cleaned)
            return result

        return check


def _types(node: Mapping[str, Any]) -> tuple[str, ...]:
    types = node["type"]
    return (types,) if isinstance(types, str) else tuple(types)


def _keyword_check(
    keywords: _Keywords, subject: Subject
) -> Callable[[Any, str, list[Problem]], None] | None:
    if keywords.empty:
        return None
    choices = keywords.choices
    minimum, maximum = keywords.minimum, keywords.maximum
    min_length, max_length = keywords.min_length, keywords.max_length
    check_format = keywords.format
    chars = _characters

    def check(value: Any, pointer: str, problems: list[Problem]) -> None:
        if choices is not None and choice_key(value) not in choices:
            message = f"{subject.name(pointer)}{keywords.choices_message}"
            problems.append(Problem(pointer, message, NOT_IN_CHOICES))
        if is_number(value):
            if minimum is not None and value < minimum:
                bound = js_number_string(minimum)
                message = f"{subject.name(pointer)} must be equal to or greater than {bound}."
                problems.append(Problem(pointer, message, OUT_OF_RANGE))
            if maximum is not None and value > maximum:
                bound = js_number_string(maximum)
                message = f"{subject.name(pointer)} must be equal to or less than {bound}."
                problems.append(Problem(pointer, message, OUT_OF_RANGE))
        elif isinstance(value, str):
            length = len(value)
            if min_length is not None and length < min_length:
                message = (
                    f"{subject.name(pointer)} must be {chars(min_length)} or more "
                    f"but it was {chars(length)}."
                )
                problems.append(Problem(pointer, message, OUT_OF_RANGE))
            if max_length is not None and length > max_length:
                message = (
                    f"{subject.name(pointer)} must be {chars(max_length)} or fewer "
                    f"but it was {chars(length)}."
                )
                problems.append(Problem(pointer, message, OUT_OF_RANGE))
            if check_format is not None and not check_format(value):
                message = f"{subject.name(pointer)}{keywords.format_message}"
                problems.append(Problem(pointer, message, BAD_FORMAT))

    return check


def _characters(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"
