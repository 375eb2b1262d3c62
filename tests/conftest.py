"""Shared fixtures: ``peer_dir``, the prepared directory of Segment's own packages (Node);
``server`` (a redis-server of the test module's own), ``admin`` (a plain client of it) and
``stream`` (a stream name of the test's own), for the tests of the Redis queue.

Also loads the hypothesis profile (``tests/hypothesis_profiles.py``): derandomized when the
``CI`` environment variable is set, exploring otherwise. It is loaded here, at import, so that
it is in place before any test module builds its ``@settings``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from benchmarks.peer import PeerError, prepare_peer
from tests import hypothesis_profiles
from tests.redis_server import RedisServer, redis_server

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


_streams = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A redis-server of the test module's own, on a free loopback port."""
    with redis_server() as started:
        yield started


@pytest.fixture
def admin(server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client of the server, to look at and tamper with what the queue keeps."""
    client = redis.Redis.from_url(server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def stream() -> str:
    """A stream name of this test's own, so tests share the server and nothing else."""
    return f"test:{next(_streams)}:{time.monotonic_ns()}"
