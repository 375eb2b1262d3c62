"""From a source row to what a sync would send, and whether it changed since the last success.

Pure functions, no I/O: :func:`map_row` reads the primary key and the user UID, computes each
attribute (a column, or a mapping-kit mapping over ``{"row": {...}}``), converts and checks its
type, and hashes the result; :func:`classify` compares that hash with the stored one.

:func:`map_row` runs once for every row of every run, so it skips what a row does not need:
values JSON already knows (text, integers, booleans, null) are taken as they are, and the JSON
that is hashed comes from one encoder made once (``json.dumps`` with options makes a new one
each call). The text and so the hash are the very same as ``json.dumps(..., sort_keys=True,
separators=(",", ":"))``: a state written before still matches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from framework.sync.config import SyncConfig
from framework.sync.values import check_value, jsonable

__all__ = ["Change", "MappedRow", "classify", "digest", "map_row"]

Change = Literal["added", "changed", "unchanged"]
"""How a row compares with the state: new, different from the last success, or the same."""

PRIMARY_KEY_MISSING = "PRIMARY_KEY_MISSING"
USER_UID_MISSING = "USER_UID_MISSING"
ATTRIBUTE_TYPE_MISMATCH = "ATTRIBUTE_TYPE_MISMATCH"


@dataclass(frozen=True, slots=True)
class MappedRow:
    """One row, mapped: its key, user UID and attributes, or why it cannot be sent.

    ``error_code`` and ``error`` are set for a row that is rejected before sending (no
    primary key, no user UID, a value of the wrong type: every problem, one sentence each).
    ``digest`` hashes the UID and the attributes; ``sent`` is their JSON.
    """

    key: str
    uid: str | None
    attributes: dict[str, Any] | None
    digest: str | None = None
    sent: str | None = None
    error_code: str | None = None
    error: str | None = None


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""The JSON a row sends, as ``json.dumps(value, sort_keys=True, separators=(",", ":"))``."""

_AS_IS = frozenset({str, int, bool, type(None)})
"""Types :func:`jsonable` returns unchanged: a value of one of them skips the call."""


def digest(sent: str) -> str:
    """A short stable hash of the JSON a row sends."""
    return hashlib.blake2b(sent.encode(), digest_size=16).hexdigest()


def _key(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None or value == "":
        return None
    return str(jsonable(value))


def map_row(config: SyncConfig, row: dict[str, Any], position: int) -> MappedRow:
    """Map one source row; ``position`` (from 1) names a row that has no primary key."""
    key = _key(row.get(config.primary_key))
    if key is None:
        return MappedRow(
            f"#{position}",
            None,
            None,
            error_code=PRIMARY_KEY_MISSING,
            error=f"Row {position} has no value in the primary key column '{config.primary_key}'.",
        )
    uid = _key(row.get(config.user_uid))
    if uid is None:
        return MappedRow(
            key,
            None,
            None,
            error_code=USER_UID_MISSING,
            error=f"The row has no Personalize User UID (column '{config.user_uid}' is empty).",
        )
    as_is = _AS_IS
    values = {
        name: value if type(value) in as_is else jsonable(value) for name, value in row.items()
    }
    source = {"row": values}
    attributes: dict[str, Any] = {}
    problems: list[str] = []
    for field in config.fields:
        if field.column is not None:
            if field.column not in values:
                problems.append(
                    f"The query returns no column '{field.column}' for the attribute "
                    f"'{field.name}'."
                )
                continue
            value = values[field.column]
        else:
            assert field.mapping is not None
            resolved = field.mapping.resolve(source)
            if "value" not in resolved:
                continue  # the mapping gave nothing: the attribute is left as it is
            value = resolved["value"]
        converted, problem = check_value(field.name, field.type, value, nullable=field.nullable)
        if problem is not None:
            problems.append(problem)
        else:
            attributes[field.name] = converted
    if config.extra_mapping is not None:
        attributes.update(config.extra_mapping.resolve(source))
    if problems:
        return MappedRow(
            key, uid, None, error_code=ATTRIBUTE_TYPE_MISMATCH, error=" ".join(problems)
        )
    sent = _ENCODER.encode([uid, attributes])
    return MappedRow(key, uid, attributes, digest(sent), sent)


def classify(row_digest: str, stored: str | None) -> Change:
    """``added`` when the state has no entry, ``changed`` when it differs, else ``unchanged``."""
    if stored is None:
        return "added"
    return "unchanged" if stored == row_digest else "changed"
