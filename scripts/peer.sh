#!/usr/bin/env bash
# Sets up Segment's own npm packages (../shared/peer) in .cache/peer, for the conformance
# tests that run the peer side by side and for the benchmarks. Installs Node.js from Debian
# when the machine has none. Idempotent: a second run with the same lock file does nothing.
# Prints the peer's directory on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${ACTIONKIT_SHARED:-$root/../shared}/peer"
dest="$root/.cache/peer"

if [ ! -f "$src/package-lock.json" ]; then
    echo "peer.sh: no peer harness at $src (expected ../shared/peer beside the project)" >&2
    exit 1
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    "$root/scripts/system-packages.sh"
fi
mkdir -p "$dest"
if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
    cp -r "$src/." "$dest/"
    (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
else
    # The scripts may change without the lock file changing.
    cp "$src"/*.js "$src"/package.json "$dest/"
fi
echo "$dest"
