"""A real PostgreSQL server: a temporary cluster on a free loopback port, for tests.

``scripts/system-packages.sh`` installs Debian's postgresql when it is missing (``scripts/test.sh``
runs it). :func:`postgres_server` runs ``initdb`` into a fresh directory, starts ``postgres``
on a free port (its Unix socket in the same directory), yields a connection URL, and stops
the server and removes the directory on exit. PostgreSQL refuses to run as root: as root, the
cluster belongs to the ``postgres`` user (Debian's package creates it) or, failing that,
``nobody``, and the commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL programs (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _run_as() -> tuple[list[str], str | None]:
    """The command prefix that runs as a user PostgreSQL accepts, and that user's name."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], name
    raise RuntimeError("Running as root, and there is no postgres or nobody user to run as.")


@contextmanager
def postgres_server(timeout: float = 30.0) -> Iterator[str]:
    """A started PostgreSQL server; yields ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: run scripts/system-packages.sh.")
    prefix, user = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="actionkit-pg-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        data = directory / "data"
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        port = free_port()
        args = [
            *prefix,
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(directory),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_ready(url, process, timeout)
        yield url
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with status {process.returncode}.")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
