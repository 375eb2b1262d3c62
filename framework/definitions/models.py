"""Pydantic models of destination definitions and instances, as read from YAML or JSON.

The models check types and shapes only; cross-references (a preset naming an action that
exists, triggers and mappings that compile) are checked by :mod:`framework.definitions.loader`.
Keys are camelCase in files (``allowNull``, ``defaultTrigger``), as Segment writes them, and
snake_case in Python.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from framework.definitions.durations import format_duration, parse_duration

FieldType = Literal[
    "string", "text", "number", "integer", "boolean", "datetime", "object", "password"
]
"""The types a field or setting can have; ``text`` is a long string, ``password`` a secret one."""

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
"""The HTTP methods an action's request can use."""

HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""The values of :data:`HttpMethod`, in order: what a method setting may choose."""

SignAlgorithm = Literal["sha1", "sha256"]
"""The HMAC hash functions a request signature may use."""

BatchCombine = Literal["concat", "merge"]
"""How the bodies of several events combine into one request.

``concat``: each body (or the part of it at the batch's ``path``) is a JSON array, and the
combined request carries their concatenation, in event order. ``merge``: each is a JSON object,
merged key by key, the later event's value winning (as if the requests were sent one after
another). A batch of one event has the same shape as a batch of many.
"""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
JsonPointer = Annotated[str, StringConstraints(pattern=r"^(/[^/]+)+$")]
"""A JSON pointer to a part of a document, such as ``/events`` (never the root)."""


class ConfigModel(BaseModel):
    """The base of every file actionkit reads: frozen, no unknown keys, camelCase in the file.

    Destinations, instances, server configurations and syncs all derive from it, so a key is
    spelt the same way everywhere and a misspelt one is always reported.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Choice(ConfigModel):
    """One allowed value of a field, with a label for people.

    A plain value (``choices: [eu, us]``) is read as a choice without a label.
    """

    value: str | int | float | bool
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_value(cls, data: Any) -> Any:
        if isinstance(data, str | int | float | bool):
            return {"value": data}
        return data


class FieldDefinition(ConfigModel):
    """A field of an action's payload, or a setting of a destination.

    ``default`` is a mapping-kit value (e.g. ``{"@path": "$.userId"}``) used by default
    mappings; for a setting it is the literal default value. ``aliases`` (settings only) lets a
    short name stand for a value, e.g. a region name for its API base URL.
    """

    label: str
    description: str = ""
    type: FieldType
    required: bool = False
    default: Any = None
    multiple: bool = False
    allow_null: bool = False
    choices: tuple[Choice, ...] | None = None
    properties: dict[Key, FieldDefinition] | None = None
    additional_properties: bool = True
    minimum: float | None = None
    maximum: float | None = None
    format: Literal["uri", "email", "date-time", "https-url"] | None = None
    aliases: dict[str, str] | None = None
    secret: bool = False
    """A setting masked wherever a request is shown, as a password is: for an object setting
    (headers from settings), every value of the object. ``password`` settings always are."""

    def has_default(self) -> bool:
        """Whether the definition gave a default (``default: null`` counts as given)."""
        return "default" in self.model_fields_set


class SignSpec(ConfigModel):
    """A header holding the HMAC of the body sent, keyed by a secret from the settings.

    ``secret`` is a template over settings only (``{{settings.sharedSecret}}``); when it
    renders empty, or the request has no body, the header is left out.
    """

    header: str
    algorithm: SignAlgorithm = "sha1"
    secret: str


class RequestTemplate(ConfigModel):
    """The HTTP request an action makes for one payload.

    ``method`` is one of :data:`HTTP_METHODS` or a setting (``{{settings.method}}``), checked
    when an instance loads. ``url`` and each header value are templates
    (``{{settings.baseUrl}}/events``) over ``{settings, payload}``; ``body`` is a mapping-kit
    value over the same data. A header whose value renders empty is left out.
    ``headers_from`` names an object setting (``{{settings.headers}}``) whose keys and values
    are more headers; ``sign`` adds a signature of the body. The request builder checks the
    forms (:meth:`.request.RequestBuilder.compile`).
    """

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    headers_from: str | None = None
    body: Any = None
    sign: SignSpec | None = None


class BatchSpec(ConfigModel):
    """How the payloads of several events combine into one request.

    Events are grouped by ``key`` (a template over ``{settings, payload}``, e.g. the user ID);
    a group holds at most ``max_count`` events; the bodies combine as ``combine`` says, at
    ``path`` (a JSON pointer into the body, such as ``/events``; the whole body when None). An
    idle group waits ``window_ms`` milliseconds for more events before its first request (0:
    groups form only while the key's previous request is in flight). Whether the body and the
    templates can combine without losing data is checked by the loader
    (:mod:`framework.definitions.combine`).
    """

    key: str
    max_count: Annotated[int, Field(ge=1, le=10_000)] = 100
    window_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    combine: BatchCombine
    path: JsonPointer | None = None
    max_count_from: str | None = None
    """A setting (``{{settings.batchSize}}``) that lowers ``max_count`` for an instance: an
    integer from 1 to ``max_count``, checked when the instance loads."""


class ActionDefinition(ConfigModel):
    """One action of a destination: the payload it takes and the request it makes."""

    title: str
    description: str = ""
    default_trigger: str
    fields: dict[Key, FieldDefinition]
    request: RequestTemplate
    batch: BatchSpec | None = None


class Preset(ConfigModel):
    """A ready-made subscription an instance can name instead of writing a mapping."""

    name: str
    action: Key
    trigger: str | None = None
    mapping: dict[str, Any] | None = None
    enabled: bool = True


class DestinationDefinition(ConfigModel):
    """A destination as data: its settings, actions and presets."""

    name: str
    slug: Slug
    description: str = ""
    integration_names: tuple[str, ...] = ()
    schema_: str | None = Field(default=None, alias="$schema")
    """The JSON Schema an editor checks the file against; ignored when loading."""
    settings: dict[Key, FieldDefinition]
    actions: dict[Key, ActionDefinition]
    presets: dict[Slug, Preset] = Field(default_factory=dict)


class MappingEntry(ConfigModel):
    """One subscription of an instance: which action, when (trigger), and how (mapping).

    Either ``preset`` names one of the destination's presets, or ``action`` is given; an
    explicit ``trigger`` or ``mapping`` overrides the preset's or the action's default.
    """

    name: str
    enabled: bool | None = None
    preset: Slug | None = None
    action: Key | None = None
    trigger: str | None = None
    mapping: dict[str, Any] | None = None


MAX_RETRY_FOR = 7 * 86400.0
"""The longest retry horizon an instance may set: a week."""


class DeliveryOptions(ConfigModel):
    """How an instance's requests are sent; what is left unset takes the router's default."""

    timeout: Annotated[float, Field(gt=0)] | None = None
    connect_timeout: Annotated[float, Field(gt=0)] | None = None
    requests_per_second: Annotated[float, Field(gt=0)] | None = None
    concurrency: Annotated[int, Field(ge=1)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    deadline: Annotated[float, Field(gt=0)] | None = None
    allow_private_network: bool = False
    """Whether requests may go to private and link-local addresses (docs/delivery.md)."""
    allow_loopback: bool = False
    """The testing switch: whether requests may go to loopback addresses (a local emulator)."""
    retry_for: float | None = None
    """How long a queue keeps retrying a delivery that fails retryably (seconds; the file
    may say ``4h``), from its first failure; None: the queue's default, 4 hours."""

    @field_validator("retry_for", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds > MAX_RETRY_FOR:
            raise ValueError(
                f"retryFor may be at most {format_duration(MAX_RETRY_FOR)} (a queue keeps an "
                "event no longer than that)."
            )
        return seconds


class InstanceDefinition(ConfigModel):
    """A destination instance: the destination, its settings, and at most 50 mappings."""

    destination: str
    name: str | None = None
    schema_: str | None = Field(default=None, alias="$schema")
    """The JSON Schema an editor checks the file against; ignored when loading."""
    settings: dict[str, Any] = Field(default_factory=dict)
    mappings: list[MappingEntry] = Field(default_factory=list)
    delivery: DeliveryOptions = Field(default_factory=DeliveryOptions)
