"""Find, prepare and run the peer: Segment's own npm packages in a small Node harness.

The harness lives in ``../shared/peer``; ``scripts/peer.sh`` copies it to ``.cache/peer``,
installs its packages (and Node itself when the machine has none) and prints the directory.
``ACTIONKIT_PEER_DIR`` points at another prepared copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

__all__ = ["PROJECT_ROOT", "PeerError", "find_peer", "peer_location", "prepare_peer", "run_node"]

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
"""The project's root directory (the one holding ``framework/`` and ``scripts/``)."""

_SCRIPTS: Final = ("gen_workload.js", "bench.js", "fql.js", "mapping.js", "lib.js")


class PeerError(RuntimeError):
    """The peer cannot be prepared or one of its scripts failed; the message says why."""


def peer_location() -> Path:
    """Where the peer is expected: ``$ACTIONKIT_PEER_DIR``, else ``<project>/.cache/peer``."""
    configured = os.environ.get("ACTIONKIT_PEER_DIR")
    return Path(configured) if configured else PROJECT_ROOT / ".cache" / "peer"


def find_peer() -> Path | None:
    """The prepared peer directory, or ``None`` when Node or the installed harness is missing.

    Changes nothing on the machine; :func:`prepare_peer` is the one that installs.
    """
    location = peer_location()
    ready = (location / "node_modules").is_dir() and all(
        (location / script).is_file() for script in _SCRIPTS
    )
    return location if ready and shutil.which("node") is not None else None


def prepare_peer() -> Path:
    """Return the peer directory, running ``scripts/peer.sh`` first when it is not ready.

    ``peer.sh`` may install Node from Debian and the npm packages, so this can take a minute
    the first time. Raises :class:`PeerError` (with the script's output) when it fails.
    """
    found = find_peer()
    if found is not None:
        return found
    script = PROJECT_ROOT / "scripts" / "peer.sh"
    try:
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, check=False, timeout=900
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerError(f"could not run {script}: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise PeerError(f"{script} failed (exit {done.returncode}):\n{done.stderr.strip()}")
    prepared = Path(lines[-1])
    if shutil.which("node") is None or not (prepared / "node_modules").is_dir():
        raise PeerError(f"{script} reported {prepared}, but Node or its packages are missing")
    return prepared


def run_node(
    peer: Path, script: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``node <peer>/<script> <args>`` in the peer directory and return its output.

    Raises :class:`PeerError` with the script's stderr when it cannot start or exits non-zero.
    """
    command = ["node", str(peer / script), *args]
    try:
        return subprocess.run(
            command, cwd=peer, input=stdin, capture_output=True, text=True, check=True
        )
    except subprocess.CalledProcessError as exc:
        raise PeerError(
            f"{' '.join(command)} exited with {exc.returncode}:\n{exc.stderr.strip()}"
        ) from exc
    except OSError as exc:
        raise PeerError(f"could not run {' '.join(command)}: {exc}") from exc
