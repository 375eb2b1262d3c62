"""The sync file (``SYNC.yaml``): source, keys, attribute mappings, destination and mode.

Checked against ``schemas/sync.schema.json`` and modelled with pydantic; every problem is
reported at once with its JSON pointer and line. Paths written in the file are relative to
the file; the defaults (``.actionkit/sync-state.sqlite``, ``.actionkit/sync-history.sqlite``,
``.actionkit/dead-letters.sqlite``) are relative to the current folder, as for
``actionkit run``, so that ``actionkit runs`` finds the history. Example
(``examples/sync/users.sync.yaml``)::

    name: users
    source: {url: "sqlite:///warehouse.sqlite", query: "SELECT * FROM users"}
    primaryKey: id
    userUid: user_uid
    fields:
      plan: plan
      lifetime_value: {column: ltv, type: number}
      audiences: {column: audiences, type: list}
    destination: ../contentstack.yaml
    mode: update

Each field becomes a mapping-kit mapping over ``{"row": {...}}`` (a column name ``plan`` is
``{"@path": "$.row.plan"}``); ``mapping`` adds any mapping-kit mapping over the same input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from framework.definitions.instance import Instance, load_instance
from framework.definitions.loader import ProblemCollector
from framework.definitions.models import ConfigModel
from framework.definitions.schema_check import bundled_validator, schema_problems
from framework.definitions.source import join_pointer, open_source
from framework.delivery.router import DEFAULT_DEAD_LETTERS as ROUTER_DEAD_LETTERS
from framework.errors import DefinitionError, MappingError, Problem
from framework.mapping import Mapping as CompiledMapping
from framework.mapping import compile_mapping
from framework.sync.alerts import AlertConfig

__all__ = [
    "AttributeField",
    "AttributeType",
    "SyncConfig",
    "SyncSettings",
    "load_sync_config",
]

AttributeType = Literal["any", "string", "number", "integer", "boolean", "list"]
"""What an attribute expects; ``list`` is a list of strings or numbers (audience membership)."""

SyncMode = Literal["update", "all"]
"""``update``: send added and changed rows; ``all``: send every row, every run."""

DEFAULT_STATE = ".actionkit/sync-state.sqlite"
DEFAULT_HISTORY = ".actionkit/sync-history.sqlite"
DEFAULT_DEAD_LETTERS = str(ROUTER_DEAD_LETTERS)
_INVALID = "The sync file is invalid."


class SourceSettings(ConfigModel):
    """A SQL query over a database URL, or a CSV file (relative to the sync file)."""

    url: str | None = None
    query: str | None = None
    csv: str | None = None


class FieldSettings(ConfigModel):
    """One attribute: a column or a mapping, and the type its values must have."""

    column: str | None = None
    mapping: Any = None
    type: AttributeType = "any"
    nullable: bool = True


class SyncSettings(ConfigModel):
    """The file's shape (camelCase keys in the file, snake_case here)."""

    name: str
    source: SourceSettings
    primary_key: str
    user_uid: str
    fields: dict[str, str | FieldSettings] = Field(default_factory=dict)
    mapping: dict[str, Any] | None = None
    destination: str
    mode: SyncMode = "update"
    batch_size: Annotated[int, Field(ge=1)] = 1000
    concurrency: Annotated[int, Field(ge=1)] = 64
    state: str | None = None
    history: str | None = None
    dead_letters: str | None = DEFAULT_DEAD_LETTERS
    keep_calls: Annotated[int, Field(ge=0)] = 1000
    alerts: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AttributeField:
    """A compiled attribute: its name, its column or the mapping that computes it, its type.

    ``mapping`` (when there is no ``column``) resolves to ``{"value": ...}``.
    """

    name: str
    mapping: CompiledMapping | None
    type: AttributeType
    nullable: bool
    column: str | None = None


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """A checked sync, its paths resolved and its instance loaded.

    ``source_url`` is a database URL (SQLite paths made absolute) or None for a CSV source;
    ``state`` is a SQLite path or a ``postgresql://`` URL. ``repr`` hides the URLs (they may
    hold passwords).
    """

    name: str
    source_url: str | None
    query: str | None
    csv_path: Path | None
    primary_key: str
    user_uid: str
    fields: tuple[AttributeField, ...]
    extra_mapping: CompiledMapping | None
    instance: Instance
    mode: SyncMode
    batch_size: int
    concurrency: int
    state: str
    history: Path
    dead_letters: Path | None
    keep_calls: int
    alerts: AlertConfig | None = None
    alert_state: Path | None = None

    def __repr__(self) -> str:
        return f"SyncConfig(name={self.name!r}, instance={self.instance.name!r})"


def _resolve_url(url: str, folder: Path) -> str:
    """A ``sqlite:///relative`` URL made absolute from ``folder``; other URLs unchanged."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str((folder / url.removeprefix("sqlite:///")).resolve())
    return url


def _resolve_store(value: str, folder: Path) -> str:
    if value.startswith(("postgresql://", "postgres://")):
        return value
    if value.startswith("sqlite:///"):
        return _resolve_url(value, folder).removeprefix("sqlite:///")
    return str(folder / value)


def _check_shapes(settings: SyncSettings, collector: ProblemCollector) -> None:
    """What the schema does not say well: which keys go together in a source and a field."""
    src = settings.source
    if (src.csv is None) == (src.url is None and src.query is None) or (
        src.csv is None and (src.url is None or src.query is None)
    ):
        collector.add(
            Problem(
                "/source",
                "A source is either a database `url` and a `query`, or a `csv` file; "
                "give one of the two.",
                "INVALID_SOURCE",
            )
        )
    for name, spec in settings.fields.items():
        if isinstance(spec, FieldSettings) and (spec.column is None) == (spec.mapping is None):
            collector.add(
                Problem(
                    join_pointer("fields", name),
                    f"The field '{name}' needs exactly one of `column` (a column name) and "
                    "`mapping` (a mapping-kit mapping over the row).",
                    "INVALID_FIELD",
                )
            )


def _dead_letters(data: Any, folder: Path) -> Path | None:
    """The dead-letter store: the default (from the current folder), none, or the file's."""
    if not isinstance(data, dict) or "deadLetters" not in data:
        return Path(DEFAULT_DEAD_LETTERS)
    value = data["deadLetters"]
    return None if value is None else folder / str(value)


def _compile(mapping: Any, pointer: str, collector: ProblemCollector) -> CompiledMapping | None:
    """Compile one field's mapping (wrapped, as a mapping is an object), problems at pointer."""
    try:
        return compile_mapping({"value": mapping})
    except MappingError as exc:
        for problem in exc.errors:
            inner = problem.pointer.removeprefix("/value")
            collector.add(Problem(pointer + inner, problem.message, problem.code))
        return None


def _compile_fields(
    settings: SyncSettings, collector: ProblemCollector
) -> tuple[list[AttributeField], CompiledMapping | None]:
    fields: list[AttributeField] = []
    for name, spec in settings.fields.items():
        entry = FieldSettings(column=spec) if isinstance(spec, str) else spec
        if entry.column is not None:
            fields.append(AttributeField(name, None, entry.type, entry.nullable, entry.column))
            continue
        compiled = _compile(entry.mapping, join_pointer("fields", name, "mapping"), collector)
        if compiled is not None:
            fields.append(AttributeField(name, compiled, entry.type, entry.nullable))
    extra = None
    if settings.mapping is not None and collector.mapping(settings.mapping, "/mapping"):
        extra = compile_mapping(settings.mapping)
    return fields, extra


def load_sync_config(
    source: str | Path | Mapping[str, Any], *, base_dir: Path | None = None
) -> SyncConfig:
    """Read, check and load a sync file (or dict); relative paths from its folder.

    Raises :class:`~framework.errors.DefinitionError` listing every problem: of the file, of its
    mappings, and of the destination instance it names.
    """
    document, folder = open_source(source, "<sync>", base_dir=base_dir)
    collector = ProblemCollector(document)
    collector.extend(schema_problems(bundled_validator("sync.schema.json"), document.data))
    collector.raise_if_any(_INVALID)
    settings = collector.model(SyncSettings, document.data)
    collector.raise_if_any(_INVALID)
    if settings is None:  # pragma: no cover - model() recorded a problem
        raise DefinitionError(_INVALID, source=document.name)
    _check_shapes(settings, collector)
    collector.raise_if_any(_INVALID)
    fields, extra = _compile_fields(settings, collector)
    instance: Instance | None = None
    try:
        instance = load_instance(folder / settings.destination)
    except DefinitionError as exc:
        collector.nested(exc, "/destination")
    if instance is not None and "customAttributesSync" not in instance.destination.actions:
        collector.add(
            Problem(
                "/destination",
                f"The destination '{instance.destination.slug}' has no customAttributesSync "
                "action; a sync sets user attributes through it.",
                "UNKNOWN_ACTION",
            )
        )
    alerts: AlertConfig | None = None
    if settings.alerts is not None:
        try:
            alerts = AlertConfig.from_mapping(settings.alerts)
        except DefinitionError as exc:
            for problem in exc.problems:
                collector.add(Problem(f"/alerts{problem.pointer}", problem.message, problem.code))
    collector.raise_if_any(_INVALID)
    assert instance is not None
    src = settings.source
    alert_state = (settings.alerts or {}).get("state")
    return SyncConfig(
        name=settings.name,
        source_url=_resolve_url(src.url, folder) if src.url is not None else None,
        query=src.query,
        csv_path=folder / src.csv if src.csv is not None else None,
        primary_key=settings.primary_key,
        user_uid=settings.user_uid,
        fields=tuple(fields),
        extra_mapping=extra,
        instance=instance,
        mode=settings.mode,
        batch_size=settings.batch_size,
        concurrency=settings.concurrency,
        state=DEFAULT_STATE if settings.state is None else _resolve_store(settings.state, folder),
        history=Path(DEFAULT_HISTORY if settings.history is None else folder / settings.history),
        dead_letters=_dead_letters(document.data, folder),
        keep_calls=settings.keep_calls,
        alerts=alerts,
        alert_state=folder / alert_state if isinstance(alert_state, str) else None,
    )
