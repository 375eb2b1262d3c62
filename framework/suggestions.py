"""'Did you mean ...?' for a word that is not in a closed set (directives, actions, settings)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: object, choices: Iterable[object]) -> str | None:
    """The choice ``word`` most likely misspells, or None when none is close enough.

    A choice equal but for case wins; else the closest by difflib's ratio, at least 0.6.
    Only text is compared: a word or choice that is not a string (a YAML key may be null or
    a number) gets no suggestion.
    """
    if not isinstance(word, str):
        return None
    options = [choice for choice in choices if isinstance(choice, str)]
    folded = word.casefold()
    for choice in options:
        if choice.casefold() == folded and choice != word:
            return choice
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches and matches[0] != word else None


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """`` Did you mean 'x'?`` (with its leading space) for a close choice, else ``""``."""
    match = closest(word, choices)
    return f" Did you mean '{match}'?" if match is not None else ""
