"""Read stage: the journal through `journalctl -o export` when python-systemd is not installed.

The same JournalQuery becomes journalctl's own options, so libsystemd does the filtering in
either case; the export stream is parsed by read/formats/journal_export.py.
"""
from __future__ import annotations

import dataclasses
import os
import select
import shutil
import subprocess
from datetime import datetime
from typing import Iterator

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.model import Origin, Record
from logsleuth.read.cursor import Progress
from logsleuth.read.formats import ParseContext
from logsleuth.read.formats.journal_export import parse as parse_export
from logsleuth.read.journal import _COREDUMP_ID, DEFAULT_UNITS, PERMISSION_HINT, JournalQuery, unit_name

_CHUNK = 1 << 16


def command(query: JournalQuery) -> list[str]:
    """journalctl's command line for `query`, in export mode."""
    args = ["journalctl", "-o", "export", "--no-pager"]
    args += [f"--file={f}" for f in query.files]
    if query.directory:
        args.append(f"--directory={query.directory}")
    if query.merge:
        args.append("--merge")
    args += [f"--unit={unit_name(u)}" for u in query.units]
    args += [f"--identifier={i}" for i in query.identifiers]
    if query.priorities:
        args.append(f"--priority={min(query.priorities)}..{max(query.priorities)}")
    if query.dmesg:
        args.append("--dmesg")
    if query.boot is not None:
        args.append(f"--boot={query.boot}")
    if query.after_cursor:
        args.append(f"--after-cursor={query.after_cursor}")
    elif query.since is not None:
        args.append(f"--since={_epoch(query.since)}")
    if query.until is not None:
        args.append(f"--until={_epoch(query.until)}")
    if query.lines is not None:
        args.append(f"--lines={query.lines}")
    if query.follow:
        args.append("--follow")
    if not query.selects:
        args += _default_matches()
    return args


def _epoch(moment: datetime) -> str:
    return f"@{moment.timestamp():.6f}"


def _default_matches() -> list[str]:
    # The units of DEFAULT_UNITS as -u matches them, OR the kernel: journalctl's `+` is a disjunction.
    out: list[str] = []
    for unit in DEFAULT_UNITS:
        out += [f"_SYSTEMD_UNIT={unit}", "+", f"MESSAGE_ID={_COREDUMP_ID}", f"COREDUMP_UNIT={unit}", "+",
                "_PID=1", f"UNIT={unit}", "+", "_UID=0", f"OBJECT_SYSTEMD_UNIT={unit}", "+"]
    return [*out, "_TRANSPORT=kernel"]


def records(query: JournalQuery, name: str, progress: Progress, diag: Diagnostics,
            poll: float = 1.0) -> Iterator[Record]:
    """The query's entries read from journalctl's export stream; raises InputError when it cannot run."""
    exe = shutil.which("journalctl")
    if exe is None:
        raise InputError("cannot read the journal: neither python-systemd (pip install 'logsleuth[journal]') "
                         "nor journalctl is installed", Location(name))
    if query.after_cursor and not _cursor_exists(exe, query):
        # journalctl --after-cursor would start near where the cursor would be, or fail on a bad one.
        diag.warn(f"cursor {query.after_cursor[:60]!r} is not in the journal (rotated away?): "
                  "starting from the oldest entry", Location(progress.path or "cursor"))
        query = dataclasses.replace(query, after_cursor=None, since=None, lines=None)
    args = command(query)
    proc = subprocess.Popen([exe, *args[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ctx = ParseContext(path=name)
        for n, record in enumerate(parse_export(_lines(proc.stdout.fileno(), progress, poll), ctx), 1):
            cursor = record.fields.pop("__CURSOR", None)
            record.origin = Origin(name, n)
            record.raw = record.message  # evidence shows the message, as for the native reader
            progress.resume()
            yield record
            progress.yielded(cursor if isinstance(cursor, str) else None)
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0 or "insufficient permissions" in err:
            raise _failure(err, name)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _cursor_exists(exe: str, query: JournalQuery) -> bool:
    """Whether the cursor names an entry of the selection: `--cursor` starts at it, export prints it first."""
    probe = dataclasses.replace(query, after_cursor=None, since=None, until=None, lines=None, follow=False)
    args = [exe, *command(probe)[1:], f"--cursor={query.after_cursor}"]
    with subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.kill()
    return first.rstrip(b"\n") == f"__CURSOR={query.after_cursor}".encode()


def _failure(err: str, name: str) -> InputError:
    first = err.splitlines()[0] if err else "journalctl failed"
    if "ermission" in err:
        return InputError(f"cannot read the journal: {first}; {PERMISSION_HINT}", Location(name))
    return InputError(f"journalctl: {first}", Location(name))


def _lines(fd: int, progress: Progress, poll: float) -> Iterator[bytes]:
    """The stream's lines without their newline; while none arrive, the progress is told it is idle."""
    carry = b""
    while True:
        ready, _, _ = select.select([fd], [], [], poll)
        if not ready:
            progress.idle()
            continue
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry
