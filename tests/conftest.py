"""Shared fixtures: ``peer_dir``, the prepared directory of Segment's own packages (Node).

Also loads the hypothesis profile (``tests/hypothesis_profiles.py``): derandomized when the
``CI`` environment variable is set, exploring otherwise. It is loaded here, at import, so that
it is in place before any test module builds its ``@settings``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.peer import PeerError, prepare_peer
from tests import hypothesis_profiles

hypothesis_profiles.load()


@pytest.fixture(scope="session")
def peer_dir() -> Path:
    """The peer harness directory, set up once per session by ``scripts/peer.sh`` if needed.

    ``$ACTIONKIT_PEER_DIR`` overrides the default ``<project>/.cache/peer``. Tests that need
    the peer are skipped, with the set-up script's error, when Node cannot be installed.
    """
    try:
        return prepare_peer()
    except PeerError as exc:
        pytest.skip(f"Segment's peer harness is not available: {exc}")
