"""Followed streams: each event promptly on a pipe, the summary report on SIGINT/SIGTERM, and a
million events through follow mode in flat memory."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

CMD = [sys.executable, "-m", "logsleuth"]
SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
# Real wordings: the runner's job-request failure (formats.md §4.2) and its healthy poll.
DNS = ("2024-03-10T12:07:{s:02d}+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   runner=abcd1234 "
       "status=Post \"https://gitlab.example.com/api/v4/jobs/request\": dial tcp: lookup gitlab.example.com on "
       "127.0.0.53:53: no such host\n")
HEALTHY = "2024-03-10T12:{m:02d}:{s:02d}+0000 ci1 gitlab-runner[812]: Checking for jobs... received   job={j} runner=abcd1234\n"


def _line_within(stream: object, timeout: float) -> str | None:
    """One line from a pipe, or None if none came in time."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        buf += chunk
    return buf.decode()


def test_parse_on_a_pipe_hands_each_event_on_while_the_input_stays_open() -> None:
    # `journalctl -f | logsleuth parse -`: a multi-line format (short) could wait for continuation lines.
    proc = subprocess.Popen([*CMD, "parse", "--year", "2024", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"Mar 10 12:00:00 ci1 app[5]: one line\n")
        proc.stdin.flush()
        first = _line_within(proc.stdout, 20)  # the interpreter starting up
        assert first is not None and json.loads(first)["message"] == "one line"
        for n, text in enumerate((b"Mar 10 12:00:01 ci1 app[5]: Traceback (most recent call last):\n"
                                  b"                              File \"app.py\", line 1\n",
                                  b"Mar 10 12:00:02 ci1 app[5]: after a pause\n")):
            time.sleep(0.5)
            sent = time.monotonic()
            proc.stdin.write(text)
            proc.stdin.flush()
            line = _line_within(proc.stdout, 5)
            assert line is not None and time.monotonic() - sent < 1.0, n
            record = json.loads(line)
            assert record["ts"] == f"2024-03-10T12:00:0{n + 1}Z"
            if n == 0:  # continuation lines that come with their entry stay in it
                assert record["message"] == 'Traceback (most recent call last):\n  File "app.py", line 1'
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_on_an_open_pipe_ends_with_the_summary_report(signum: int) -> None:
    # `cat big.log - | logsleuth scan -`, then Ctrl-C (or systemd stopping the unit), without --live.
    proc = subprocess.Popen([*CMD, "scan", "-", "-v"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        proc.stdin.write(SAMPLE.read_text())
        proc.stdin.flush()
        announced = _line_within(proc.stderr, 20)
        assert announced is not None and "<stdin>: format" in announced
        time.sleep(1.0)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)  # its stdin is still open
    finally:
        proc.kill()
    assert "Traceback" not in err
    assert "logsleuth: 9 incidents, worst CRITICAL" in out  # the whole sample was read before the signal
    assert "interrupted: the input was read only up to here, this report is partial" in err + out
    assert proc.returncode == 1  # the verdict's status, as at the end of input


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_million_events_through_follow_mode_in_flat_memory() -> None:
    total, step = 1_000_000, 100_000
    proc = subprocess.Popen([*CMD, "scan", "-", "--live", "--format", "ndjson", "--fail-on", "none"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    alerts: list[bytes] = []
    reader = threading.Thread(target=lambda: alerts.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    samples = []
    try:
        for start in range(0, total, step):
            lines = [DNS.format(s=i % 60) if i % 1000 == 0 else HEALTHY.format(m=(i // 60) % 60, s=i % 60, j=i)
                     for i in range(start, start + step)]
            proc.stdin.write("".join(lines).encode())
            proc.stdin.flush()
            samples.append(_rss_kib(proc.pid))
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    reader.join(10)
    # Resident memory after the first 100,000 events is what it stays: no growth with the events.
    assert max(samples[2:]) - samples[1] < 16 * 1024, samples
    final = [json.loads(line) for line in alerts[1:]]
    assert json.loads(alerts[0])["rule_id"] == "dns-no-such-host"  # printed as it fired
    assert [(f["rule_id"], f["count"]) for f in final] == [("dns-no-such-host", total // 1000)]


ABSENCE_RULE = """\
id: runner-started-without-config
title: The runner started but never loaded its configuration
severity: major
category: runner-health
match: message ~ /Starting multi-runner from (?P<config>\\S+)/
message: "no configuration loaded from {config}"
description: An absence, decided on the log's own time.
correlate:
  not_followed_by: {match: "message ~ /Configuration loaded/", within: 2s}
"""
STARTING = ("2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Starting multi-runner from /etc/gitlab-runner/config.toml..."
            "  builds=0 max_builds=0\n")


def test_an_absence_is_decided_when_a_followed_stream_goes_quiet(tmp_path: Path) -> None:
    (tmp_path / "runner-started-without-config.yaml").write_text(ABSENCE_RULE)
    proc = subprocess.Popen([*CMD, "scan", "-", "--live", "--format", "ndjson", "--no-builtin", "--rules",
                             str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(STARTING.encode())
        proc.stdin.flush()
        # No more input: after the window (2 s of the log's time, advanced by the wall clock) it fires.
        line = _line_within(proc.stdout, 20)
        assert line is not None and json.loads(line)["rule_id"] == "runner-started-without-config"
        assert proc.poll() is None  # while the input is still open
    finally:
        proc.kill()
        proc.communicate()
