"""A run's rejected rows written out as CSV or JSON (``actionkit runs export``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Literal, TextIO

from framework.sync.records import RejectedRow, RunRecord

__all__ = ["write_rejected"]


def write_rejected(
    run: RunRecord, rows: Iterable[RejectedRow], fmt: Literal["csv", "json"], stream: TextIO
) -> int:
    """Write ``rows``, the rejected rows of ``run``, to ``stream``; returns how many.

    CSV has one line per rejected row (run id, primary key, error code, error, HTTP status,
    request and response as JSON text); JSON is ``{"run": ..., "rejected": [...]}``.
    """
    run_id = run.id
    count = 0
    if fmt == "json":
        items = [row.to_dict() for row in rows]
        json.dump({"run": run.to_dict(), "rejected": items}, stream, indent=2)
        stream.write("\n")
        return len(items)
    writer = csv.writer(stream)
    writer.writerow(
        ["run_id", "primary_key", "error_code", "error", "status", "request", "response"]
    )
    for row in rows:
        call = row.call
        writer.writerow(
            [
                run_id,
                row.primary_key,
                row.error_code,
                row.error,
                call.status if call else "",
                json.dumps(call.request) if call and call.request is not None else "",
                call.response if call and call.response is not None else "",
            ]
        )
        count += 1
    return count
