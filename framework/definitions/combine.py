"""How the bodies of a batch combine into one request, and what may not be combined.

A batched action sends the events that share a batch key in one request. That request takes
its method, URL and headers from the batch's first event, and its body from every event: the
part of the body at the batch's ``path`` (the whole body without one) is an array in each event
(``concat`` joins them in event order) or an object (``merge`` merges them, the later event's
value winning); the rest of the body is the first event's.

So a batch is only lossless when everything taken from the first event is the same for every
event of the batch. :func:`check_batch` proves that when the definition loads, or refuses it:

- the URL, each header and the body outside the combined part may read the payload only
  through values the batch key holds (``{{payload.userId}}`` in both): events that share the
  key then share those values;
- the combined part must be able to combine: an array literal or a directive for ``concat``
  (an object body needs a ``path`` to the array inside it), a directive for ``merge`` (an
  object literal has the same keys in every event, so all but the last would be lost).

:func:`part_refusal` checks each built body, so a directive that yields the wrong kind of
value makes that one event invalid before anything is sent, whether it ends up alone in its
request or with others; a batch of one has the shape of a batch of many.
:func:`combine_bodies` does the combining, and :func:`outside_part` gives what a body keeps
from the first event, so that a batch can be checked to be lossless event by event, whatever
the key (see :func:`.request.combine_requests`). Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from framework.definitions.models import BatchCombine, BatchSpec, RequestTemplate
from framework.definitions.source import escape_pointer_token
from framework.definitions.templates import Template
from framework.errors import Problem, RequestBuildError
from framework.mapping.nodes import is_directive

__all__ = ["check_batch", "combine_bodies", "outside_part", "part_refusal", "pointer_tokens"]

_SIMPLE_PAYLOAD_PATH = re.compile(r"^\$\.payload((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$")
_MISSING = object()


def pointer_tokens(pointer: str | None) -> tuple[str, ...]:
    """The unescaped tokens of a JSON pointer (``"/a~1b/c"`` gives ``("a/b", "c")``)."""
    if not pointer:
        return ()
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in pointer.split("/")[1:])


def _template_part(body: Any, tokens: tuple[str, ...]) -> Any:
    """The body template's node at ``tokens``, through literal objects only, or _MISSING."""
    node = body
    for token in tokens:
        if not isinstance(node, dict) or is_directive(node) or token not in node:
            return _MISSING
        node = node[token]
    return node


def _payload_reads(node: Any) -> list[tuple[str, ...] | None]:
    """What a directive reads from the payload: a field path, or None when it cannot be told."""
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("@path"), str):
        match = _SIMPLE_PAYLOAD_PATH.match(node["@path"])
        if match:
            return [tuple(match.group(1)[1:].split("."))]
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "payload" in item:
            return [None]
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return []


def _body_reads(
    node: Any, pointer: str, skip: tuple[str, ...] | None
) -> list[tuple[str, tuple[str, ...] | None]]:
    """Payload reads of a body template outside the part at ``skip``, with their pointers."""
    if skip == ():
        return []
    if is_directive(node):
        return [(pointer, read) for read in _payload_reads(node)]
    found: list[tuple[str, tuple[str, ...] | None]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            inner = skip[1:] if skip is not None and skip[0] == key else None
            found.extend(_body_reads(value, f"{pointer}/{escape_pointer_token(key)}", inner))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_body_reads(value, f"{pointer}/{index}", None))
    return found


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(("payload", *path))


def check_batch(batch: BatchSpec, request: RequestTemplate, pointer: str) -> list[Problem]:
    """Every reason the action at ``pointer`` cannot batch without losing or misrouting data.

    With ``maxCount: 1`` nothing ever combines, and there is nothing to check.
    """
    problems: list[Problem] = []
    if batch.max_count == 1:
        return problems
    key, _ = Template.compile(batch.key, f"{pointer}/batch/key")
    keyed = {path[1:] for path in key.paths if path[0] == "payload"} if key is not None else set()

    def not_keyed(where: str, path: tuple[str, ...] | None, what: str) -> None:
        if path is None:
            message = (
                f"The {what} reads the payload in a way whose value cannot be told before "
                "an event arrives, but a batch's request takes it from the first event only: "
                "the other events would be sent with the first one's value. Read payload "
                'values there with {"@path": "$.payload.<field>"} only, and put each of them '
                "in the batch key."
            )
        else:
            message = (
                f"The {what} uses {_dotted(path)}, which the batch key does not hold: a "
                "batch's request takes it from the first event only, so events with another "
                f"value would be sent with the first one's. Put {{{{{_dotted(path)}}}}} in "
                "the batch key."
            )
        problems.append(Problem(where, message, "BATCH_LOSES_DATA"))

    templates = [("request URL", f"{pointer}/request/url", request.url)]
    templates.extend(
        (
            f"header '{name}'",
            f"{pointer}/request/headers/{escape_pointer_token(name)}",
            source,
        )
        for name, source in request.headers.items()
    )
    for what, where, source in templates:
        template, _ = Template.compile(source, where)
        if template is None:
            continue
        for path in template.paths:
            if path[0] == "payload" and path[1:] not in keyed:
                not_keyed(where, path[1:], what)

    body_pointer = f"{pointer}/request/body"
    if request.body is None:
        problems.append(
            Problem(
                f"{pointer}/batch",
                "The action's request has no body, so a batch would send only its first "
                "event. Give the request a body to combine, or remove 'batch'.",
                "BATCH_LOSES_DATA",
            )
        )
        return problems
    tokens = pointer_tokens(batch.path)
    part = _template_part(request.body, tokens)
    if part is _MISSING:
        problems.append(
            Problem(
                f"{pointer}/batch/path",
                "The batch path must name a key of the request body written out as an "
                "object (not a key produced by a directive), such as /events for a body "
                "{events: [...]}.",
                "BATCH_PATH_INVALID",
            )
        )
        return problems
    for where, read in _body_reads(request.body, body_pointer, tokens):
        if read is None or read not in keyed:
            not_keyed(where, read, "request body, outside the part the batch combines,")
    part_pointer = body_pointer + (batch.path or "")
    if batch.combine == "concat" and not (isinstance(part, list) or is_directive(part)):
        hint = (
            "give the batch a 'path' to the array inside it (such as /events)"
            if isinstance(part, dict)
            else "make it an array"
        )
        problems.append(
            Problem(
                f"{pointer}/batch/combine",
                f"'concat' joins arrays, but the body part at {part_pointer} is written as "
                f"{_kind(part)}: a batch would send another shape than a single event. "
                f"To batch it, {hint}.",
                "BATCH_LOSES_DATA",
            )
        )
    if batch.combine == "merge" and not is_directive(part):
        problems.append(
            Problem(
                f"{pointer}/batch/combine",
                f"'merge' merges objects whose keys come from each event, but the body part "
                f"at {part_pointer} is written as {_kind(part)}: every event would have the "
                "same keys, and all but the last event's values would be lost. Use 'concat' "
                'over an array, or a directive that gives the object (such as {"@path": '
                '"$.payload.traits"}).',
                "BATCH_LOSES_DATA",
            )
        )
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a single value"


def part_refusal(body: Any, batch: BatchSpec) -> str | None:
    """Why a built body cannot take part in ``batch``, or None when it can (always, when
    ``maxCount`` is 1: such a batch never combines)."""
    if batch.max_count == 1:
        return None
    part = body
    for token in pointer_tokens(batch.path):
        if not isinstance(part, dict) or token not in part:
            return f"The request body has no value at {batch.path}, which the batch combines."
        part = part[token]
    kind = "null" if part is None else _kind(part)
    where = f"at {batch.path}" if batch.path else "itself"
    if batch.combine == "concat" and not isinstance(part, list):
        return (
            f"The request body {where} must be an array for the batch to concatenate, and "
            f"it is {kind}."
        )
    if batch.combine == "merge" and not isinstance(part, dict):
        return (
            f"The request body {where} must be an object for the batch to merge, and it is {kind}."
        )
    return None


def combine_bodies(bodies: Sequence[Any], how: BatchCombine, path: str | None = None) -> Any:
    """One body from the bodies of a batch: the first, with the parts at ``path`` combined.

    Each part must be an array (``concat``) or an object (``merge``), as :func:`part_refusal`
    checks when a request is built; should one not be, :class:`RequestBuildError` is raised
    rather than a part left out.
    """
    batch = BatchSpec(key="", combine=how, path=path)
    for body in bodies:
        refusal = part_refusal(body, batch)
        if refusal is not None:
            raise RequestBuildError(refusal, reason="BATCH_BODY_INVALID")
    tokens = pointer_tokens(path)
    parts = []
    for body in bodies:
        part = body
        for token in tokens:
            part = part[token]
        parts.append(part)
    combined: Any
    if how == "concat":
        combined = [item for part in parts for item in part]
    else:
        combined = {}
        for part in parts:
            combined.update(part)
    return _replace(bodies[0], tokens, combined)


def outside_part(body: Any, path: str | None = None) -> Any:
    """``body`` without the part at ``path`` that a batch combines (None in its place).

    Two events' bodies combine without loss only when these are equal. A body that has no
    part at ``path`` is returned whole, so that it differs from every body that has one.
    """
    tokens = pointer_tokens(path)
    node = body
    for token in tokens:
        if not isinstance(node, dict) or token not in node:
            return body
        node = node[token]
    return _replace(body, tokens, None)


def _replace(body: Any, tokens: tuple[str, ...], value: Any) -> Any:
    if not tokens:
        return value
    copy = dict(body)
    copy[tokens[0]] = _replace(body[tokens[0]], tokens[1:], value)
    return copy
