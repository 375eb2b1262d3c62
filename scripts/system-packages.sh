#!/usr/bin/env bash
# Installs, from Debian, the programs the test suite runs for real when the machine lacks them:
#   node, npm              Segment's own packages, side by side (scripts/peer.sh)
#   redis-server           the Redis Streams queue and workers (tests/redis_server.py)
#   postgresql             the sync's PostgreSQL warehouse and state (tests/postgres_server.py)
#   chromium, chromedriver the debugger page in a headless browser (tests/test_debugger.py)
# One `apt-get update` and one `apt-get install` for whatever is missing; nothing when all is
# there. Starts no server: the tests start their own on free loopback ports.
set -euo pipefail
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "system-packages.sh: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
