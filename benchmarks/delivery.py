"""Delivery benchmark: events from a file through the router into the emulator on loopback.

    python benchmarks/delivery.py [--events 3000] [--users 200] [--concurrency 64] [--window 50]

Writes a JSON-lines file of track and identify events (as a pipeline would read them), then
routes it through a Contentstack instance pointed at the Personalize Edge emulator (in its own
process), three times: without batching (one request per event), with batching and no window
(a user's events combine while that user's previous request is in flight), and with a batch
window (an idle user's first event waits ``--window`` ms for more). For each run it prints
events per second, requests sent, and the p50 and p99 latency of a delivery (from when the
router got the event to when the API answered). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from framework import Router, load_instance
from framework.delivery.stats import percentile


@contextmanager
def emulator_process() -> Iterator[str]:
    """Start ``actionkit emulate contentstack`` in its own process; yields its base URL.

    A separate process, as a real API would be: an emulator thread in the benchmark's own
    process would share its interpreter lock and halve the figures.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "emulate", "contentstack"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit("the emulator did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_events(count: int, users: int, seed: int = 11) -> list[dict[str, Any]]:
    """Track events (80%) and identify calls (20%) spread over ``users`` users."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for index in range(count):
        user = f"user-{rng.randrange(users):05d}"
        if rng.random() < 0.8:
            events.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": rng.choice(["Product Viewed", "Product Added", "Order Completed"]),
                    "messageId": f"m{index}",
                    "properties": {"price": round(rng.uniform(1, 200), 2)},
                }
            )
        else:
            events.append(
                {
                    "type": "identify",
                    "userId": user,
                    "messageId": f"m{index}",
                    "traits": {"plan": rng.choice(["free", "pro"]), "visits": rng.randint(1, 99)},
                }
            )
    return events


def run(
    path: Path, url: str, *, batching: bool, concurrency: int, window: float | None = None
) -> dict[str, Any]:
    """Route the file once; returns the figures of the run."""
    instance = load_instance(
        {
            "destination": "contentstack",
            "name": "bench",
            "settings": {"personalizeProjectId": "bench", "personalizeEdgeApiBaseUrl": url},
            "mappings": [
                {"name": "events", "preset": "events-sync"},
                {
                    "name": "attributes",
                    "preset": "custom-attributes-sync",
                    "trigger": 'type = "identify"',
                },
            ],
            "delivery": {"allowLoopback": True},  # the emulator listens on loopback
        }
    )
    latencies: list[float] = []
    delivered = 0
    other: dict[str, int] = {}
    started = time.perf_counter()
    with (
        path.open(encoding="utf-8") as handle,
        Router(
            [instance],
            dead_letters=None,
            batching=batching,
            batch_window=window,
            concurrency=concurrency,
        ) as r,
    ):
        events = (json.loads(line) for line in handle)
        for deliveries in r.route_many(events):
            for delivery in deliveries:
                if delivery.outcome == "delivered":
                    delivered += 1
                    if delivery.latency is not None:
                        latencies.append(delivery.latency)
                elif delivery.outcome != "not_subscribed":
                    other[delivery.outcome] = other.get(delivery.outcome, 0) + 1
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": seconds,
        "delivered": delivered,
        "other": other,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    """Run both configurations and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=float, default=50.0, help="batch window, ms")
    args = parser.parse_args()
    events = make_events(args.events, args.users)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in events))
        print(f"events: {len(events)} over {args.users} users, concurrency {args.concurrency}")
        runs = [
            ("without batching", False, None),
            ("batching, no window", True, 0.0),
            (f"batching, {args.window:g} ms window", True, args.window / 1000),
        ]
        for label, batching, window in runs:
            with emulator_process() as url:
                figures = run(
                    path, url, batching=batching, concurrency=args.concurrency, window=window
                )
                counters = httpx.get(f"{url}/_emulator/state").json()["counters"]
            requests = sum(sum(by_status.values()) for by_status in counters.values())
            print(
                f"{label:<26}: {len(events) / figures['seconds']:8.0f} events/s  "
                f"{figures['delivered']} deliveries in {requests} requests  "
                f"p50 {figures['p50_ms']:.1f} ms  p99 {figures['p99_ms']:.1f} ms"
                + (f"  other outcomes {figures['other']}" if figures["other"] else "")
            )


if __name__ == "__main__":
    main()
