"""Sync benchmark: a SQLite model of users synced into a sink, beside a bare client, then a diff.

    python benchmarks/sync.py [--rows 1000000] [--changed 0.01] [--concurrency 64]
                              [--sink emulator|nginx] [--rounds 3]

Writes a SQLite warehouse with ``--rows`` users (plan, lifetime value, active flag, audience
list). The sink is the Contentstack Personalize Edge emulator (in its own process, as a real
API would be) or, with ``--sink nginx``, nginx answering 200 on loopback (see
benchmarks/delivery.py), which costs the machine almost nothing, so that the sync has the
second core to itself.

Rounds alternate (benchmarks/rounds.py): a first sync of every row into an empty state (every
row sent, one ``PATCH`` each), then a bare aiohttp loop (``--concurrency`` requests in flight
on as many keep-alive connections) sending the very requests that sync sends (same methods,
URLs, headers and JSON bodies, written beforehand to a file and read back as it goes, so that
its memory stays flat too). Then ``--changed`` of the rows get a new plan and a second sync
diffs every row against the last round's state and sends only those. For each run it prints
rows per second, requests sent, and the process's peak resident memory (``ru_maxrss``) so far.
The last line is ``ratio_vs_bare_client: R (min A, max B, N pairs)``: the first sync's rows
per second over the bare loop's requests per second, the median of the pairs. Not a test: it
prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.delivery import NGINX_HINT, emulator_process, find_nginx, nginx_process
from benchmarks.rounds import measure
from framework.sync.config import SyncConfig, load_sync_config
from framework.sync.diff import map_row
from framework.sync.plan import row_event, sync_instance
from framework.sync.runner import SyncResult, run_sync
from framework.sync.sources import iter_batches

PLANS = ("free", "pro", "enterprise")
AUDIENCES = ("newsletter", "high-value", "churn-risk", "beta")


def _rows(count: int) -> Iterator[tuple[Any, ...]]:
    for index in range(1, count + 1):
        audiences = ",".join(name for bit, name in enumerate(AUDIENCES) if (index >> bit) & 1)
        yield (
            index,
            f"user-{index:07d}",
            PLANS[index % 3],
            index % 997 * 1.5,
            index % 2,
            audiences,
        )


def make_warehouse(path: Path, rows: int) -> None:
    """A SQLite file with a ``users`` table of ``rows`` rows, written in one pass."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, user_uid TEXT, plan TEXT, ltv REAL, "
            "is_active INTEGER, audiences TEXT)"
        )
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", _rows(rows))
    db.close()


def peak_mib() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """The CPU time this process has used so far (user and system, every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(label: str, result: SyncResult, seconds: float, cpu: float) -> None:
    """Print one run's figures; ``cpu``: the seconds of CPU the process used meanwhile."""
    counts = result.counts
    sent = counts["succeeded"] + counts["rejected"]
    rows = counts["queried"]
    print(
        f"{label}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
        f"({cpu / max(1, rows) * 1e6:,.0f} µs of CPU a row); sent {sent:,} "
        f"({sent / seconds:,.0f} requests/s), added {counts['added']:,}, changed "
        f"{counts['changed']:,}, unchanged {counts['unchanged']:,}, rejected "
        f"{counts['rejected']:,}; peak RSS {peak_mib():,.0f} MiB",
        flush=True,
    )


@contextmanager
def sink_process(sink: str) -> Iterator[str]:
    """The sink's base URL while it runs: the emulator, or nginx answering 200."""
    if sink == "emulator":
        with emulator_process() as url:
            yield url
        return
    binary = find_nginx()
    if binary is None:
        print(NGINX_HINT, file=sys.stderr)
        raise SystemExit(2)
    with nginx_process(binary) as url:
        yield url


def sync_document(args: argparse.Namespace) -> dict[str, Any]:
    """The sync file the benchmark runs: every column as an attribute, state in SQLite."""
    return {
        "name": "bench",
        "source": {"url": "sqlite:///warehouse.sqlite", "query": "SELECT * FROM users"},
        "primaryKey": "id",
        "userUid": "user_uid",
        "fields": {
            "plan": "plan",
            "ltv": {"column": "ltv", "type": "number"},
            "active": {"column": "is_active", "type": "boolean"},
            "audiences": {"column": "audiences", "type": "list"},
        },
        "destination": "instance.yaml",
        "batchSize": args.batch_size,
        "concurrency": args.concurrency,
        "state": "state.sqlite",
        "history": "history.sqlite",
        "deadLetters": None,
    }


def write_requests(config: SyncConfig, path: Path) -> int:
    """Write the requests a first sync sends, one JSON line each (method, URL, headers,
    body); how many. Planned by the sync's own instance, so they are the very same."""
    instance = sync_instance(config.instance, config.name)
    written = 0
    batches = iter_batches(
        url=config.source_url, query=config.query, csv_path=config.csv_path, size=1000
    )
    with path.open("w", encoding="utf-8") as handle:
        for rows in batches:
            lines = []
            for row in rows:
                event = row_event(config.name, map_row(config, row, 0))
                for plan in instance.plan(event):
                    request = plan.request
                    assert plan.status == "ready"
                    assert request is not None
                    headers = {**request.headers, "user-agent": "actionkit"}
                    body = json.dumps(request.json)
                    lines.append(json.dumps([request.method, request.url, headers, body]))
                    written += 1
            handle.write("\n".join(lines) + "\n")
    return written


async def bare_round(path: Path, concurrency: int) -> tuple[int, float]:
    """Send the requests in ``path`` with a bare aiohttp loop, ``concurrency`` in flight,
    reading the file as it goes; how many, and the seconds it took."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    failures = sent = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        with path.open(encoding="utf-8") as handle:

            async def worker() -> None:
                nonlocal failures, sent
                for line in handle:
                    method, url, headers, body = json.loads(line)
                    async with session.request(
                        method, url, headers=headers, data=body.encode()
                    ) as response:
                        await response.read()
                        sent += 1
                        if response.status != 200:
                            failures += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the bare loop got {failures} answers other than 200")
    return sent, seconds


def forget_state(folder: Path) -> None:
    """Delete the state and the history (and their WAL files): the next sync is a first one."""
    for name in ("state.sqlite", "history.sqlite"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)


def main() -> None:
    """Command line: build the warehouse, alternate first syncs and the bare loop, diff."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sink", choices=("emulator", "nginx"), default="emulator")
    parser.add_argument("--rounds", type=int, default=3, help="first syncs (and bare loops)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="actionkit-sync-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        make_warehouse(folder / "warehouse.sqlite", args.rows)
        print(
            f"warehouse: {args.rows:,} rows in {time.perf_counter() - started:.1f} s; "
            f"peak RSS {peak_mib():,.0f} MiB",
            flush=True,
        )
        with sink_process(args.sink) as url:
            (folder / "instance.yaml").write_text(
                "destination: contentstack\nname: bench\nsettings:\n"
                f"  personalizeProjectId: bench\n  personalizeEdgeApiBaseUrl: {url}\n"
                "mappings: []\ndelivery: {allowLoopback: true}\n"
            )
            config = load_sync_config(sync_document(args), base_dir=folder)
            requests = folder / "requests.jsonl"
            count = write_requests(config, requests)
            print(
                f"sink {args.sink} at {url}; concurrency {args.concurrency}, batch size "
                f"{args.batch_size}, {args.rounds} rounds each; {count:,} requests written for "
                f"the bare loop; peak RSS {peak_mib():,.0f} MiB",
                flush=True,
            )

            def first_sync() -> float:
                forget_state(folder)
                begun, cpu = time.perf_counter(), cpu_seconds()
                result = run_sync(config, fewer_collections=True)
                seconds = time.perf_counter() - begun
                report("first sync", result, seconds, cpu_seconds() - cpu)
                if result.counts["succeeded"] != args.rows:
                    raise SystemExit(f"the sync delivered {result.counts['succeeded']} rows")
                return result.counts["queried"] / seconds

            def bare() -> float:
                cpu = cpu_seconds()
                sent, seconds = asyncio.run(bare_round(requests, args.concurrency))
                cpu = cpu_seconds() - cpu
                print(
                    f"bare aiohttp loop: {sent:,} requests in {seconds:.1f} s = "
                    f"{sent / seconds:,.0f} requests/s ({cpu / sent * 1e6:,.0f} µs of CPU a "
                    f"request); peak RSS {peak_mib():,.0f} MiB",
                    flush=True,
                )
                return sent / seconds

            ratio = measure(first_sync, bare, rounds=args.rounds)
            step = max(1, round(1 / args.changed)) if args.changed > 0 else args.rows + 1
            with sqlite3.connect(folder / "warehouse.sqlite") as db:
                db.execute("UPDATE users SET plan = 'changed' WHERE id % ? = 0", (step,))
            db.close()
            begun, cpu = time.perf_counter(), cpu_seconds()
            second = run_sync(config, fewer_collections=True)
            seconds = time.perf_counter() - begun
            report(f"sync with {args.changed:.0%} changed", second, seconds, cpu_seconds() - cpu)
    print(
        f"first sync: {statistics.median(ratio.ours):,.0f} rows/s (median; min "
        f"{min(ratio.ours):,.0f}, max {max(ratio.ours):,.0f}) = "
        f"{args.rows / statistics.median(ratio.ours):,.0f} s for {args.rows:,} rows"
    )
    print(
        f"bare aiohttp loop: {statistics.median(ratio.theirs):,.0f} requests/s (median; min "
        f"{min(ratio.theirs):,.0f}, max {max(ratio.theirs):,.0f}); peak RSS "
        f"{peak_mib():,.0f} MiB"
    )
    print(ratio.line("ratio_vs_bare_client"))


if __name__ == "__main__":
    main()
