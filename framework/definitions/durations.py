"""Durations as people write them in files and on command lines: ``4h``, ``10m``, ``90s``.

A duration is a number of seconds (``600``, ``2.5``) or a text of one or more parts, each a
number and a unit: ``ms``, ``s``, ``m``, ``h``, ``d`` (``1h30m``, ``250ms``, ``2d``). It
must be positive. :func:`parse_duration` reads one; :func:`format_duration` writes seconds
back in the same form, for messages and progress lines.
"""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d)"

DURATION_PATTERN = rf"^\s*(?:\d+(?:\.\d+)?|(?:{_PART})+)\s*$"
"""What a duration text matches (also used by the JSON Schemas of instances)."""

_WHOLE = re.compile(DURATION_PATTERN)
_PARTS = re.compile(_PART)


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value`` (a number of seconds, or a text such as ``4h`` or ``1h30m``).

    Raises ValueError, with a sentence saying what is accepted, for anything else, and for a
    duration that is zero, negative or not finite.
    """
    if isinstance(value, bool):
        raise ValueError(_explain(value))
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.match(value):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = sum(float(n) * _UNITS[unit] for n, unit in _PARTS.findall(text))
    else:
        raise ValueError(_explain(value))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(_explain(value))
    return seconds


def _explain(value: object) -> str:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return (
        f"{shown} is not a duration: give a positive number of seconds, or a number and a unit "
        "(ms, s, m, h, d), such as 600, 90s, 10m, 4h or 1h30m."
    )


def format_duration(seconds: float) -> str:
    """``seconds`` as a short text: ``250ms``, ``42s``, ``10m``, ``1h30m``, ``2d``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{round(seconds)}s"
    total = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
