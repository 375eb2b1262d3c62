"""A UTF-8 byte order mark at the start of an input file (as some Windows editors write) is
skipped by ``actionkit run`` and by the commands that read one JSON document; anywhere else
it is still refused like any other stray character."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from framework.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "examples" / "contentstack.yaml"
BOM = b"\xef\xbb\xbf"
TRACK = b'{"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m%d"}'


def test_run_skips_a_byte_order_mark_at_the_start_only(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(BOM + (TRACK % 1) + b"\n" + BOM + (TRACK % 2) + b"\n")
    result = CliRunner().invoke(
        cli, ["run", str(events), "--instance", str(INSTANCE), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    by_line: dict[int, set[str]] = {}
    for delivery in json.loads(result.output)["deliveries"]:
        by_line.setdefault(delivery["line"], set()).add(delivery["outcome"])
    assert "dry_run" in by_line[1]
    assert by_line[2] == {"invalid"}  # a mark inside the input is a stray character


def test_a_single_document_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(BOM + (TRACK % 1))
    result = CliRunner().invoke(cli, ["try", str(INSTANCE), str(event), "--json"])
    assert result.exit_code == 0, result.output
    assert "ready" in result.output
