"""Sync benchmark: a SQLite model of users into the Personalize emulator, first run and a 1% diff.

    python benchmarks/sync.py [--rows 1000000] [--changed 0.01] [--concurrency 64]

Writes a SQLite warehouse with ``--rows`` users (plan, lifetime value, active flag, audience
list), then runs a sync of it into the Contentstack Personalize Edge emulator (in its own
process, as a real API would be) twice: the first run sends every row; then ``--changed`` of
the rows get a new plan and the second run diffs every row against the state and sends only
those. For each run it prints rows per second (rows read over the run's wall time), requests
sent, and the process's peak resident memory (``ru_maxrss``) so far. Not a test: it prints
figures.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.delivery import emulator_process
from framework.sync.config import load_sync_config
from framework.sync.runner import SyncResult, run_sync

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


def report(label: str, result: SyncResult, seconds: float) -> None:
    """Print one run's figures."""
    counts = result.counts
    sent = counts["succeeded"] + counts["rejected"]
    print(
        f"{label}: {counts['queried']:,} rows in {seconds:.1f} s = "
        f"{counts['queried'] / seconds:,.0f} rows/s; sent {sent:,} "
        f"({sent / seconds:,.0f} requests/s), added {counts['added']:,}, changed "
        f"{counts['changed']:,}, unchanged {counts['unchanged']:,}, rejected "
        f"{counts['rejected']:,}; peak RSS {peak_mib():,.0f} MiB",
        flush=True,
    )


def main() -> None:
    """Command line: build the warehouse, run the sync twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1000)
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
        with emulator_process() as url:
            document = {
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
            (folder / "instance.yaml").write_text(
                "destination: contentstack\nname: bench\nsettings:\n"
                f"  personalizeProjectId: bench\n  personalizeEdgeApiBaseUrl: {url}\n"
                "mappings: []\ndelivery: {allowLoopback: true}\n"
            )
            config = load_sync_config(document, base_dir=folder)
            started = time.perf_counter()
            first = run_sync(config)
            report("first run", first, time.perf_counter() - started)
            step = max(1, round(1 / args.changed)) if args.changed > 0 else args.rows + 1
            with sqlite3.connect(folder / "warehouse.sqlite") as db:
                db.execute("UPDATE users SET plan = 'changed' WHERE id % ? = 0", (step,))
            db.close()
            started = time.perf_counter()
            second = run_sync(config)
            report(f"run with {args.changed:.0%} changed", second, time.perf_counter() - started)


if __name__ == "__main__":
    main()
