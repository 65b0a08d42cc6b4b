"""Snapshots of `logsleuth parse` NDJSON for a few fixtures (review .ambr changes by eye)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ["fixtures/logs/short-iso/runner-failures.log", "fixtures/logs/runner/runner.log",
            "fixtures/logs/job-trace/failed-job.log", "fixtures/logs/rfc3164/syslog.log",
            "fixtures/logs/json/runner-failures.log"]


@pytest.mark.parametrize("path", FIXTURES)
def test_parse_output_snapshot(path: str, snapshot) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "parse", "--year", "2024", path], cwd=ROOT,
                          capture_output=True, check=True, timeout=60)
    assert proc.stdout.decode().splitlines() == snapshot
