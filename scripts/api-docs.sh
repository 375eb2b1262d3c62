#!/usr/bin/env bash
# Builds the Python API reference from the docstrings, with pdoc, into build/api-docs/ (or the
# folder given): one page per public package (what each package's __all__ exports).
# Fails on any warning pdoc gives (an annotation it cannot read, a broken reference).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/api-docs}"
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
packages=(
    framework framework.definitions framework.delivery framework.fql framework.mapping
    framework.testing framework.queue framework.sync framework.server framework.emulators
    framework.worker framework.checks framework.debugger
)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$python" -m pdoc --docformat restructuredtext "${packages[@]}" -o "$out" 2>"$log"
if grep -q "Warn" "$log"; then
    cat "$log" >&2
    echo "api-docs.sh: pdoc warned; fix the docstrings or annotations above." >&2
    exit 1
fi
echo "$out/index.html"
