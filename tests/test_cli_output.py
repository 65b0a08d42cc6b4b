"""Report files are written whole or not at all: a kill during `-o`/`--report` leaves the old report, never a partial one."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

from conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"

# The real command, with os.fsync held open: the report's bytes are written (to the temp file)
# but not yet renamed into place when the test kills the process with SIGKILL.
_HELD_IN_FSYNC = textwrap.dedent("""\
    import os, sys, time
    def held(fd):
        print("writing", flush=True)
        time.sleep(60)
    os.fsync = held
    sys.argv = ["logsleuth", *sys.argv[1:]]
    from logsleuth.cli import main
    main()
""")


def _kill_while_writing(args: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HELD_IN_FSYNC, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "writing\n" in iter(proc.stdout.readline, "")  # after the text report, if any, on stdout
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_a_kill_during_the_write_leaves_the_old_report(tmp_path):
    out = tmp_path / "report.json"
    out.write_text('{"old": true}\n')
    _kill_while_writing(["scan", str(SAMPLE), "--format", "json", "-o", str(out), "--fail-on", "none"])
    assert out.read_text() == '{"old": true}\n'


def test_a_kill_during_the_first_write_leaves_no_report(tmp_path):
    cq = tmp_path / "gl-code-quality-report.json"
    _kill_while_writing(["scan", str(SAMPLE), "--report", f"codequality={cq}", "-q", "--fail-on", "none"])
    assert not cq.exists()  # a missing report fails the CI job's upload; an empty one would pass as "no issues"


def test_a_report_replaces_the_file_whole_and_keeps_its_mode(logsleuth_cmd, tmp_path):
    out = tmp_path / "report.md"
    out.write_text("old\n")
    out.chmod(0o640)
    proc = subprocess.run([*logsleuth_cmd, "scan", str(SAMPLE), "--format", "markdown", "-o", str(out),
                           "--fail-on", "none"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith(":") and "runner-jobs-forbidden" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temp file left


def test_a_new_report_gets_the_umask_mode_and_a_symlink_stays(logsleuth_cmd, tmp_path):
    target = tmp_path / "reports" / "junit.xml"
    target.parent.mkdir()
    link = tmp_path / "junit.xml"
    link.symlink_to(target)
    proc = subprocess.run([*logsleuth_cmd, "scan", str(SAMPLE), "--report", f"junit={link}", "-q", "--fail-on", "none"],
                          capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.read_text().startswith("<?xml")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_stream_given_as_the_output_is_written_through(logsleuth_cmd):
    # /dev/stdout is no file to replace (renaming over it would need root, and break it).
    proc = subprocess.run([*logsleuth_cmd, "scan", str(SAMPLE), "--format", "json", "-o", "/dev/stdout",
                           "--fail-on", "none"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{")


def test_an_unwritable_directory_is_a_clear_error(logsleuth_cmd, tmp_path):
    out = tmp_path / "missing-dir" / "report.json"
    proc = subprocess.run([*logsleuth_cmd, "scan", str(SAMPLE), "-o", str(out), "--fail-on", "none"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"cannot write report {out}: No such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr
