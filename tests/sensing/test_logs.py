"""Structured logs: one JSON object per line when not on a terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_json_lines_when_not_a_terminal() -> None:
    code = (
        "import logging; from kernel.logs import configure_logging; configure_logging('INFO');"
        "logging.getLogger('ingest.source.rss1').error('fetch failed', extra={'source': 'rss1', 'document_id': 7})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    (line,) = out.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["message"] == "fetch failed"
    assert record["source"] == "rss1" and record["document_id"] == 7
    assert record["name"] == "ingest.source.rss1"
