#!/usr/bin/env bash
# The built wheel is the product: build it, install it in a fresh venv outside the checkout,
# and use it from a directory with no source tree in sight.
#
#   scripts/wheel-check.sh [WORK_DIR]
#
# 1. `pip wheel --no-deps` of the checkout, and the sdist plus a wheel built from that sdist
#    (`python -m build`); all three must carry schemas/ and destinations/, file for file as in
#    the checkout: the wheels at framework/_bundled/, without the destinations' tests/ folders
#    (hatch_build.py says why), the sdist as they are.
# 2. A fresh venv in WORK_DIR (a new temporary folder by default) gets the wheel (not
#    editable; its dependencies from the package index, through pip's cache) and pytest.
# 3. From WORK_DIR/run, with no PYTHONPATH: `import framework` resolves inside that venv;
#    `actionkit destinations list` shows contentstack; `actionkit validate` accepts the
#    bundled Contentstack definition; `actionkit run` routes a copy of examples/events.jsonl
#    through a copy of examples/contentstack.yaml with --emulate; a small destination written
#    there is found by --destinations and ACTIONKIT_DESTINATIONS, and its tests/*.yaml cases
#    and a test using the actionkit_tester fixture pass under `actionkit test` and under
#    pytest with the actionkit plugin (entry point pytest11).
# Exit status 0 when all of it holds; the first failure stops it, saying what failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -gt 0 ]; then
    work="$(mkdir -p "$1" && cd "$1" && pwd)"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
case "$work/" in
"$root"/*)
    echo "wheel-check: the work folder must be outside the checkout ($root)" >&2
    exit 2
    ;;
esac
unset PYTHONPATH PYTHONHOME ACTIONKIT_DESTINATIONS
export PIP_DISABLE_PIP_VERSION_CHECK=1
python=python3
if [ -x "$root/.venv/bin/python" ]; then
    python="$root/.venv/bin/python"
fi
step() { printf '== %s\n' "$*"; }
fail() {
    printf 'wheel-check: %s\n' "$*" >&2
    exit 1
}

step "build the wheel (pip wheel --no-deps)"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$root"
wheel="$(ls "$work"/dist/actionkit-*.whl)"

step "build the sdist, and a wheel from the sdist (python -m build)"
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install --quiet build
"$work/build-venv/bin/python" -m build --outdir "$work/from-sdist" "$root" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; fail "python -m build failed"; }

step "check that schemas/ and destinations/ are in all three"
"$python" - "$root" "$wheel" "$work"/from-sdist/*.tar.gz "$work"/from-sdist/*.whl <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path

root, wheel, sdist, sdist_wheel = (Path(arg) for arg in sys.argv[1:])
every = sorted(
    path.relative_to(root).as_posix()
    for folder in ("schemas", "destinations")
    for path in (root / folder).rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
)
expected = [name for name in every if "tests" not in name.split("/")[2:3]]
assert expected, "the checkout has no schemas/ or destinations/"
for built in (wheel, sdist_wheel):
    names = zipfile.ZipFile(built).namelist()
    bundled = sorted(n.removeprefix("framework/_bundled/") for n in names if n.startswith("framework/_bundled/"))
    if bundled != expected:
        sys.exit(f"{built.name}: framework/_bundled holds {bundled}, not {expected}")
    if any(name.startswith(("schemas/", "destinations/")) for name in names):
        sys.exit(f"{built.name}: schemas/ or destinations/ at the top of the wheel")
with tarfile.open(sdist) as archive:
    names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
missing = [name for name in [*every, "hatch_build.py"] if name not in names]
if missing:
    sys.exit(f"{sdist.name}: missing {missing}")
print(f"{len(expected)} files bundled in {wheel.name}, the sdist and the wheel built from it")
EOF

step "install the wheel in a fresh venv ($work/venv)"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$wheel" pytest
bin="$work/venv/bin"
mkdir -p "$work/run"
cd "$work/run"

step "import framework resolves to the venv's site-packages"
"$bin/python" - "$work/venv" "$root" <<'EOF'
import sys
from importlib.resources import files
from pathlib import Path

import framework
from framework.definitions.resources import bundled_destinations

venv, root = (Path(arg).resolve() for arg in sys.argv[1:])
where = Path(framework.__file__).resolve()
assert where.is_relative_to(venv), f"framework is imported from {where}, not from {venv}"
assert not where.is_relative_to(root), f"framework is imported from the checkout: {where}"
assert "site-packages" in where.parts, where
bundled = bundled_destinations()
assert bundled == Path(str(files("framework"))) / "_bundled" / "destinations", bundled
print(where.parent)
EOF

step "actionkit destinations list"
"$bin/actionkit" destinations list | tee "$work/list.txt"
grep -q '^contentstack ' "$work/list.txt" || fail "destinations list does not show contentstack"
contentstack="$("$bin/python" -c 'from framework import load_destination; print(load_destination("contentstack").path)')"
case "$contentstack" in
"$work/venv/"*/framework/_bundled/destinations/contentstack/destination.yaml) ;;
*) fail "contentstack loads from $contentstack, not from the installed package" ;;
esac

step "actionkit validate (the bundled Contentstack definition)"
"$bin/actionkit" validate "$contentstack"

step "actionkit run examples/events.jsonl --instance examples/contentstack.yaml --emulate"
cp "$root/examples/events.jsonl" "$root/examples/contentstack.yaml" .
"$bin/actionkit" run events.jsonl --instance contentstack.yaml --emulate --json >"$work/run.json"
"$bin/python" - "$work/run.json" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1]))
summary = report["summary"]
delivered = {key: n for key, n in summary.items() if key.endswith("/delivered")}
assert {"eventsSync/delivered", "customAttributesSync/delivered", "mergeUsers/delivered"} <= set(delivered), summary
assert report["emulator_state"], "the emulator ended with no state"
print("delivered:", delivered)
EOF

step "a destination of your own: --destinations, ACTIONKIT_DESTINATIONS, actionkit test, pytest"
mkdir -p mine/tiny-hook/tests
cat >mine/tiny-hook/destination.yaml <<'EOF'
name: Tiny Hook
slug: tiny-hook
settings:
  apiKey: {label: API key, type: password, required: true}
actions:
  sendUser:
    title: Send user
    defaultTrigger: type = "identify"
    fields:
      userId: {label: User ID, type: string, required: true, default: {"@path": "$.userId"}}
      email: {label: Email, type: string, format: email, default: {"@path": "$.traits.email"}}
    request:
      method: PUT
      url: "https://hooks.example.com/users/{{payload.userId}}"
      headers: {authorization: "Bearer {{settings.apiKey}}"}
      body: {email: {"@path": "$.payload.email"}}
EOF
cat >mine/tiny-hook/tests/send-user.yaml <<'EOF'
settings: {apiKey: sk_test}
cases:
  - name: an identify call puts the user
    action: sendUser
    event: {type: identify, userId: u/1, traits: {email: ada@example.com}}
    expected:
      requests:
        - method: PUT
          url: https://hooks.example.com/users/u%2F1
          json: {email: ada@example.com}
  - name: an email that is not one is refused
    action: sendUser
    event: {type: identify, userId: u1, traits: {email: nope}}
    expected:
      error: {code: PAYLOAD_BAD_FORMAT, pointer: /email}
EOF
cat >mine/tiny-hook/tests/test_fixture.py <<'EOF'
def test_the_tester_fixture_runs_the_action(actionkit_tester, test_event):
    tester = actionkit_tester("tiny-hook", settings={"apiKey": "sk_1"})
    result = tester.run_action("sendUser", test_event(type="identify", userId="u2"))
    assert result.request["url"] == "https://hooks.example.com/users/u2"
EOF
"$bin/actionkit" destinations show tiny-hook --destinations mine >/dev/null
ACTIONKIT_DESTINATIONS="$PWD/mine" "$bin/actionkit" destinations list --json >"$work/mine.json"
grep -q '"slug": "tiny-hook"' "$work/mine.json" || fail "ACTIONKIT_DESTINATIONS is not searched"
"$bin/actionkit" test mine/tiny-hook
ACTIONKIT_DESTINATIONS="$PWD/mine" "$bin/python" -m pytest -q -p no:cacheprovider mine \
    | tee "$work/pytest.txt"
grep -q '^3 passed' "$work/pytest.txt" || fail "pytest did not run the 3 tests"

step "ok: the wheel works on its own"
