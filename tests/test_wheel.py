"""The built wheel is the product: scripts/wheel-check.sh builds it, installs it in a fresh
venv outside the checkout and uses it from a directory with no source tree (the script's
header lists every check). Dependencies come from the package index through pip's cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "wheel-check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="the check is a bash script")
def test_the_wheel_installed_in_a_fresh_venv_works_without_the_checkout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("wheel-check")
    assert not work.is_relative_to(ROOT)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "ACTIONKIT_DESTINATIONS", "VIRTUAL_ENV"}
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), str(work)],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "== ok: the wheel works on its own" in result.stdout
