"""Delivery benchmark: the router against the emulator, or against nginx beside a bare client.

    python benchmarks/delivery.py [--events 3000] [--users 200] [--concurrency 64] [--window 50]
    python benchmarks/delivery.py --sink nginx [--events 5000] [--rounds 7] [--concurrency 64]
    python benchmarks/delivery.py --sink nginx --api sync    # the sync route_many instead

Writes a JSON-lines file of track and identify events (as a pipeline would read them), then
routes it through a Contentstack instance pointed at the Personalize Edge emulator (in its own
process), three times: without batching (one request per event), with batching and no window
(a user's events combine while that user's previous request is in flight), and with a batch
window (an idle user's first event waits ``--window`` ms for more). For each run it prints
events per second, requests sent, and the p50 and p99 latency of a delivery (from when the
router got the event to when the API answered). Not a test: it prints figures.

With ``--sink nginx`` it measures the router against the wire instead: nginx (from the
system; ``apt-get install -y nginx``) answers 200 with a small JSON body to every request, on
a free loopback port, from a configuration written here, so that the server costs almost
nothing. A bare aiohttp loop (``--concurrency`` requests in flight on as many keep-alive
connections) sends the very requests the router would send (same methods, URLs, headers and
JSON bodies, encoded beforehand), and the router routes the events, one request each
(``batching=False``, ``--concurrency`` events in flight), planning them as it goes. Rounds
alternate (router, bare, router, ...; benchmarks/rounds.py), and the last line is
``ratio_vs_bare_client: R (min A, max B, N pairs)``: the router's requests per second over the
bare loop's, the median of the pairs; the line before it gives each side's CPU time per
request (this process's, which other jobs on the machine sway less). ``--api sync`` routes
with the sync ``route_many`` (a ``with Router(...)`` block, its loop in a thread of its own,
as ``actionkit run`` and the reverse-ETL sync do) instead of ``aroute_many``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.rounds import ameasure
from framework import Router, load_instance
from framework.definitions.instance import Instance
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


def bench_instance(url: str) -> Instance:
    """The Contentstack instance every run routes through, sending to ``url``."""
    return load_instance(
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


def run(
    path: Path, url: str, *, batching: bool, concurrency: int, window: float | None = None
) -> dict[str, Any]:
    """Route the file once; returns the figures of the run."""
    instance = bench_instance(url)
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


NGINX_HINT = "nginx is not installed; install it with: apt-get install -y nginx"

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    """The nginx binary, on the PATH or where Debian puts it (not on a user's PATH)."""
    found = shutil.which("nginx")
    if found is not None:
        return found
    fallback = Path("/usr/sbin/nginx")
    return str(fallback) if fallback.exists() else None


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def nginx_process(binary: str) -> Iterator[str]:
    """Start nginx on a free loopback port, answering 200 to everything; yields its base URL."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, port=port))
        process = subprocess.Popen(
            [binary, "-p", folder, "-e", f"{folder}/error.log", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    error = process.stderr.read() if process.stderr else ""
                    raise SystemExit(f"nginx did not start: {error.strip()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("nginx did not listen within 10 s") from None
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def planned_requests(
    instance: Instance, events: list[dict[str, Any]]
) -> list[tuple[str, str, dict[str, str], bytes]]:
    """The requests the router sends for ``events`` (one each): method, URL, headers, body."""
    requests: list[tuple[str, str, dict[str, str], bytes]] = []
    for event in events:
        for plan in instance.plan(event):
            if plan.status == "ready" and plan.request is not None:
                request = plan.request
                body = json.dumps(request.json).encode()
                requests.append(
                    (
                        request.method,
                        request.url,
                        {**request.headers, "user-agent": "actionkit"},
                        body,
                    )
                )
    return requests


async def bare_round(
    requests: list[tuple[str, str, dict[str, str], bytes]], concurrency: int
) -> float:
    """Send ``requests`` with a bare aiohttp loop, ``concurrency`` in flight; requests/s."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        position = iter(range(len(requests)))
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for index in position:
                method, url, headers, body = requests[index]
                async with session.request(method, url, headers=headers, data=body) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the bare loop got {failures} answers other than 200")
    return len(requests) / seconds


def count(deliveries: list[Any], other: dict[str, int]) -> int:
    """How many of ``deliveries`` were delivered; ``other`` counts the rest but not_subscribed."""
    delivered = 0
    for delivery in deliveries:
        if delivery.outcome == "delivered":
            delivered += 1
        elif delivery.outcome != "not_subscribed":
            other[delivery.outcome] = other.get(delivery.outcome, 0) + 1
    return delivered


def sync_round(
    instance: Instance, events: list[dict[str, Any]], concurrency: int, other: dict[str, int]
) -> int:
    """Route ``events`` with the sync ``route_many``; how many were delivered."""
    delivered = 0
    with Router([instance], dead_letters=None, batching=False, concurrency=concurrency) as router:
        for deliveries in router.route_many(events):
            delivered += count(deliveries, other)
    return delivered


async def router_round(
    instance: Instance, events: list[dict[str, Any]], sent: int, concurrency: int, api: str
) -> float:
    """Route ``events`` through a router, one request each; requests/s."""
    delivered = 0
    other: dict[str, int] = {}
    started = time.perf_counter()
    if api == "sync":
        delivered = await asyncio.to_thread(sync_round, instance, events, concurrency, other)
    else:
        async with Router(
            [instance], dead_letters=None, batching=False, concurrency=concurrency
        ) as router:
            async for deliveries in router.aroute_many(events):
                delivered += count(deliveries, other)
    seconds = time.perf_counter() - started
    if delivered != sent or other:
        raise SystemExit(f"the router delivered {delivered} of {sent}; other outcomes {other}")
    return sent / seconds


async def against_nginx(url: str, events: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Alternate rounds of the router and the bare loop against nginx at ``url``."""
    instance = bench_instance(url)
    requests = planned_requests(instance, events)
    print(
        f"events: {len(events)} over {args.users} users, one request each, "
        f"concurrency {args.concurrency}, {args.rounds} rounds each, sink nginx at {url}, "
        f"router API {args.api}"
    )
    # One of each first, unmeasured: connections, caches and the allocator warm up.
    await router_round(instance, events, len(requests), args.concurrency, args.api)
    await bare_round(requests, args.concurrency)
    cpu: dict[str, list[float]] = {"router": [], "bare": []}

    async def timed(side: str, round_: Awaitable[float]) -> float:
        """The round's requests/s; notes the process's CPU time per request it took."""
        started = time.process_time()
        rate = await round_
        cpu[side].append((time.process_time() - started) / len(requests) * 1e6)
        return rate

    ratio = await ameasure(
        lambda: timed(
            "router", router_round(instance, events, len(requests), args.concurrency, args.api)
        ),
        lambda: timed("bare", bare_round(requests, args.concurrency)),
        rounds=args.rounds,
    )
    routers = sorted(ratio.ours)
    bares = sorted(ratio.theirs)
    print(
        f"router: {routers[len(routers) // 2]:8.0f} requests/s (median; "
        f"min {routers[0]:.0f}, max {routers[-1]:.0f})"
    )
    print(
        f"bare aiohttp loop: {bares[len(bares) // 2]:8.0f} requests/s (median; "
        f"min {bares[0]:.0f}, max {bares[-1]:.0f})"
    )
    # CPU time per request moves less than requests/s when other jobs load the machine.
    router_cpu, bare_cpu = sorted(cpu["router"]), sorted(cpu["bare"])
    print(
        f"CPU per request (median): router {router_cpu[len(router_cpu) // 2]:.0f} us, "
        f"bare loop {bare_cpu[len(bare_cpu) // 2]:.0f} us (this process; nginx not counted)"
    )
    print(ratio.line("ratio_vs_bare_client"))


def main() -> None:
    """Run both configurations and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="3000; 5000 with nginx")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=float, default=50.0, help="batch window, ms")
    parser.add_argument(
        "--sink",
        choices=("emulator", "nginx"),
        default="emulator",
        help="emulator: the three batching runs; nginx: the router against a bare client",
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each side (nginx)")
    parser.add_argument(
        "--api",
        choices=("async", "sync"),
        default="async",
        help="nginx: route with aroute_many (async) or the sync route_many",
    )
    args = parser.parse_args()
    if args.events is None:
        args.events = 5000 if args.sink == "nginx" else 3000
    events = make_events(args.events, args.users)
    if args.sink == "nginx":
        binary = find_nginx()
        if binary is None:
            print(NGINX_HINT, file=sys.stderr)
            raise SystemExit(2)
        with nginx_process(binary) as url:
            asyncio.run(against_nginx(url, events, args))
        return
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
