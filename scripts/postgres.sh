#!/usr/bin/env bash
# Installs Debian's postgresql when the machine has none, for the tests and benchmarks that
# run a real PostgreSQL (tests/postgres_server.py initdb's a temporary cluster and starts it on
# a free loopback port; nothing here starts a server). Idempotent: does nothing when an initdb
# is already installed.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "postgres.sh: installing postgresql from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq postgresql >&2
