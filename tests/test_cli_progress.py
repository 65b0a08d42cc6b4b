"""The progress line of `scan` (cli/progress.py): drawn on a terminal, silent on a pipe, with -q and
with --no-progress; Ctrl-C in a batch scan prints what was found, marked partial, exit 3. The
terminal is a real pty (the `pty` module), with a window size as a terminal emulator sets it."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from conftest import build_tree

from logsleuth.cli import progress


def _pty_run(cmd: list[str], *, stop_when: str | None = None, timeout: float = 90) -> tuple[int, bytes]:
    """Run `cmd` with stderr on a pty; with `stop_when` (a regex), send SIGINT once the output matches it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out, deadline, sent = b"", time.monotonic() + timeout, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not chunk:
                    break
                out += chunk
            if stop_when is not None and not sent and re.search(stop_when.encode(), out):
                proc.send_signal(signal.SIGINT)
                sent = True
            if proc.poll() is not None and not ready:
                break
        assert proc.stdout is not None
        proc.stdout.read()
        return proc.wait(timeout=30), out
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_progress_is_drawn_on_a_terminal(logsleuth_cmd: list[str], tree: Path) -> None:
    status, err = _pty_run([*logsleuth_cmd, "scan", str(tree), "--fail-on", "none", "-j", "1"])
    assert status == 3  # the corrupt archive
    text = err.decode()
    assert "\rscanning:" in text and "B/s" in text
    files = len(progress.plan([str(tree)]))
    assert f"files {files}/{files}" in text and "findings]" in text  # the final state before it is cleared
    assert "100%" in text


@pytest.mark.parametrize("flag", ["-q", "--no-progress"])
def test_asked_for_silence(logsleuth_cmd: list[str], tree: Path, flag: str) -> None:
    status, err = _pty_run([*logsleuth_cmd, "scan", str(tree), "--fail-on", "none", "-j", "1", flag])
    assert status == 3 and b"scanning" not in err and b"\r" not in err.replace(b"\r\n", b"")


def test_silent_on_a_pipe(logsleuth_cmd: list[str], tree: Path) -> None:
    run = subprocess.run([*logsleuth_cmd, "scan", str(tree), "--fail-on", "none", "-j", "1"], capture_output=True,
                         text=True, timeout=90)
    assert run.returncode == 3 and "scanning" not in run.stderr and "\r" not in run.stderr


def test_plan_follows_include_and_exclude(tree: Path) -> None:
    assert len(progress.plan([str(tree)], include=("syslog*",))) == 7  # 4 on host 1, 3 on host 2
    assert all(not p.endswith(".gz") for p in progress.plan([str(tree)], exclude=("*.gz",)))
    assert progress.plan(["-", str(tree / "missing")]) == {}


def test_ctrl_c_reports_what_was_found_and_exits_3(logsleuth_cmd: list[str], tmp_path: Path) -> None:
    # Enough files that the scan is still running when the first redraw shows it started.
    line = build_tree.NOT_FOUND.format(ts="2024-03-10T12:00:00+0000", host="ci1") + "\n"
    for n in range(3000):
        (tmp_path / f"job-{n:04d}.log").write_text(line * 20)
    status, err = _pty_run([*logsleuth_cmd, "scan", str(tmp_path), "--fail-on", "none", "-j", "1", "--format",
                            "json", "-o", str(tmp_path / "r.json")], stop_when=r"files [1-9]\d*/")
    assert status == 3, err.decode()[-2000:]
    report = (tmp_path / "r.json").read_text()
    assert "interrupted: the input was read only up to here, this report is partial" in report
    assert '"runner-gitlab-unreachable"' in report  # the findings before Ctrl-C are in it
    assert b"Traceback" not in err
