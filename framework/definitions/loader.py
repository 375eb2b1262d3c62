"""Loading destination definitions: read, check against the schema, model, compile.

Every problem is collected before anything is raised, each with the file, the JSON pointer and
the line, so one run shows them all. A definition whose trigger, mapping or template does not
compile never loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from framework.definitions.destination import Action, Destination
from framework.definitions.models import ActionDefinition, DestinationDefinition, FieldDefinition
from framework.definitions.payload import PayloadValidator
from framework.definitions.request import RequestBuilder
from framework.definitions.request_forms import setting_reference_problems
from framework.definitions.resources import DEFINITION_FILE as DEFINITION_FILE
from framework.definitions.resources import (
    FoundDestination,
    destination_dirs,
    find_slug,
)
from framework.definitions.schema_check import bundled_validator, schema_problems
from framework.definitions.source import (
    SourceDocument,
    escape_pointer_token,
    join_pointer,
    read_document,
)
from framework.definitions.templates import Template
from framework.errors import DefinitionError, MappingError, Problem, TriggerSyntaxError
from framework.fql import Trigger, parse_trigger
from framework.mapping import compile_mapping
from framework.suggestions import did_you_mean

ModelT = TypeVar("ModelT", bound=BaseModel)


class ProblemCollector:
    """Collects problems of one document, locating each at its line."""

    def __init__(self, document: SourceDocument) -> None:
        self.document = document
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        """Record one problem."""
        self.problems.append(self.document.locate(problem))

    def extend(self, problems: list[Problem]) -> None:
        """Record several problems."""
        for problem in problems:
            self.add(problem)

    def raise_if_any(self, message: str) -> None:
        """Raise a :class:`DefinitionError` listing every problem, if there are any."""
        if self.problems:
            raise DefinitionError(message, self.problems, source=self.document.name)

    def trigger(self, expression: str, pointer: str) -> Trigger | None:
        """Compile a trigger, recording a syntax error at ``pointer``."""
        try:
            return parse_trigger(expression)
        except TriggerSyntaxError as exc:
            self.add(Problem(pointer, f"Invalid trigger: {exc.message}.", exc.code))
            return None

    def mapping(self, mapping: dict[str, Any], pointer: str) -> bool:
        """Compile a mapping, recording each problem under ``pointer``; True when it compiles."""
        try:
            compile_mapping(mapping)
        except MappingError as exc:
            for problem in exc.errors:
                self.add(Problem(pointer + problem.pointer, problem.message, problem.code))
            return False
        return True

    def mapping_value(self, value: Any, pointer: str) -> bool:
        """Compile one value of a mapping (a field's default), its problems under ``pointer``."""
        try:
            compile_mapping({"value": value})
        except MappingError as exc:
            for problem in exc.errors:
                inner = problem.pointer.removeprefix("/value")
                self.add(Problem(pointer + inner, problem.message, problem.code))
            return False
        return True

    def nested(self, error: DefinitionError, pointer: str) -> None:
        """Record another file's error at ``pointer``: each of its problems, prefixed with
        that file's name, or its headline when it has no problem of its own to show."""
        where = f"{error.source}: " if error.source else ""
        if not error.problems:
            self.add(Problem(pointer, f"{where}{error.message}", error.code))
        for problem in error.problems:
            self.add(Problem(pointer, f"{where}{problem}", problem.code))

    def model(self, model: type[ModelT], data: Any, pointer: str = "") -> ModelT | None:
        """Validate ``data`` into a pydantic model, recording its errors as problems."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                where = pointer + join_pointer(*error["loc"])
                # A validator's ValueError reads "Value error, <its sentence>": keep the sentence.
                message = error["msg"].removeprefix("Value error, ")
                self.add(Problem(where, message.rstrip(".") + ".", "MODEL"))
            return None


@contextmanager
def _located(source: str) -> Iterator[None]:
    try:
        yield
    except DefinitionError as exc:
        if exc.source is None:
            exc.source = source
        raise


def duplicate_destination_error(found: FoundDestination) -> DefinitionError:
    """The error for a slug two of the user's destination folders define."""
    message = (
        f"The destination '{found.slug}' is defined twice, in {found.path} and in "
        f"{found.duplicate}; keep one of them, or name the one you mean by its path."
    )
    return DefinitionError(
        f"Two destination folders define '{found.slug}'.",
        [Problem("", message, "DUPLICATE_DESTINATION")],
        source=found.slug,
    )


def find_definition(slug_or_path: str | Path) -> Path:
    """The definition file for a slug (searched in the destination folders) or a path.

    A folder path means its ``destination.yaml``. The search order is
    :mod:`framework.definitions.resources`'s; a slug two of the user's folders define raises
    :class:`DefinitionError` (``DUPLICATE_DESTINATION``, naming both files).
    """
    path = Path(slug_or_path)
    if path.is_dir():
        path = path / DEFINITION_FILE
    if path.is_file():
        return path
    name = str(slug_or_path)
    if "/" not in name and not name.endswith((".yaml", ".yml", ".json")):
        found = find_slug(name)
        if found is not None and found.duplicate is not None:
            raise duplicate_destination_error(found)
        if found is not None:
            return found.path
        searched = ", ".join(str(folder) for folder in destination_dirs())
        raise DefinitionError(
            f"No destination '{name}': no {name}/{DEFINITION_FILE} in {searched}.",
            source=name,
        )
    raise DefinitionError(f"No destination definition at {path}.", source=str(path))


def _field_defaults(fields: dict[str, FieldDefinition]) -> dict[str, Any]:
    return {name: spec.default for name, spec in fields.items() if spec.has_default()}


def _compile_action(
    key: str, definition: ActionDefinition, collector: ProblemCollector
) -> Action | None:
    pointer = join_pointer("actions", key)
    trigger = collector.trigger(definition.default_trigger, f"{pointer}/defaultTrigger")
    defaults = _field_defaults(definition.fields)
    for name, spec in definition.fields.items():
        if spec.secret:
            collector.add(
                Problem(
                    f"{pointer}/fields/{name}/secret",
                    "Only settings take 'secret': an action's field holds event data, which "
                    "is shown where a request is shown.",
                    "SECRET_NOT_ALLOWED",
                )
            )
        if spec.aliases:
            collector.add(
                Problem(
                    f"{pointer}/fields/{name}/aliases",
                    "Only settings take 'aliases'; an action's field gets its value from "
                    "its mapping (use @case or @if to translate values).",
                    "ALIASES_NOT_ALLOWED",
                )
            )
    for name, value in defaults.items():
        collector.mapping_value(value, f"{pointer}/fields/{escape_pointer_token(name)}/default")
    request, problems = RequestBuilder.compile(definition, pointer)
    collector.extend(problems)
    batch_key: Template | None = None
    if definition.batch is not None:
        batch_key, problems = Template.compile(definition.batch.key, f"{pointer}/batch/key")
        collector.extend(problems)
    try:
        validator = PayloadValidator(definition.fields)
    except DefinitionError as exc:
        collector.extend(
            [
                Problem(f"{pointer}/fields{problem.pointer}", problem.message, problem.code)
                for problem in exc.problems
            ]
        )
        return None
    if trigger is None or request is None or (definition.batch and batch_key is None):
        return None
    return Action(key, definition, trigger, defaults, validator, request, batch_key)


def _check_presets(definition: DestinationDefinition, collector: ProblemCollector) -> None:
    for slug, preset in definition.presets.items():
        pointer = join_pointer("presets", slug)
        action = definition.actions.get(preset.action)
        if action is None:
            known = ", ".join(sorted(definition.actions))
            collector.add(
                Problem(
                    f"{pointer}/action",
                    f"The preset names the action '{preset.action}', which this destination "
                    f"does not have; its actions are: {known}."
                    f"{did_you_mean(preset.action, definition.actions)}",
                    "UNKNOWN_ACTION",
                )
            )
            continue
        if preset.trigger is not None:
            collector.trigger(preset.trigger, f"{pointer}/trigger")
        if preset.mapping is not None:
            check_mapping_keys(
                preset.mapping, action, preset.action, f"{pointer}/mapping", collector
            )
            collector.mapping(preset.mapping, f"{pointer}/mapping")


def check_mapping_keys(
    mapping: dict[str, Any],
    action: ActionDefinition,
    action_key: str,
    pointer: str,
    collector: ProblemCollector,
) -> None:
    """Record a problem for every mapping key that is not a field of the action."""
    for name in mapping:
        if name not in action.fields:
            fields = ", ".join(sorted(action.fields))
            collector.add(
                Problem(
                    f"{pointer}/{escape_pointer_token(name)}",
                    f"'{name}' is not a field of the action '{action_key}'; its fields are: "
                    f"{fields}.{did_you_mean(name, action.fields)}",
                    "UNKNOWN_FIELD",
                )
            )


def build_destination(document: SourceDocument, path: Path) -> Destination:
    """Check and compile a parsed destination document; raises :class:`DefinitionError`."""
    collector = ProblemCollector(document)
    schema = bundled_validator("destination.schema.json")
    collector.extend(schema_problems(schema, document.data))
    if collector.problems:
        _check_beyond_schema(document.data, collector)
    collector.raise_if_any("The destination definition is invalid.")
    definition = collector.model(DestinationDefinition, document.data)
    collector.raise_if_any("The destination definition is invalid.")
    if definition is None:  # pragma: no cover - model() recorded a problem
        raise DefinitionError("The destination definition is invalid.", source=document.name)
    actions: dict[str, Action] = {}
    for key, action_definition in definition.actions.items():
        action = _compile_action(key, action_definition, collector)
        if action is not None:
            actions[key] = action
        collector.extend(
            setting_reference_problems(
                action_definition, f"/actions/{escape_pointer_token(key)}", definition.settings
            )
        )
    _check_presets(definition, collector)
    settings_validator: PayloadValidator | None = None
    try:
        settings_validator = PayloadValidator(definition.settings)
    except DefinitionError as exc:
        collector.extend(
            [
                Problem(f"/settings{problem.pointer}", problem.message, problem.code)
                for problem in exc.problems
            ]
        )
    collector.raise_if_any("The destination definition is invalid.")
    if settings_validator is None:  # pragma: no cover - recorded above
        raise DefinitionError("The destination definition is invalid.", source=document.name)
    secrets = frozenset(
        name for name, spec in definition.settings.items() if spec.type == "password" or spec.secret
    )
    return Destination(definition, path, actions, settings_validator, secrets)


def _dict_at(data: dict[str, Any], key: str) -> dict[Any, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _check_beyond_schema(data: Any, collector: ProblemCollector) -> None:
    """With the document's shape broken, still check what can be, so one run shows it all:
    each action's default trigger and field defaults, each preset's action, trigger and
    mapping, taken from whatever of them has the right type."""
    if not isinstance(data, dict):
        return
    actions = _dict_at(data, "actions")
    for key, action in actions.items():
        if not isinstance(action, dict):
            continue
        pointer = join_pointer("actions", str(key))
        if isinstance(action.get("defaultTrigger"), str):
            collector.trigger(action["defaultTrigger"], f"{pointer}/defaultTrigger")
        fields = _dict_at(action, "fields")
        for name, field in fields.items():
            if isinstance(field, dict) and "default" in field:
                where = f"{pointer}/fields/{escape_pointer_token(str(name))}/default"
                collector.mapping_value(field["default"], where)
    presets = _dict_at(data, "presets")
    for slug, preset in presets.items():
        if not isinstance(preset, dict):
            continue
        pointer = join_pointer("presets", str(slug))
        action_key = preset.get("action")
        if isinstance(action_key, str) and actions and action_key not in actions:
            known = ", ".join(sorted(str(key) for key in actions))
            collector.add(
                Problem(
                    f"{pointer}/action",
                    f"The preset names the action '{action_key}', which this destination "
                    f"does not have; its actions are: {known}.{did_you_mean(action_key, actions)}",
                    "UNKNOWN_ACTION",
                )
            )
        if isinstance(preset.get("trigger"), str):
            collector.trigger(preset["trigger"], f"{pointer}/trigger")
        if isinstance(preset.get("mapping"), dict):
            collector.mapping(preset["mapping"], f"{pointer}/mapping")


def load_destination(slug_or_path: str | Path) -> Destination:
    """Load a destination by slug (``"contentstack"``) or by path to its file or folder.

    Raises :class:`DefinitionError` listing every problem (file, JSON pointer, line).
    """
    path = find_definition(slug_or_path)
    document = read_document(path)
    with _located(str(path)):
        return build_destination(document, path)
