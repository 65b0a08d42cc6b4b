"""The journal round trip: a real journal built from an export fixture, rendered by journalctl in
every output mode, piped through `logsleuth parse -`, gives the same entries in every mode."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logsleuth.read.formats.runner import parse_runner_message

pytestmark = pytest.mark.journal

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "fixtures" / "journal" / "roundtrip.export"
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
UTC = timezone.utc
T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
E = "\x1b"

RUNNER_RAW = (f"{E}[0;33m{'WARNING: Checking for jobs... failed':<50}{E}[0;m  {E}[0;33mcorrelation_id{E}[0;m=01HRZ8Q3J5 "
              f"{E}[0;33mrunner{E}[0;m=abcd12345 {E}[0;33mrunner_name{E}[0;m=my-runner "
              f"{E}[0;33mstatus{E}[0;m=POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway")
# (timestamp, message) of the fixture's entries, as `fixtures/journal/make_export.py` writes them.
ENTRIES = [
    (T0, "Started gitlab-runner.service - GitLab Runner."),
    (T0 + timedelta(seconds=1.25), 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError: boom'),
    (T0 + timedelta(seconds=2), "binary \ufffd\ufffd payload"),
    (T0 + timedelta(seconds=3), "entry with a repeated field"),
    (T0 + timedelta(seconds=4), parse_runner_message(RUNNER_RAW)[1]),
    (T0 + timedelta(seconds=5), "Out of memory: Killed process 1234 (java) total-vm:8123456kB, anon-rss:4012345kB, "
                                "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0"),
    (T0 + timedelta(seconds=6), "x" * 5000),
    (T0 + timedelta(days=1), "Linux version 6.1.0-18-amd64"),
]
SECOND = {"short", "short-iso", "short-full", "with-unit"}
NO_TS = {"cat", "short-monotonic", "short-delta"}
SHORT = {"short", "short-precise", "short-iso", "short-iso-precise", "short-full", "short-unix",
         "short-monotonic", "short-delta", "with-unit"}
JSON = {"json", "json-pretty", "json-seq", "json-sse"}
STRUCTURED = JSON | {"verbose", "export", "journal"}
MODES = sorted(SHORT | JSON | {"verbose", "cat", "export"})


@pytest.fixture(scope="module")
def journal_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        pytest.fail(f"{JOURNAL_REMOTE} is missing: apt-get install systemd-journal-remote (CI installs it)")
    out = tmp_path_factory.mktemp("journal") / "roundtrip.journal"
    with EXPORT.open("rb") as stream:
        subprocess.run([JOURNAL_REMOTE, "--split-mode=none", f"--output={out}", "-"], stdin=stream,
                       check=True, capture_output=True)
    return out


def logsleuth_parse(*args: str, data: bytes | None = None) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "parse", "--year", "2024", *args],
                          input=data, capture_output=True, check=True, timeout=60)
    assert b"Traceback" not in proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def expected_message(mode: str, index: int, message: str) -> str | re.Pattern[str]:
    """What a mode can carry: text modes print `[17B blob data]` for invalid UTF-8, verbose also for
    ANSI escapes, and the JSON modes drop values over 4096 bytes (null)."""
    if index == 2 and (mode in SHORT or mode == "verbose"):
        return "[17B blob data]"
    if index == 4 and mode == "verbose":
        return re.compile(r"\[\d+B blob data\]")
    if index == 6 and mode in JSON:
        return ""
    return message


def check_entries(mode: str, records: list[dict]) -> None:
    assert len(records) == len(ENTRIES), [r["message"][:40] for r in records]
    for i, (rec, (ts, message)) in enumerate(zip(records, ENTRIES)):
        want = expected_message(mode, i, message)
        if isinstance(want, re.Pattern):
            assert want.fullmatch(rec["message"]), (mode, i, rec["message"])
        else:
            assert rec["message"] == want, (mode, i)
        if mode not in NO_TS:
            want_ts = ts.replace(microsecond=0) if mode in SECOND else ts
            assert rec["ts"] == want_ts.isoformat().replace("+00:00", "Z"), (mode, i)
        if mode != "verbose" and i == 4:
            assert rec["level"] == "warning"  # from the text prefix; the runner's PRIORITY is 6
            assert rec["fields"]["status"] == "POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway"
        if mode in STRUCTURED and i == 3:
            assert rec["fields"]["X_TAG"] == ["alpha", "beta"]
        assert rec["format"] == mode


@pytest.mark.parametrize("mode", MODES)
def test_every_journalctl_mode_gives_the_same_entries(journal_file: Path, mode: str) -> None:
    rendered = subprocess.run(["journalctl", f"--file={journal_file}", "--utc", "--no-pager", "-o", mode],
                              capture_output=True, check=True).stdout
    records = logsleuth_parse("-", data=rendered)
    if mode == "cat":
        # cat cannot split entries (no separators, multi-line messages are plain lines): compare the text.
        records = logsleuth_parse("--input-format", "cat", "-", data=rendered)
        assert "\n".join(r["message"] for r in records) == "\n".join(m for _, m in ENTRIES)
        assert {r["format"] for r in records} == {"cat"}
        return
    check_entries(mode, records)


def test_native_journal_file(journal_file: Path) -> None:
    pytest.importorskip("systemd.journal", reason="the `journal` extra (python-systemd) is not installed")
    check_entries("journal", logsleuth_parse(str(journal_file)))


def test_export_fixture_parses_without_journalctl() -> None:
    check_entries("export", logsleuth_parse(str(EXPORT)))
