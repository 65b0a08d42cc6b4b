"""Hostile and unlucky inputs through the real CLI: each ends in bounded time and memory, says what
it did not read, keeps the findings made before the fault and exits with the documented status."""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from logsleuth.errors import Diagnostics, LogsleuthError
from logsleuth.read import entries, formats
from logsleuth.read.files import read_regular
from logsleuth.read.inputs import Input, ReadOptions, open_input, records
from logsleuth.read.text import printable

ROOT = Path(__file__).resolve().parent.parent
# A real runner line (rules/network/dns-no-such-host.yaml examples, from a public issue).
DNS = (b"Mar 10 12:00:00 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed                "
       b"runner=9f3c2a1b status=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: "
       b"Post https://gitlab.example.com/api/v4/jobs/request: dial tcp: lookup gitlab.example.com on "
       b"10.0.0.2:53: no such host\n")
HEALTHY = (b"Mar 10 12:00:01 ci1 gitlab-runner[812]: Checking for jobs... received                     job=1 "
           b"repo_url=https://gitlab.example.com/a/b.git runner=9f3c2a1b\n")
MIB = 1 << 20


@dataclass
class Run:
    code: int
    out: bytes
    err: str
    seconds: float
    max_rss_mib: float

    def findings(self) -> list[dict]:
        return json.loads(self.out)["findings"]


def cli(*args: str, cwd: Path | None = None, stdin: bytes | None = None, timeout: float = 60) -> Run:
    """The real CLI as a child, and its own peak RSS: the high-water mark of its own address space
    (VmHWM, polled), since wait4's ru_maxrss also counts the pytest process the child was forked
    from, which is hundreds of MiB late in a full run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "logsleuth", *args], cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        deadline = start + timeout
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _hwm_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"logsleuth {' '.join(args)} still running after {timeout} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read(), err.read().decode(), seconds, peak_kib / 1024)


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:  # exited between the poll and the read
        pass
    return 0


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """One bundled rule, copied: the tests do not depend on every bundled rule loading."""
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(ROOT / "rules" / "network" / "dns-no-such-host.yaml", folder)
    return folder


def scan(rules: Path, *args: str, **kw: object) -> Run:
    return cli("scan", "--no-builtin", "--rules", str(rules), "--format", "json", *args, **kw)  # type: ignore[arg-type]


def clean_end(run: Run) -> None:
    assert "Traceback" not in run.err, run.err


# --- decompression bombs ----------------------------------------------------------------------

def gzip_bomb(path: Path, head: bytes, unit: bytes, total: int) -> None:
    """`head`, then `unit` repeated to `total` bytes: one 64 MiB gzip member written again and
    again (concatenated members are one stream), so building it takes a fraction of a second."""
    member = gzip.compress(unit * ((64 * MIB) // len(unit)), compresslevel=9)
    with path.open("wb") as f:
        f.write(gzip.compress(head))
        for _ in range(total // (64 * MIB)):
            f.write(member)


def test_gzip_bomb_of_newlines_stops_at_the_default_budget(tmp_path: Path, rules: Path) -> None:
    bomb = tmp_path / "nl.log.gz"
    gzip_bomb(bomb, DNS, b"\n", 3 << 30)  # 3 MB inflating to 3 GiB of newlines
    assert bomb.stat().st_size < 4 * MIB
    run = scan(rules, "--fail-on", "none", str(bomb), timeout=60)
    clean_end(run)
    assert run.code == 3
    assert "inflates more than 100x past 1024 MiB (a decompression bomb?)" in run.err
    assert [f["rule_id"] for f in run.findings()] == ["dns-no-such-host"]
    assert run.max_rss_mib < 300, run.max_rss_mib
    assert run.seconds < 30


def test_bomb_of_one_repeated_line_with_a_smaller_budget(tmp_path: Path, rules: Path) -> None:
    bomb = tmp_path / "line.log.gz"
    gzip_bomb(bomb, DNS, HEALTHY, 2 << 30)
    run = scan(rules, "--fail-on", "none", "--max-inflate", "32M", str(bomb))
    clean_end(run)
    assert run.code == 3 and "a decompression bomb?" in run.err
    assert [f["rule_id"] for f in run.findings()] == ["dns-no-such-host"]
    assert run.max_rss_mib < 300, run.max_rss_mib


def test_a_compressed_log_under_the_ratio_is_read_whole(tmp_path: Path, rules: Path) -> None:
    path = tmp_path / "ok.log.gz"
    lines = b"".join(HEALTHY.replace(b"job=1", b"job=%d" % (i * 7919 % 100003)) for i in range(20000))
    data = gzip.compress(DNS + lines)
    assert 10 < len(lines) / len(data) < 100  # a real log's ratio
    path.write_bytes(data)
    run = scan(rules, "--max-inflate", "1M", str(path))
    clean_end(run)
    assert run.code == 1 and "bomb" not in run.err


# --- archives ---------------------------------------------------------------------------------

def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_tar_gz_of_4000_members_is_read_in_one_pass(tmp_path: Path) -> None:
    plain = tmp_path / "logs.tar"
    with tarfile.open(plain, "w") as tar:
        for i in range(4000):
            add(tar, f"var/log/app.log.{i}", HEALTHY * 20)
    packed = tmp_path / "logs.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    tar_run = cli("parse", str(plain))
    gz_run = cli("parse", str(packed))
    clean_end(gz_run)
    assert gz_run.code == 0 and gz_run.out.replace(b".tar.gz!", b".tar!") == tar_run.out
    assert gz_run.out.count(b"\n") == 4000 * 20
    # Before: 51 s against 0.6 s (the archive was re-inflated for every member).
    assert gz_run.seconds < 2 * tar_run.seconds + 1, (gz_run.seconds, tar_run.seconds)


def test_truncated_tar_gz_keeps_the_members_before_the_cut(tmp_path: Path, rules: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        add(tar, "syslog.1", DNS + HEALTHY * 10)
        add(tar, "syslog", HEALTHY * 4000)
    data = gzip.compress(buf.getvalue())
    path = tmp_path / "logs.tar.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    run = scan(rules, "--fail-on", "none", str(path))
    clean_end(run)
    assert run.code == 3
    assert "truncated gzip stream" in run.err
    assert [f["rule_id"] for f in run.findings()] == ["dns-no-such-host"]


def test_duplicate_member_names_are_both_read(tmp_path: Path, rules: Path) -> None:
    path = tmp_path / "logs.tar"
    with tarfile.open(path, "w") as tar:
        add(tar, "syslog", DNS)
        add(tar, "syslog", DNS.replace(b"12:00:00", b"12:05:00"))
    run = scan(rules, str(path))
    clean_end(run)
    paths = {e["path"] for f in run.findings() for e in f["evidence"]}
    assert paths == {f"{path}!syslog", f"{path}!syslog#2"}


def test_names_from_outside_are_printed_with_control_characters_escaped(tmp_path: Path) -> None:
    path = tmp_path / "logs.tar"
    with tarfile.open(path, "w") as tar:
        add(tar, "evil\x1b]0;pwned\x07.log", HEALTHY)
    run = cli("parse", "-v", str(path))
    clean_end(run)
    assert "\x1b" not in run.err and "\x07" not in run.err
    assert "evil\\x1b]0;pwned\\x07.log: format" in run.err
    assert printable("a\nb\udcff\u202e") == "a\\nb\\xff\\u202e"


# --- special files, pipes, directories --------------------------------------------------------

def test_special_files_in_a_directory_are_skipped_named_ones_refused(tmp_path: Path, rules: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "syslog").write_bytes(DNS)
    os.mkfifo(logs / "fifo")  # opened, it would block the scan forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(logs / "sock"))
    try:
        run = scan(rules, str(logs), timeout=20)
        zero = scan(rules, "/dev/zero", str(logs / "syslog"), timeout=20)
    finally:
        sock.close()
    clean_end(run)
    assert f"{logs / 'fifo'}: skipped: a named pipe" in run.err
    assert f"{logs / 'sock'}: skipped: a socket" in run.err
    assert run.code == 1 and len(run.findings()) == 1
    clean_end(zero)
    assert "/dev/zero: not read: a character device" in zero.err
    assert zero.code == 2 and len(zero.findings()) == 1


def test_pipes_lose_no_byte_to_detection(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    lines = b"".join(HEALTHY.replace(b"job=1", b"job=%d" % i) for i in range(3000))
    path.write_bytes(lines)
    # Process substitution (/dev/fd/63, a pipe) and an explicit FIFO: both read from their first byte.
    sub = subprocess.run(["bash", "-c", f"{sys.executable} -m logsleuth parse <(cat {path})"],
                         capture_output=True, timeout=60)
    assert sub.returncode == 0 and sub.stdout.count(b"\n") == 3000
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "logsleuth", "parse", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def feed() -> None:  # in a thread: the child's stdout is read meanwhile, or both would block
        with open(fifo, "wb") as w:
            w.write(lines)

    writer = threading.Thread(target=feed)
    writer.start()
    out, err = proc.communicate(timeout=60)
    writer.join()
    assert proc.returncode == 0 and b"Traceback" not in err
    assert [json.loads(line)["message"].split("job=")[1].split()[0] for line in out.splitlines()][:2] == ["0", "1"]
    assert out.count(b"\n") == 3000


def test_unreadable_subdirectory_is_a_warning_and_partial(tmp_path: Path, rules: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "syslog").write_bytes(DNS)
    locked = tmp_path / "logs" / "locked"
    locked.mkdir()
    (locked / "syslog").write_bytes(DNS)
    locked.chmod(0)
    # root reads any directory: without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH it obeys the mode
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): no way to make a directory unreadable")
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "logsleuth", "scan", "--no-builtin", "--rules",
                               str(rules), "--fail-on", "none", "--format", "json", str(tmp_path / "logs")],
                              capture_output=True, timeout=60)
    finally:
        locked.chmod(0o755)
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    assert f"{locked}: directory not read: Permission denied" in err
    assert proc.returncode == 3
    assert len(json.loads(proc.stdout)["findings"]) == 1


# --- NULs, encodings, BOMs --------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"\x00" * 3000 + DNS + HEALTHY,  # a NUL prefix
    HEALTHY + b"\x00" * 6000 + b"\n" + DNS,  # a NUL hole in the first 8 KB (a crash mid-write)
], ids=["prefix", "hole"])
def test_nul_bytes_in_text_are_dropped_with_a_count(tmp_path: Path, rules: Path, data: bytes) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(data)
    run = scan(rules, str(path))
    clean_end(run)
    assert run.code == 1 and len(run.findings()) == 1
    assert f"{path}: {data.count(0)} NUL byte(s) ignored" in run.err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_bom_files_are_decoded(tmp_path: Path, rules: Path, encoding: str) -> None:
    path = tmp_path / "runner.log"
    text = (DNS + HEALTHY).decode().replace("\n", "\r\n")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # PowerShell's `Out-File -Encoding BigEndianUnicode`
    path.write_bytes(data)
    run = scan(rules, str(path))
    clean_end(run)
    assert run.code == 1 and [f["rule_id"] for f in run.findings()] == ["dns-no-such-host"]


def test_utf8_bom_is_stripped_before_detection(tmp_path: Path) -> None:
    path = tmp_path / "short-iso.log"
    path.write_bytes(b"\xef\xbb\xbf2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Checking for jobs... received\n")
    run = cli("parse", str(path))
    record = json.loads(run.out)
    assert (record["format"], record["ts"]) == ("short-iso", "2024-03-10T12:00:00Z")


def test_other_encodings_are_skipped_naming_the_option_that_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "ebcdic.log"
    path.write_bytes(HEALTHY.decode().encode("cp500") * 50)
    skipped = cli("parse", str(path))
    assert skipped.code == 2 and "--encoding" in skipped.err
    forced = cli("parse", "--encoding", "cp500", str(path))
    assert forced.code == 0 and json.loads(forced.out.splitlines()[0])["host"] == "ci1"
    bad = cli("parse", "--encoding", "no-such-codec", str(path))
    assert bad.code == 2 and "unknown encoding" in bad.err


# --- files that change while read -------------------------------------------------------------

def test_a_file_truncated_while_read_is_partial(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(HEALTHY * 40000)
    diag = Diagnostics()
    opened = open_input(Input(str(path), str(path), named=True), ReadOptions(block_size=64 << 10), diag)
    assert opened is not None
    got = records(opened)
    next(got)
    os.truncate(path, 100_000)  # logrotate's copytruncate
    assert sum(1 for _ in got) > 0
    assert any("file shrank while it was read" in str(e) and e.partial for e in diag.input_errors)


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def big_log(path: Path, size: int) -> None:
    """A journalctl -o short-iso file (a format a parallel scan splits; RFC 3164 stays on one core)."""
    iso = b"2024-03-10T12:00:00+0000"
    block = DNS.replace(b"Mar 10 12:00:00", iso) + HEALTHY.replace(b"Mar 10 12:00:01", iso) * 400
    with path.open("wb") as f:
        for _ in range(size // len(block) + 1):
            f.write(block)


def start_parallel_scan(rules: Path, path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    proc = subprocess.Popen([sys.executable, "-m", "logsleuth", "scan", "--no-builtin", "--rules", str(rules),
                             "-j", "2", "--fail-on", "none", "--format", "json", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = children(proc.pid)
        if len(workers) >= 2:
            return proc, workers
        time.sleep(0.01)
    proc.kill()
    pytest.fail("no workers started")


def test_a_file_truncated_during_a_parallel_scan_is_partial_not_a_traceback(tmp_path: Path, rules: Path) -> None:
    path = tmp_path / "syslog"
    big_log(path, 96 * MIB)
    proc, _workers = start_parallel_scan(rules, path)
    os.truncate(path, 8 * MIB)
    out, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err
    assert proc.returncode == 3 and b"file shrank while it was read" in err
    assert json.loads(out)["findings"][0]["count"] > 0


def test_a_file_deleted_during_a_parallel_scan_is_read_whole(tmp_path: Path, rules: Path) -> None:
    path = tmp_path / "syslog"
    big_log(path, 48 * MIB)
    whole = scan(rules, "-j", "1", str(path))
    proc, _workers = start_parallel_scan(rules, path)
    path.unlink()
    out, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err
    assert proc.returncode == 0
    assert json.loads(out)["findings"][0]["count"] == whole.findings()[0]["count"]


def running_in_group(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies waiting for PID 1 to reap them do not)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp
            found.append(int(stat_file.parent.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_a_parallel_scan_leaves_no_worker_and_no_traceback(tmp_path: Path, rules: Path, sig: int) -> None:
    path = tmp_path / "syslog"
    big_log(path, 64 * MIB)
    proc, workers = start_parallel_scan(rules, path)
    time.sleep(0.3)  # the workers are busy with their ranges (before: they ran on for good)
    os.kill(proc.pid, sig)
    _out, err = proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while running_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = running_in_group(proc.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {workers} outlived their parent"
    assert b"Traceback" not in err, err


# --- entry bounds -----------------------------------------------------------------------------

def test_continuation_walk_is_linear() -> None:
    # One journal entry followed by 40,000 indented lines, each a candidate (before: 290 s).
    head = b"2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: panic: runtime error\n"
    chunk = head + b"        lookup gitlab.example.com: no such host\n" * 40000
    fmt = formats.get("short-iso")
    starts = [len(head) + i * 48 for i in range(40000)]
    t = time.monotonic()
    got = entries.entry_starts(chunk, chunk, [(s, s + 47, frozenset({0})) for s in starts], fmt)
    assert time.monotonic() - t < 2
    assert got == {0: {0}}
    assert entries.entry_heads(chunk, [0, len(head)], fmt) == [0, 0]


def test_journal_entry_of_40000_lines_scans_in_seconds(tmp_path: Path, rules: Path) -> None:
    path = tmp_path / "journal.log"
    path.write_bytes(b"2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: " + DNS.split(b": ", 1)[1]
                     + b"        dial tcp: lookup gitlab.example.com on 10.0.0.2:53: no such host\n" * 40000)
    run = scan(rules, str(path), timeout=30)
    clean_end(run)
    assert run.code == 1 and run.seconds < 20


# --- the shared read helper for rule and template files ---------------------------------------

def test_read_regular_refuses_special_and_huge_files(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    with pytest.raises(LogsleuthError, match="rule file not read: a named pipe"):
        read_regular(str(fifo), 1 << 20, "rule file")
    with pytest.raises(LogsleuthError, match="character device"):
        read_regular("/dev/zero", 1 << 20, "rule file")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(LogsleuthError, match="too large: 2000 bytes"):
        read_regular(str(big), 1000, "rule file")
    assert read_regular(str(big), 2000) == b"x" * 2000
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_huge_multi_line_entry_is_split_and_memory_stays_flat(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    with path.open("wb") as f:
        f.write(b"2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: panic: runtime error\n")
        f.write(b"    goroutine 1 [running]:\n" * 500_000)  # 13 MB: one entry without the cap
        f.write(b"2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: Checking for jobs... received\n")
    run = cli("parse", str(path), timeout=120)  # ~3 s alone; generous for a loaded CI box
    clean_end(run)
    assert run.code == 0
    assert "49 multi-line entries longer than 10000 lines or 4 MiB split" in run.err  # 10,001 lines each
    got = [json.loads(line) for line in run.out.splitlines()]
    assert len(got) == 51 and got[-1]["message"] == "Checking for jobs... received"
    assert max(len(r["message"]) for r in got) < 300_000
    assert run.max_rss_mib < 200, run.max_rss_mib
