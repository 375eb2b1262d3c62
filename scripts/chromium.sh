#!/usr/bin/env bash
# Installs what the debugger's browser tests (tests/test_debugger.py) need, when missing:
# Debian's chromium and chromium-driver (playwright's own browser download is not used), and
# the selenium package in .venv (normally installed with the dev extra). Idempotent: does
# nothing when everything is there. Starts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "chromium.sh: installing chromium and chromium-driver from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq chromium chromium-driver >&2
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import selenium" >/dev/null 2>&1; then
    echo "chromium.sh: installing selenium into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "selenium>=4.20" >&2
fi
