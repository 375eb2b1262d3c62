#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes .venv, installs the project with its dev
# extra, installs from Debian the programs the tests run for real when missing (Node.js,
# redis-server, PostgreSQL, Chromium), sets up Segment's npm packages for the side-by-side
# checks and Contentstack's Personalize Edge SDK for the emulator's client test, then runs
# pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
scripts/system-packages.sh
scripts/peer.sh >/dev/null
scripts/personalize-sdk.sh >/dev/null
exec .venv/bin/python -m pytest "$@"
