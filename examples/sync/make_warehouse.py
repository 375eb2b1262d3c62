"""Creates the example warehouse: ``warehouse.sqlite`` with a ``users`` table (and a CSV twin).

    python examples/sync/make_warehouse.py [--rows N] [--out PATH]

Each user has a plan, a lifetime value, an active flag and the audiences they belong to,
kept as comma-separated text in ``audiences`` (the sync sends it as a list attribute, as
Hightouch's guide to audience membership in Personalize describes).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLANS = ("free", "pro", "enterprise")
AUDIENCES = ("newsletter", "high-value", "churn-risk", "beta")


def user_row(index: int) -> tuple[int, str, str, str, float, int, str]:
    """The example user number ``index``: deterministic, so runs can be compared."""
    plan = PLANS[index % len(PLANS)]
    audiences = [name for bit, name in enumerate(AUDIENCES) if (index >> bit) & 1]
    return (
        index,
        f"user-{index:07d}",
        f"user{index}@example.com",
        plan,
        round(index * 1.25 % 1000, 2),
        index % 2,
        ",".join(audiences),
    )


def make(path: Path, rows: int) -> None:
    """Write ``rows`` users to a fresh SQLite file at ``path``."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, user_uid TEXT, email TEXT, plan TEXT, "
            "ltv REAL, is_active INTEGER, audiences TEXT)"
        )
        batch = 10_000
        for start in range(1, rows + 1, batch):
            stop = min(start + batch, rows + 1)
            db.executemany(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_row(i) for i in range(start, stop)),
            )
    db.close()


def main() -> None:
    """Command line: the SQLite warehouse, and ``users.csv`` with the same rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "warehouse.sqlite")
    args = parser.parse_args()
    make(args.out, args.rows)
    with (args.out.parent / "users.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "user_uid", "email", "plan", "ltv", "is_active", "audiences"])
        writer.writerows(user_row(i) for i in range(1, min(args.rows, 1000) + 1))
    print(args.out)


if __name__ == "__main__":
    main()
