"""A Personalize project's experiences, and the manifest the Edge API computes from them.

``GET /manifest`` answers ``{"experiences": [{"shortUid", "activeVariantShortUid"}, ...]}``:
every experience of the project, in priority order, with the variant active for the user, or
``null`` when the experience is disabled or the user meets no variant's criteria (Contentstack's
page "Manifest" of the Edge API reference). The emulator has no audiences: a variant's criteria
are the attribute values it names in ``when``, all of which the user must have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Experience", "Variant", "manifest", "parse_experiences", "same_json"]


def same_json(left: object, right: object) -> bool:
    """JSON equality: as ``==``, except that ``true`` is not ``1`` and ``false`` is not ``0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    return left == right


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant of an experience: active for a user whose attributes hold every ``when`` pair.

    An empty ``when`` matches every user.
    """

    short_uid: str
    when: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a user with these attributes meets this variant's criteria."""
        return all(
            key in attributes and same_json(attributes[key], value)
            for key, value in self.when.items()
        )


@dataclass(frozen=True, slots=True)
class Experience:
    """An experience: its variants in order (the first one a user meets is active).

    ``enabled`` False: no variant is active for anyone. ``tags``: for ``GET /manifest?tags[]=``.
    """

    short_uid: str
    variants: tuple[Variant, ...] = ()
    enabled: bool = True
    tags: tuple[str, ...] = ()

    def active_variant(self, attributes: Mapping[str, Any]) -> str | None:
        """The short UID of the variant active for a user with these attributes, or None."""
        if not self.enabled:
            return None
        for variant in self.variants:
            if variant.matches(attributes):
                return variant.short_uid
        return None

    def tagged(self, tags: Iterable[str]) -> bool:
        """Whether the experience has one of ``tags`` (any case)."""
        mine = {tag.lower() for tag in self.tags}
        return any(tag.lower() in mine for tag in tags)


def manifest(
    experiences: Iterable[Experience],
    attributes: Mapping[str, Any],
    tags: Iterable[str] = (),
) -> dict[str, Any]:
    """The manifest body for a user with ``attributes``: only experiences with one of ``tags``
    when tags are given (any case), in the order given, which is their priority."""
    wanted = [tag for tag in tags if tag]
    return {
        "experiences": [
            {"shortUid": item.short_uid, "activeVariantShortUid": item.active_variant(attributes)}
            for item in experiences
            if not wanted or item.tagged(wanted)
        ]
    }


def _text(value: object, where: str) -> str:
    if not (isinstance(value, str) and value):
        raise ValueError(f"{where} must be a non-empty string.")
    return value


def _variant(raw: object, where: str) -> Variant:
    if isinstance(raw, str):
        return Variant(_text(raw, where))
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a short UID or an object with shortUid and when.")
    when = raw.get("when", {})
    if not isinstance(when, dict):
        raise ValueError(f"{where}.when must be an object of attribute values.")
    return Variant(_text(raw.get("shortUid"), f"{where}.shortUid"), dict(when))


def parse_experiences(raw: object) -> tuple[Experience, ...]:
    """Experiences from their JSON form; ValueError with a sentence naming the bad item.

    ``[{"shortUid": "a", "variants": ["0", {"shortUid": "1", "when": {"plan": "pro"}}],
    "enabled": true, "tags": ["home"]}]``: a variant is its short UID (for everyone) or an
    object with ``shortUid`` and ``when``; ``enabled`` (default true) and ``tags`` are optional.
    """
    if not isinstance(raw, list):
        raise ValueError("The experiences must be a JSON array.")
    experiences: list[Experience] = []
    for index, item in enumerate(raw):
        where = f"experiences[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object.")
        variants = item.get("variants", [])
        if not isinstance(variants, list):
            raise ValueError(f"{where}.variants must be an array.")
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"{where}.enabled must be true or false.")
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            raise ValueError(f"{where}.tags must be an array of strings.")
        experiences.append(
            Experience(
                _text(item.get("shortUid"), f"{where}.shortUid"),
                tuple(
                    _variant(variant, f"{where}.variants[{number}]")
                    for number, variant in enumerate(variants)
                ),
                enabled,
                tuple(_text(tag, f"{where}.tags[{number}]") for number, tag in enumerate(tags)),
            )
        )
    return tuple(experiences)
