"""The Python API reference builds from the docstrings with no warning (scripts/api-docs.sh),
so it cannot rot: CI builds it with the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_reference_builds_and_documents_the_public_api(tmp_path: Path) -> None:
    out = tmp_path / "api"
    built = subprocess.run(
        [str(ROOT / "scripts" / "api-docs.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().endswith("index.html")
    top = (out / "framework.html").read_text(encoding="utf-8")
    for name in ("Router", "load_instance", "parse_trigger", "compile_mapping"):
        assert f'id="{name}"' in top, name
    assert (out / "framework" / "delivery.html").is_file()
    assert (out / "framework" / "testing.html").is_file()
