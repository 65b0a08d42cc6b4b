"""`--rules` and `--template` paths that are not regular files, or are huge (issue 14): refused at
once with a located message and exit 2, never a hang on a FIFO nor a read of /dev/zero.

The real command runs in a child with a timeout: a FIFO that is opened for reading blocks forever.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

LINE = "Mar 10 12:00:00 ci1 kernel: INFO: task dockerd:700 blocked for more than 120 seconds.\n"


def _scan(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "job.log"
    log.write_text(LINE)
    return subprocess.run([sys.executable, "-m", "logsleuth", "scan", *args, str(log)],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)


@pytest.mark.parametrize("option, what", [("--rules", "rule file"), ("--template", "template")])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, option, what):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = _scan(tmp_path, option, str(fifo))
    assert proc.returncode == 2, proc.stderr
    assert f"{fifo}: {what} not read: a named pipe, not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("target, kind", [("/dev/zero", "a character device"), (".", "a directory")])
def test_a_device_or_a_directory_as_template_is_refused(tmp_path, target, kind):
    proc = _scan(tmp_path, "--template", target)
    assert proc.returncode == 2, proc.stderr
    assert f"{target}: template not read: {kind}, not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_huge_template_is_refused_unread(tmp_path):
    big = tmp_path / "big.md.j2"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)  # sparse: costs no disk, would cost 64 MB of memory if read
    proc = _scan(tmp_path, "--template", str(big))
    assert proc.returncode == 2, proc.stderr
    assert f"{big}: template too large: {64 << 20} bytes (larger than 4 MiB)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_regular_template_still_renders(tmp_path):
    tpl = tmp_path / "mine.txt.j2"
    tpl.write_text("{% for f in report.findings %}{{ f.rule_id }}\n{% endfor %}")
    proc = _scan(tmp_path, "--template", str(tpl))
    assert "hung-task" in proc.stdout, proc.stderr
