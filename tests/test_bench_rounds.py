"""The paired-rounds ratio of the benchmarks: alternation, pairing, median and spread."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from benchmarks.rounds import PairedRatio, ameasure, measure


def test_rounds_alternate_and_each_pair_gives_its_ratio() -> None:
    calls: list[str] = []
    ours = iter([10.0, 20.0, 30.0])
    theirs = iter([5.0, 5.0, 10.0])

    def mine() -> float:
        calls.append("ours")
        return next(ours)

    def other() -> float:
        calls.append("theirs")
        return next(theirs)

    ratio = measure(mine, other, rounds=3)
    assert calls == ["ours", "theirs"] * 3
    assert ratio.ratios == (2.0, 4.0, 3.0)
    assert ratio.median == 3.0
    assert ratio.spread == (2.0, 4.0)
    assert ratio.line("ratio_vs_x") == "ratio_vs_x: 3.00 (min 2.00, max 4.00, 3 pairs)"


def test_a_drifting_machine_cancels_out_within_pairs() -> None:
    # The machine slows by half over the run; each side is twice the other's speed per pair.
    slowdown = itertools.count()
    ratio = measure(
        lambda: 200.0 / (1 + next(slowdown) / 10),
        lambda: 100.0 / (1 + next(slowdown) / 10),
        rounds=5,
    )
    # Within 10% of 2; all of one side, then all of the other, would give about 1.5.
    assert 1.9 < ratio.median < 2.2


def test_the_async_form_alternates_too() -> None:
    order: list[str] = []

    async def mine() -> float:
        order.append("a")
        return 3.0

    async def other() -> float:
        order.append("b")
        return 1.5

    ratio = asyncio.run(ameasure(mine, other, rounds=2))
    assert order == ["a", "b", "a", "b"]
    assert ratio == PairedRatio((3.0, 3.0), (1.5, 1.5))
    assert ratio.median == 2.0


def test_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rounds"):
        measure(lambda: 1.0, lambda: 1.0, rounds=0)
