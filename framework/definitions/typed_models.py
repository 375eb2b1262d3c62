"""Python source for typed models of a destination: its settings and each action's payload.

Code that embeds the engine gets ``TypedDict`` classes to type what it hands to an action or
reads from a planned request's payload, the way Segment's ``generate:types`` writes
TypeScript interfaces for its destinations. The source is a pure function of the
definition, so a check can regenerate it and compare (``actionkit types --check``).

Types, per field: ``string``, ``text``, ``password`` and ``datetime`` are ``str``;
``integer`` is ``int``; ``number`` is ``float`` (an ``int`` is accepted where a float is
expected); ``boolean`` is ``bool``; ``object`` is a nested ``TypedDict`` when it declares
``properties``, else ``dict[str, Any]``. ``choices`` make a ``Literal``, ``multiple`` a
``list``, ``allowNull`` adds ``| None``. A required field is ``Required[...]`` in a
``total=False`` class: every other key may be absent, as in a payload.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping

from framework.definitions.destination import Destination
from framework.definitions.models import FieldDefinition

_WIDTH = 100

_SCALARS = {
    "string": "str",
    "text": "str",
    "password": "str",
    "datetime": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
}


def class_name(*parts: str) -> str:
    """``eventsSync`` and ``payload`` as ``EventsSyncPayload``: PascalCase of the parts' words."""
    words: list[str] = []
    for part in parts:
        words += [word for word in re.split(r"[^0-9A-Za-z]+", part) if word]
    name = "".join(word[:1].upper() + word[1:] for word in words) or "Model"
    return f"_{name}" if name[0].isdigit() else name


class _Writer:
    """Collects the classes of one module, nested ones before the classes that use them."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.names: set[str] = set()
        self.imports: set[str] = {"TypedDict"}

    def unique(self, name: str) -> str:
        candidate, number = name, 2
        while candidate in self.names:
            candidate, number = f"{name}{number}", number + 1
        self.names.add(candidate)
        return candidate

    def typed_dict(self, name: str, doc: str, fields: Mapping[str, FieldDefinition]) -> str:
        """Write a ``TypedDict`` for ``fields``; returns its (unique) class name."""
        name = self.unique(name)
        entries = [(key, self.annotation(name, key, spec), spec) for key, spec in fields.items()]
        # Field and setting keys are identifiers (the schema's pattern), so a class spells them.
        lines = [f"class {name}(TypedDict, total=False):", _docstring(doc, "    ")]
        for key, annotation, spec in entries:
            lines.append("")
            lines.append(f"    {key}: {annotation}")
            lines.append(_docstring(_field_doc(spec), "    "))
        if not entries:
            lines.append("")
            lines.append("    pass")
        self.blocks.append("\n".join(lines))
        return name

    def annotation(self, owner: str, key: str, spec: FieldDefinition) -> str:
        """The type of one field, written as a class body or mapping entry would hold it."""
        if spec.choices:
            inner = f"Literal[{', '.join(_literal(choice.value) for choice in spec.choices)}]"
            self.imports.add("Literal")
        elif spec.type == "object":
            if spec.properties:
                inner = self.typed_dict(
                    class_name(owner, key), f"The object of the field '{key}'.", spec.properties
                )
            else:
                inner = "dict[str, Any]"
                self.imports.add("Any")
        else:
            inner = _SCALARS[spec.type]
        if spec.multiple:
            inner = f"list[{inner}]"
        if spec.allow_null:
            inner = f"{inner} | None"
        if not spec.required:
            return inner
        self.imports.add("Required")
        return f"Required[{inner}]"


def _field_doc(spec: FieldDefinition) -> str:
    text = spec.label
    if spec.description:
        text = f"{text}: {spec.description}"
    return text


def _literal(value: object) -> str:
    """A Python literal of a JSON scalar, in double quotes as formatters write strings."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _docstring(text: str, indent: str) -> str:
    """A docstring at ``indent``, wrapped to fit 100 columns."""
    escaped = " ".join(text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').split())
    one_line = f'{indent}"""{escaped}"""'
    if len(one_line) <= _WIDTH:
        return one_line
    lines = textwrap.wrap(escaped, _WIDTH - len(indent) - 3, break_on_hyphens=False)
    body = "\n".join(f"{indent}{line}" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""'


def render_types(destination: Destination) -> str:
    """The Python module of typed models for ``destination`` (settings, then each action)."""
    definition = destination.definition
    writer = _Writer()
    settings_class = writer.typed_dict(
        "Settings", f"The settings of {definition.name}.", definition.settings
    )
    payloads = {
        key: writer.typed_dict(
            class_name(key, "payload"),
            f"The payload of the action '{key}' ({action.title}).",
            action.fields,
        )
        for key, action in definition.actions.items()
    }
    by_action = "\n".join(f"    {_literal(key)}: {name}," for key, name in payloads.items())
    exported = "\n".join(
        f"    {_literal(name)},"
        for name in sorted(
            [settings_class, *payloads.values(), "PAYLOADS"],
            key=lambda name: (not name.isupper(), name),  # constants first, as isort sorts
        )
    )
    title = (
        f"Typed models of the destination {definition.name} ({definition.slug}): its settings "
        "and each action's payload."
    )
    header = (
        _docstring(title, "").removesuffix('"""').rstrip("\n")
        + "\n\n"
        + textwrap.fill(
            f"Generated by `actionkit types {definition.slug}`; do not edit by hand: regenerate "
            "it when the definition changes.",
            _WIDTH,
        )
        + '\n"""\n\n'
        f"from typing import {', '.join(sorted(writer.imports))}\n\n"
        f"__all__ = [\n{exported}\n]\n"
    )
    footer = (
        f"PAYLOADS: dict[str, type] = {{\n{by_action}\n}}\n"
        '"""Each action\'s payload class, by action key."""\n'
    )
    # No `from __future__ import annotations`: TypedDict reads Required[...] at run time only
    # from evaluated annotations (nested classes come first, so nothing is a forward reference).
    return header + "\n\n" + "\n\n\n".join(writer.blocks) + "\n\n\n" + footer
