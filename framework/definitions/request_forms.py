"""The request template's forms that take a whole part from one setting, checked at load.

A method (``method: "{{settings.method}}"``), more headers (``headersFrom:
"{{settings.headers}}"``), a signature's secret (``sign.secret``) and a batch size
(``batch.maxCountFrom: "{{settings.batchSize}}"``) are each filled from the settings only, so
every event of an instance gets the same one: the definition is checked here when it loads,
and the instance's settings when it loads (:meth:`.request.RequestBuilder.setting_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from framework.definitions.models import ActionDefinition, FieldDefinition, SignSpec
from framework.definitions.source import escape_pointer_token
from framework.definitions.templates import Template, header_name_refusal
from framework.errors import Problem
from framework.suggestions import did_you_mean

_ONE_SETTING = re.compile(r"^\{\{\s*settings((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}$")


def setting_at(settings: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` inside ``settings`` (None when missing)."""
    value: Any = settings
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def setting_path(
    source: str | None, pointer: str, problems: list[Problem], example: str
) -> tuple[str, ...] | None:
    """The path of ``source`` when it is one placeholder of a setting (``{{settings.x}}``
    gives ``("settings", "x")``); else a problem at ``pointer`` (naming ``example``, the
    form's usual setting) and None."""
    if source is None:
        return None
    match = _ONE_SETTING.match(source)
    if match is None:
        problems.append(
            Problem(
                pointer,
                f"'{source}' must be one setting's placeholder, such as "
                f"{{{{settings.{example}}}}}: the value is taken whole from the instance's "
                "settings.",
                "TEMPLATE_INVALID",
            )
        )
        return None
    return ("settings", *match[1][1:].split("."))


def method_template(source: str, pointer: str, problems: list[Problem]) -> str | Template | None:
    """A method as the builder keeps it: the word itself, or the template of its setting."""
    if "{{" not in source and "}}" not in source:
        return source
    path = setting_path(source, pointer, problems, "method")
    if path is None:
        return None
    template, template_problems = Template.compile(source, pointer)
    problems.extend(template_problems)
    return template


def sign_spec(
    spec: SignSpec | None, header_names: set[str | Template], pointer: str, problems: list[Problem]
) -> tuple[SignSpec, Template] | None:
    """The ``sign`` block with its secret compiled, or None (with problems at ``pointer``'s
    ``/request/sign/...``) when the header name or the secret is not valid."""
    if spec is None:
        return None
    where = f"{pointer}/request/sign"
    found: list[Problem] = []
    refusal = header_name_refusal(spec.header)
    if refusal is not None:
        found.append(
            Problem(
                f"{where}/header",
                f"The header name is not valid: {refusal}.",
                "HEADER_NAME_INVALID",
            )
        )
    elif spec.header.lower() in {name for name in header_names if isinstance(name, str)}:
        found.append(
            Problem(
                f"{where}/header",
                f"The request's headers already send '{spec.header.lower()}'; the signature "
                "needs a header of its own.",
                "HEADER_NAME_INVALID",
            )
        )
    secret, secret_problems = Template.compile(spec.secret, f"{where}/secret")
    found.extend(secret_problems)
    if secret is not None and secret.reads_payload:
        found.append(
            Problem(
                f"{where}/secret",
                "The signature's secret may take settings ({{settings.<key>}}) but not the "
                "payload.",
                "TEMPLATE_INVALID",
            )
        )
    problems.extend(found)
    if found or secret is None:
        return None
    return spec, secret


def count_refusal(value: Any, most: int) -> str | None:
    """Why ``value`` cannot be a batch size of at most ``most``, or None when it can."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return (
            f"The setting is the most events one request carries, and must be a whole number "
            f"from 1 to {most}."
        )
    if not 1 <= value <= most:
        return (
            f"The setting is the most events one request carries, and must be from 1 to "
            f"{most} (the action's maxCount)."
        )
    return None


_FORM_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "method": (frozenset({"string"}), "a string setting (its value is the method)"),
    "headers": (frozenset({"object"}), "an object setting (header names and their values)"),
    "count": (frozenset({"integer", "number"}), "an integer setting (the batch size)"),
}


def setting_reference_problems(
    action: ActionDefinition, pointer: str, settings: Mapping[str, FieldDefinition]
) -> list[Problem]:
    """Every ``{{settings.<key>}}`` of an action's request template and batch that names no
    setting of the destination, and every whole-setting form (a method, ``headersFrom``,
    ``maxCountFrom``) whose setting's type cannot fill it, each at its own pointer.

    Caught when the destination loads, not when an instance does: the destination's author
    is the one who can fix it.
    """
    template = action.request
    places: list[tuple[str, str | None, str | None]] = [
        (f"{pointer}/request/url", template.url, None),
        (f"{pointer}/request/method", template.method, "method"),
        (f"{pointer}/request/headersFrom", template.headers_from, "headers"),
    ]
    for name, value in template.headers.items():
        where = f"{pointer}/request/headers/{escape_pointer_token(name)}"
        places += [(where, name, None), (where, value, None)]
    if template.sign is not None:
        places.append((f"{pointer}/request/sign/secret", template.sign.secret, None))
    if action.batch is not None:
        places += [
            (f"{pointer}/batch/key", action.batch.key, None),
            (f"{pointer}/batch/maxCountFrom", action.batch.max_count_from, "count"),
        ]
    problems: list[Problem] = []
    for where, source, form in places:
        if not isinstance(source, str):
            continue
        # Compiled as the builder compiles it; a template that does not compile is reported
        # there, with its own sentence.
        compiled, template_problems = Template.compile(source, where, url=where.endswith("/url"))
        if compiled is None or template_problems:
            continue
        for path in compiled.paths:
            if path[0] != "settings" or len(path) < 2:
                continue
            key = path[1]
            spec = settings.get(key)
            if spec is None:
                declared = ", ".join(sorted(settings)) or "none"
                problems.append(
                    Problem(
                        where,
                        f"'{{{{settings.{key}}}}}' names no setting of this destination "
                        f"(its settings: {declared}).{did_you_mean(key, settings)}",
                        "SETTING_UNKNOWN",
                    )
                )
            elif form is not None and spec.type not in _FORM_TYPES[form][0]:
                problems.append(
                    Problem(
                        where,
                        f"'{{{{settings.{key}}}}}' is {_article(spec.type)} {spec.type} setting; "
                        "this place takes "
                        f"{_FORM_TYPES[form][1]}.",
                        "SETTING_TYPE_MISMATCH",
                    )
                )
    return problems


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
