#!/usr/bin/env bash
# Installs Contentstack's own Personalize Edge SDK (@contentstack/personalize-edge-sdk, the
# exact version and tree pinned by tests/node/personalize-sdk/package-lock.json) into
# .cache/personalize-sdk, for tests/test_personalize_sdk.py, which drives it against the
# emulator. Installs Node.js from Debian when the machine has none. Idempotent: a second run
# with the same lock file does nothing. Prints the install directory on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/node/personalize-sdk"
dest="$root/.cache/personalize-sdk"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    "$root/scripts/system-packages.sh"
fi
mkdir -p "$dest"
if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dest"
