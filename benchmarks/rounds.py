"""Ratios that survive a noisy machine: alternate rounds of ours and a baseline, and pair them.

A shared machine's speed drifts over seconds. A benchmark that runs all of one side's passes,
then all of the other's, measures the drift as much as the code (three runs in a row gave
2.08, 3.20 and 3.16). Here each side runs one round at a time, in turn (ours, theirs, ours,
theirs, ...), each round gives a rate (units per second, higher is faster), and the ratio is
taken within each adjacent pair, so both rounds of a pair ran on about the same machine. The
figure is the median of the pairs' ratios, with their spread (min and max)::

    ratio = measure(lambda: our_rate(), lambda: their_rate(), rounds=7)
    print(ratio.line("ratio_vs_segment"))   # ratio_vs_segment: 2.91 (min 2.80, max 3.02, 7 pairs)

Every benchmark prints its ratio as its last line, in that form.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["PairedRatio", "ameasure", "measure"]


@dataclass(frozen=True, slots=True)
class PairedRatio:
    """The rates of each side's rounds, in order, and the ratio of each pair (ours/theirs)."""

    ours: tuple[float, ...]
    theirs: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        """Ours over theirs, for each pair of rounds."""
        return tuple(
            mine / other if other > 0 else float("inf")
            for mine, other in zip(self.ours, self.theirs, strict=True)
        )

    @property
    def median(self) -> float:
        """The median of the pairs' ratios: the figure to quote."""
        return statistics.median(self.ratios)

    @property
    def spread(self) -> tuple[float, float]:
        """The lowest and the highest pair ratio."""
        return min(self.ratios), max(self.ratios)

    def line(self, name: str) -> str:
        """``name: R (min A, max B, N pairs)``: what a benchmark prints last."""
        low, high = self.spread
        pairs = len(self.ratios)
        return f"{name}: {self.median:.2f} (min {low:.2f}, max {high:.2f}, {pairs} pairs)"


def measure(
    ours: Callable[[], float], theirs: Callable[[], float], *, rounds: int = 7
) -> PairedRatio:
    """Run ``ours`` and ``theirs`` in turn, ``rounds`` times each; each returns a rate."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    mine: list[float] = []
    other: list[float] = []
    for _ in range(rounds):
        mine.append(ours())
        other.append(theirs())
    return PairedRatio(tuple(mine), tuple(other))


async def ameasure(
    ours: Callable[[], Awaitable[float]],
    theirs: Callable[[], Awaitable[float]],
    *,
    rounds: int = 7,
) -> PairedRatio:
    """:func:`measure` for rounds that are coroutines (delivery and serving benchmarks)."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    mine: list[float] = []
    other: list[float] = []
    for _ in range(rounds):
        mine.append(await ours())
        other.append(await theirs())
    return PairedRatio(tuple(mine), tuple(other))
