"""Counting delivery outcomes and latencies, by instance and action."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

LATENCY_WINDOW = 10_000
"""How many recent latencies are kept per instance and action for the percentiles."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile (0..1) of sorted values, by the nearest-rank method."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class DeliveryStats:
    """Thread-safe counters of outcomes and a window of latencies per (instance, action)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[tuple[str, str, str]] = Counter()
        self._latencies: dict[tuple[str, str], deque[float]] = {}

    def record(self, instance: str, action: str, outcome: str, latency: float | None) -> None:
        """Count one delivery's outcome, and its latency in seconds when it was sent."""
        with self._lock:
            self._outcomes[(instance, action, outcome)] += 1
            if latency is not None:
                window = self._latencies.setdefault(
                    (instance, action), deque(maxlen=LATENCY_WINDOW)
                )
                window.append(latency)

    def outcome_counts(self) -> dict[str, int]:
        """Total count of each outcome, over every instance and action."""
        totals: Counter[str] = Counter()
        with self._lock:
            for (_, _, outcome), count in self._outcomes.items():
                totals[outcome] += count
        return dict(totals)

    def snapshot(self) -> dict[str, Any]:
        """Everything, as JSON-ready nested dicts: instance -> action -> counts and latency."""
        with self._lock:
            outcomes = dict(self._outcomes)
            latencies = {key: sorted(values) for key, values in self._latencies.items()}
        result: dict[str, Any] = {}
        for (instance, action, outcome), count in sorted(outcomes.items()):
            entry = result.setdefault(instance, {}).setdefault(action, {"outcomes": {}})
            entry["outcomes"][outcome] = count
        for (instance, action), values in latencies.items():
            entry = result.setdefault(instance, {}).setdefault(action, {"outcomes": {}})
            entry["latency_ms"] = {
                "count": len(values),
                "p50": round(percentile(values, 0.50) * 1000, 3),
                "p99": round(percentile(values, 0.99) * 1000, 3),
                "max": round(values[-1] * 1000, 3) if values else 0.0,
            }
        return result
