"""The reading layer through the real CLI: stdin streaming, compression, archives, rotated sets, bad input."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import multiprocessing
import select
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from logsleuth.errors import Diagnostics
from logsleuth.read.inputs import ReadOptions, expand, members, open_input, records, rotation_key, split_lines

CLI = [sys.executable, "-m", "logsleuth", "parse"]
LINES = b"Mar  1 00:00:01 ci1 app[5]: first\nMar  1 00:00:02 ci1 app[5]: second\n"


def run(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], input=data, capture_output=True, timeout=120)


def messages(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [json.loads(line)["message"] for line in proc.stdout.splitlines()]


def origins(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [json.loads(line)["origin"]["path"] for line in proc.stdout.splitlines()]


def test_stdin_is_streamed_before_the_input_ends() -> None:
    proc = subprocess.Popen([*CLI, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(LINES)
        proc.stdin.flush()  # the pipe stays open: the input has not ended
        start = time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready and time.monotonic() - start < 5, "no event before the input ended"
        first = json.loads(proc.stdout.readline())
        assert (first["message"], first["origin"]) == ("first", {"path": "<stdin>", "line": 1})
    finally:
        proc.kill()
        proc.wait()


def compress(kind: str, data: bytes) -> bytes:
    return {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
            "zst": zstandard.ZstdCompressor().compress}[kind](data)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_compressed_files_by_magic_not_suffix(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "syslog.log"  # no compression suffix: the magic bytes decide
    path.write_bytes(compress(kind, LINES))
    proc = run(str(path))
    assert proc.returncode == 0, proc.stderr
    assert messages(proc) == ["first", "second"]


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(LINES) + gzip.compress(b"Mar  1 00:00:03 ci1 app[5]: third\n"))
    assert messages(run(str(path))) == ["first", "second", "third"]


@pytest.mark.parametrize("kind", ["gz", "xz", "bz2", "zst"])
def test_truncated_compressed_input_keeps_events_before_the_fault(tmp_path: Path, kind: str) -> None:
    body = b"".join(b"Mar  1 00:00:%02d ci1 app[5]: line %06d\n" % (i % 60, i) for i in range(60000))
    path = tmp_path / f"syslog.2.{kind}"
    blob = compress(kind, body)
    path.write_bytes(blob[: len(blob) * 2 // 3])
    proc = run(str(path))
    assert proc.returncode == 3
    got = messages(proc)
    assert got[:2] == ["line 000000", "line 000001"] and len(got) > 1000
    err = proc.stderr.decode()
    assert f"{path}: truncated" in err and "Traceback" not in err


def test_tar_archive_members_in_rotation_order(tmp_path: Path) -> None:
    archive = tmp_path / "logs.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in [("var/log/syslog", b"Mar  1 00:00:03 h a[1]: newest\n"),
                           ("var/log/syslog.1", b"Mar  1 00:00:02 h a[1]: middle\n"),
                           ("var/log/syslog.2.gz", gzip.compress(b"Mar  1 00:00:01 h a[1]: oldest\n"))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    proc = run(str(archive))
    assert messages(proc) == ["oldest", "middle", "newest"]
    assert origins(proc) == [f"{archive}!var/log/syslog.2.gz", f"{archive}!var/log/syslog.1", f"{archive}!var/log/syslog"]


def test_a_deferred_compressed_tar_lists_later_as_it_would_have(tmp_path: Path) -> None:
    """expand(defer=True), as fanout asks, leaves a .tgz to the worker that reads it: one "archive"
    Input, whose members() are the Inputs, in the order, that expand gives without defer."""
    archive = tmp_path / "logs.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("syslog", "syslog.2", "syslog.1"):
            info = tarfile.TarInfo(f"var/log/{name}")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"x\n\n"))
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(archive, "inner.tgz")
    opts = ReadOptions()
    deferred = list(expand([str(archive), str(plain)], opts, Diagnostics(), defer=True))
    assert [i.kind for i in deferred] == ["archive", "member"]  # an uncompressed tar lists cheaply here
    eager = list(expand([str(archive)], opts, Diagnostics()))
    later = members(deferred[0], opts, Diagnostics())
    assert [(i.name, i.kind) for i in later] == [(i.name, i.kind) for i in eager]
    assert [i.name.rsplit("/", 1)[1] for i in later] == ["syslog.2", "syslog.1", "syslog"]


def test_members_read_through_forked_workers_do_not_share_an_offset(tmp_path: Path) -> None:
    """Workers inherit the parent's open tar: a member is read with pread, so two workers reading
    members of one archive at once never read each other's bytes (seek + read raced)."""
    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as tar:
        for k in range(40):
            data = b"".join(b"2026-03-01T00:00:%02d+0000 h app[1]: member %d line %d\n" % (k % 60, k, n)
                            for n in range(3000))
            info = tarfile.TarInfo(f"m{k:02d}.log")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _LISTED[:] = expand([str(archive)], ReadOptions(), Diagnostics())
    # Forked after listing, as fanout's pool is: the workers inherit the members' openers (they do not pickle).
    with multiprocessing.get_context("fork").Pool(2) as pool:
        digests = pool.map(_member_digest, range(len(_LISTED)), chunksize=1)
    assert digests == [_member_digest(k) for k in range(len(_LISTED))]


_LISTED: list = []


def _member_digest(index: int) -> tuple[int, int]:
    inp = _LISTED[index]
    one = open_input(inp, ReadOptions(), Diagnostics())
    assert one is not None
    lines = [r.message for r in records(one)]
    k = int(inp.name.rsplit("!m", 1)[1][:2])
    assert all(m.startswith(f"member {k} line ") for m in lines), inp.name
    return len(lines), hash(tuple(lines))


def test_directory_walk_rotation_and_globs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "syslog").write_bytes(b"Mar  3 00:00:00 h a[1]: live\n")
    (tmp_path / "syslog.1").write_bytes(b"Mar  2 00:00:00 h a[1]: rotated once\n")
    (tmp_path / "syslog.2.gz").write_bytes(gzip.compress(b"Mar  1 00:00:00 h a[1]: rotated twice\n"))
    (tmp_path / "sub" / "messages-20240303").write_bytes(b"Mar  3 00:00:00 h a[1]: dated new\n")
    (tmp_path / "sub" / "messages-20240225.gz").write_bytes(gzip.compress(b"Feb 25 00:00:00 h a[1]: dated old\n"))
    (tmp_path / "skip.bin").write_bytes(b"not a log\n")
    proc = run(str(tmp_path), "--exclude", "*.bin")
    # Sorted walk, a directory's files before its subdirectories; each rotated set oldest first.
    assert messages(proc) == ["rotated twice", "rotated once", "live", "dated old", "dated new"]
    only = run(str(tmp_path), "--include", "sub/*")
    assert messages(only) == ["dated old", "dated new"]


@pytest.mark.parametrize("path, key", [
    ("/v/syslog", (("/v", "syslog"), (1, 0))), ("/v/syslog.2.gz", (("/v", "syslog"), (0, -2))),
    ("/v/syslog-20240310.zst", (("/v", "syslog"), (0, 20240310)))])
def test_rotation_key(path: str, key: tuple) -> None:
    assert rotation_key(path) == key


def test_invalid_utf8_and_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(b"caf\xe9 \xff ok\nnul\x00 inside\n")
    proc = run(str(path))
    assert proc.returncode == 0
    assert messages(proc) == ["caf\ufffd \ufffd ok", "nul inside"]


def test_binary_file_named_is_an_error_found_in_a_directory_a_warning(tmp_path: Path) -> None:
    binary = tmp_path / "logs" / "core.bin"
    binary.parent.mkdir()
    binary.write_bytes(bytes(range(256)) * 64)
    text = tmp_path / "ok.log"
    text.write_bytes(b"still read\n")
    proc = run(str(binary), str(text))
    assert messages(proc) == ["still read"]
    assert f"error: {binary}: binary file not read" in proc.stderr.decode()
    assert "--encoding" in proc.stderr.decode()
    assert proc.returncode == 2
    walked = run(str(binary.parent), str(text))
    assert messages(walked) == ["still read"]
    assert f"warning: {binary}: binary file skipped" in walked.stderr.decode()
    assert walked.returncode == 0


def test_huge_line_is_truncated_with_bounded_output(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    with path.open("wb") as f:
        f.write(b"before\n")
        for _ in range(50):
            f.write(b"x" * (1 << 20))  # one 50 MB line
        f.write(b"\nafter\n")
    proc = run(str(path))
    assert proc.returncode == 0
    got = messages(proc)
    assert got[0] == "before" and got[-1] == "after" and len(got) == 3
    assert len(got[1]) == 1 << 20
    assert len(proc.stdout) < 3 << 20
    assert "1 over-long line(s) truncated" in proc.stderr.decode()


def test_missing_path_is_an_error_but_others_are_read(tmp_path: Path) -> None:
    ok = tmp_path / "ok.log"
    ok.write_bytes(LINES)
    missing = tmp_path / "missing.log"
    proc = run(str(missing), str(ok))
    assert messages(proc) == ["first", "second"]
    err = proc.stderr.decode()
    assert f"{missing}: no such file or directory" in err and "Traceback" not in err
    assert proc.returncode == 2


def test_unreadable_path(tmp_path: Path) -> None:
    # A dangling symlink exists as a name but cannot be opened (works even when tests run as root).
    link = tmp_path / "gone.log"
    link.symlink_to(tmp_path / "deleted.log")
    ok = tmp_path / "ok.log"
    ok.write_bytes(LINES)
    proc = run(str(link), str(ok))
    assert proc.returncode == 2
    assert f"{link}: cannot read" in proc.stderr.decode()
    assert messages(proc) == ["first", "second"]


def test_output_into_head_exits_quietly(tmp_path: Path) -> None:
    path = tmp_path / "many.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(200000)))
    proc = subprocess.run(f"{sys.executable} -m logsleuth parse {path} | head -1", shell=True,
                          capture_output=True, timeout=120)
    assert json.loads(proc.stdout)["message"] == "line 0"
    assert proc.stderr == b""


def test_forced_format_and_verbose_reason(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(LINES)
    proc = run("-v", "--input-format", "plain", str(path))
    assert f"logsleuth: {path}: format plain (forced with --input-format)" in proc.stderr.decode()
    auto = run("-v", str(path))
    assert f"logsleuth: {path}: format rfc3164 (" in auto.stderr.decode()


# --- the library contract the engine uses -----------------------------------------------------

@pytest.mark.parametrize("block, lines", [
    (b"a\nb\n", [b"a", b"b"]), (b"a\nb", [b"a", b"b"]), (b"\n\n", [b"", b""]), (b"", [])])
def test_split_lines(block: bytes, lines: list[bytes]) -> None:
    assert split_lines(block) == lines


def test_blocks_are_newline_aligned_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"".join(b"line %05d\n" % i for i in range(5000)))
    diag = Diagnostics()
    opts = ReadOptions(block_size=4096)
    (inp,) = expand([str(path)], opts, diag)
    opened = open_input(inp, opts, diag)
    assert opened is not None and opened.format.name == "plain"
    blocks = list(opened.blocks)
    assert len(blocks) > 1 and all(b.endswith(b"\n") for b in blocks)
    assert (opened.bytes_read, opened.lines_read) == (path.stat().st_size, 5000)


def test_records_parse_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(LINES)
    diag = Diagnostics()
    (inp,) = expand([str(path)], ReadOptions(year=2023), diag)
    opened = open_input(inp, ReadOptions(year=2023), diag)
    assert opened is not None
    got = [(r.message, r.ts.year if r.ts else None, r.origin.line) for r in records(opened)]
    assert got == [("first", 2023, 1), ("second", 2023, 2)]


def test_walk_lists_like_os_walk_and_skips_symlinked_directories(tmp_path: Path) -> None:
    """Files by name, then subdirectories by name, depth first; a symlink to a file is read, one to
    a directory is not entered (a loop, or a tree scanned twice); --exclude sees the relative path."""
    import os

    from logsleuth.errors import Diagnostics
    from logsleuth.read.inputs import ReadOptions, walk

    for rel in ("b.log", "a.log", "z/2.log", "z/1.log", "m/y/x.log", "m/k.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    (tmp_path / "link.log").symlink_to(tmp_path / "a.log")
    (tmp_path / "loop").symlink_to(tmp_path / "m", target_is_directory=True)
    got = walk(str(tmp_path), ReadOptions(), Diagnostics())
    expected = []
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        dirnames.sort()
        expected += [os.path.join(dirpath, n) for n in sorted(filenames)]
    assert got == expected
    assert [os.path.relpath(p, tmp_path) for p in got] == [
        "a.log", "b.log", "link.log", "m/k.log", "m/y/x.log", "z/1.log", "z/2.log"]
    some = walk(str(tmp_path), ReadOptions(exclude=("m/y/*", "z/2.log")), Diagnostics())
    assert [os.path.relpath(p, tmp_path) for p in some] == ["a.log", "b.log", "link.log", "m/k.log", "z/1.log"]
