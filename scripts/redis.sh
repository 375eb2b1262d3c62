#!/usr/bin/env bash
# Installs Debian's redis-server when the machine has none, for the tests and benchmarks that
# run a real Redis (tests/redis_server.py starts one on a free loopback port; nothing here
# starts a server). Idempotent: does nothing when redis-server is already on the PATH.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "redis.sh: installing redis-server from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq redis-server >&2
