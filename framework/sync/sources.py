"""Where a sync's rows come from, streamed in batches with bounded memory.

- SQLite (the embedded default): ``sqlite:///path``; the query's cursor is read with
  ``fetchmany``.
- PostgreSQL: ``postgresql://user:password@host:port/db`` through psycopg, with a server-side
  (named) cursor, so the server, not this process, holds the result.
- CSV: a file with a header line; every value is a string (the attribute types convert them).

Every source yields lists of rows, each a dict of column name to value. Failures (a database
that cannot be reached, a query that does not run, a missing file) raise
:class:`~framework.errors.SourceError` with a sentence saying what to fix; the URL's password
is never in a message.
"""

from __future__ import annotations

import csv
import itertools
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from framework.errors import SourceError

__all__ = ["iter_batches", "redact_url"]


def redact_url(url: str) -> str:
    """The URL with its password (``user:password@``) masked."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1[REDACTED]@", url)


def _sqlite_batches(url: str, query: str, size: int) -> Iterator[list[dict[str, Any]]]:
    path = url.removeprefix("sqlite:///")
    if path != ":memory:" and not Path(path).exists():
        raise SourceError(f"The SQLite database {path} does not exist; check the source URL.")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"The SQLite database {path} cannot be opened ({exc}).") from exc
    try:
        try:
            cursor = connection.execute(query)
        except sqlite3.Error as exc:
            raise SourceError(f"The sync's query failed on {path}: {exc}.") from exc
        columns = [column[0] for column in cursor.description or ()]
        while True:
            try:
                rows = cursor.fetchmany(size)
            except sqlite3.Error as exc:
                raise SourceError(f"Reading the query's rows from {path} failed: {exc}.") from exc
            if not rows:
                return
            yield [dict(zip(columns, row, strict=True)) for row in rows]
    finally:
        connection.close()


def _postgres_batches(url: str, query: str, size: int) -> Iterator[list[dict[str, Any]]]:
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise SourceError(
            "A PostgreSQL source needs psycopg: pip install 'psycopg[binary]'."
        ) from exc
    where = redact_url(url)
    try:
        connection = psycopg.connect(url, row_factory=dict_row)
    except psycopg.Error as exc:
        raise SourceError(f"The PostgreSQL database {where} cannot be reached ({exc}).") from exc
    try:
        with connection.transaction(), connection.cursor(name="actionkit_sync") as cursor:
            cursor.itersize = size
            try:
                cursor.execute(query)
                while True:
                    rows = cursor.fetchmany(size)
                    if not rows:
                        return
                    yield [dict(row) for row in rows]
            except psycopg.Error as exc:
                raise SourceError(f"The sync's query failed on {where}: {exc}.") from exc
    finally:
        connection.close()


def _csv_batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"The CSV file {path} cannot be read ({exc.strerror}).") from exc
    with handle:
        reader = csv.DictReader(handle)
        try:
            while True:
                rows = [dict(row) for row in itertools.islice(reader, size)]
                if not rows:
                    return
                yield rows
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(
                f"The CSV file {path} is not valid UTF-8 CSV (line {reader.line_num}): {exc}."
            ) from exc


def iter_batches(
    *,
    url: str | None = None,
    query: str | None = None,
    csv_path: Path | None = None,
    size: int = 1000,
) -> Iterator[list[dict[str, Any]]]:
    """The source's rows, ``size`` at a time: a query over ``url``, or ``csv_path``."""
    if csv_path is not None:
        return _csv_batches(csv_path, size)
    if url is None or query is None:
        raise SourceError("A sync source needs a database URL and a query, or a CSV file.")
    if url.startswith("sqlite:///"):
        return _sqlite_batches(url, query, size)
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_batches(url, query, size)
    scheme = url.split(":", 1)[0]
    raise SourceError(
        f"The source URL scheme '{scheme}' is not supported; use sqlite:///PATH or "
        "postgresql://USER@HOST/DB, or a CSV file."
    )
