"""Stage 0, inputs: find what to read and hand it on as newline-aligned raw blocks.

Paths become Inputs (stdin, files, directory walks, tar members, native journal files, rotated
sets oldest first); an opened Input knows its format (detected from its first block or forced),
its parse context and a lazy stream of blocks. Compressed inputs are inflated on the way
(logsleuth.decompress), blocks are aligned and long lines cut (logsleuth.blocks), and .journal
files are read by logsleuth.sources.journal_file. Nothing here raises for bad input: problems go
to Diagnostics.
"""
from __future__ import annotations

import fnmatch
import lzma
import os
import re
import sys
import tarfile
import zlib
from dataclasses import dataclass
from functools import partial
from datetime import timezone, tzinfo
from itertools import chain
from typing import IO, Callable, Iterable, Iterator, Sequence

from logsleuth.read import formats
from logsleuth.read.blocks import aligned, looks_binary
from logsleuth.read.decompress import compression, decompressed, inflate
from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.model import Record
from logsleuth.read.formats import Format, ParseContext, journal_file
from logsleuth.read.formats.lines import is_marker

STDIN = "<stdin>"
_SAMPLE_LINES = 40
_JOURNAL_MAGIC = b"LPKSHHRH"
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


@dataclass(frozen=True)
class ReadOptions:
    """How to read inputs: a forced format, year/zone completion, walk filters and size limits."""

    input_format: str | None = None
    year: int | None = None
    tz: tzinfo = timezone.utc
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    block_size: int = 1 << 20
    max_line: int = 1 << 20


@dataclass
class Input:
    """One thing to read: stdin, a file, a tar member (`archive.tgz!var/log/syslog`) or a .journal file."""

    name: str
    path: str | None = None
    kind: str = "file"  # "stdin" | "file" | "member" | "journal"
    opener: Callable[[], IO[bytes] | None] | None = None


@dataclass
class Opened:
    """An input ready to read: its format and why, its parse context and its raw blocks."""

    name: str
    format: Format
    reason: str
    ctx: ParseContext
    blocks: Iterator[bytes]
    records: Iterator[Record] | None = None
    bytes_read: int = 0
    lines_read: int = 0
    has_content: bool = False  # a line that is neither blank nor a journalctl marker was read


# --- expand ------------------------------------------------------------------------------------

def expand(paths: Sequence[str], opts: ReadOptions, diag: Diagnostics) -> Iterator[Input]:
    """The Inputs named by `paths` (`-` = stdin); directories are walked, archives opened member by
    member, rotated sets ordered oldest first. Missing paths are reported and skipped."""
    files: list[str] = []
    for path in paths:
        if path == "-":
            yield from _file_inputs(_order_rotated(files), diag)
            files = []
            yield Input(STDIN, kind="stdin")
        elif os.path.isdir(path):
            files.extend(_walk(path, opts))
        elif os.path.lexists(path):
            files.append(path)
        else:
            diag.input_error(InputError("no such file or directory", Location(path)))
    yield from _file_inputs(_order_rotated(files), diag)


def _walk(root: str, opts: ReadOptions) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if opts.include and not any(_glob(rel, name, g) for g in opts.include):
                continue
            if any(_glob(rel, name, g) for g in opts.exclude):
                continue
            found.append(path)
    return found


def _glob(rel: str, name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern)


_NUMBERED = re.compile(r"^(.*)\.(\d+)$")
_DATED = re.compile(r"^(.*)-(\d{8})$")


def rotation_key(path: str) -> tuple[tuple[str, str], tuple[int, int]]:
    """(rotated set, position): `syslog.2.gz` < `syslog.1` < `syslog`; `-YYYYMMDD` oldest first."""
    directory, base = os.path.split(path)
    stem = base
    for suffix in _COMPRESSED_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _NUMBERED.match(stem)
    if m:
        return (directory, m.group(1)), (0, -int(m.group(2)))
    m = _DATED.match(stem)
    if m:
        return (directory, m.group(1)), (0, int(m.group(2)))
    return (directory, stem), (1, 0)


def _order_rotated(paths: list[str]) -> list[str]:
    """Keep the paths' order, but put each rotated set together, oldest file first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        groups.setdefault(rotation_key(path)[0], []).append(path)
    return [p for members in groups.values() for p in sorted(members, key=lambda p: rotation_key(p)[1])]


def _file_inputs(paths: list[str], diag: Diagnostics) -> Iterator[Input]:
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(512)
        except OSError as exc:
            diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", Location(path)))
            continue
        if head.startswith(_JOURNAL_MAGIC) or path.endswith((".journal", ".journal~")):
            yield Input(path, path, "journal")
        elif _is_tar(path, head):
            yield from _tar_members(path, diag)
        else:
            yield Input(path, path, "file")


def _is_tar(path: str, head: bytes) -> bool:
    if head[257:262] == b"ustar":
        return True
    kind = compression(head)
    if kind is None:
        return False
    with open(path, "rb") as f:
        first = b"".join(_limited(inflate(_chunks(f, 1 << 16), kind, path, None), 512))
    return first[257:262] == b"ustar"


def _limited(blocks: Iterator[bytes], size: int) -> Iterator[bytes]:
    got = 0
    for block in blocks:
        yield block
        got += len(block)
        if got >= size:
            return


def _tar_members(path: str, diag: Diagnostics) -> Iterator[Input]:
    try:
        archive = tarfile.open(path, "r:*")
        members = [m for m in archive.getmembers() if m.isfile()]
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        diag.input_error(InputError(f"cannot read archive: {exc}", Location(path), partial=True))
        return
    by_name = {m.name: m for m in members}
    for name in _order_rotated(list(by_name)):
        member = by_name[name]
        yield Input(f"{path}!{name}", path, "member", opener=partial(archive.extractfile, member))


# --- open --------------------------------------------------------------------------------------

def open_input(inp: Input, opts: ReadOptions, diag: Diagnostics) -> Opened | None:
    """Open one input: decompress, detect (or force) its format, skip binary files; None when it cannot be read."""
    if inp.kind == "journal":
        return _open_journal(inp, opts, diag)
    stream = _raw_stream(inp, diag)
    if stream is None:
        return None
    raw = decompressed(_chunks(stream, opts.block_size), inp.name, diag)
    blocks = aligned(raw, opts.max_line, diag)
    first = next(blocks, b"")
    sample = split_lines(first[: 1 << 16])[:_SAMPLE_LINES]
    if opts.input_format:
        fmt, reason = formats.get(opts.input_format), "forced with --input-format"
    else:
        fmt, reason = formats.detect(sample)
    if fmt.name != "export" and looks_binary(first):
        diag.warn("binary file skipped", Location(inp.name))
        return None
    ctx = ParseContext(path=inp.name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    opened = Opened(inp.name, fmt, reason, ctx, iter(()))
    opened.blocks = _counted(opened, chain([first], blocks) if first else blocks)
    return opened


def open_range(path: str, fmt_name: str, start: int, end: int, opts: ReadOptions, diag: Diagnostics) -> Opened:
    """Bytes start..end of a plain file as an input of a known format (a parallel worker's share)."""
    def chunks() -> Iterator[bytes]:
        with open(path, "rb", buffering=0) as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(opts.block_size, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    ctx = ParseContext(path=path, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    opened = Opened(path, formats.get(fmt_name), "range of a parallel scan", ctx, iter(()))
    opened.blocks = _counted(opened, aligned(chunks(), opts.max_line, diag))
    return opened


def _raw_stream(inp: Input, diag: Diagnostics) -> IO[bytes] | int | None:
    if inp.kind == "stdin":
        return sys.stdin.fileno()
    try:
        if inp.kind == "member" and inp.opener is not None:
            return inp.opener()
        return open(inp.path or inp.name, "rb", buffering=0)
    except (OSError, tarfile.TarError) as exc:
        msg = getattr(exc, "strerror", None) or str(exc)
        diag.input_error(InputError(f"cannot read: {msg}", Location(inp.name)))
        return None


def _chunks(stream: IO[bytes] | int, size: int) -> Iterator[bytes]:
    """Raw chunks as soon as they arrive: os.read on a pipe returns what is there, never waits to fill."""
    read: Callable[[], bytes]
    if isinstance(stream, int):
        read = partial(os.read, stream, size)
    else:
        read = partial(stream.read, size)
    try:
        while True:
            chunk = read()
            if not chunk:
                return
            yield chunk
    finally:
        if not isinstance(stream, int):
            stream.close()


def _counted(opened: Opened, blocks: Iterator[bytes]) -> Iterator[bytes]:
    for block in blocks:
        opened.bytes_read += len(block)
        opened.lines_read += block.count(b"\n")
        if not opened.has_content:
            # `journalctl` without permission prints only `-- No entries --`: read, yet nothing to check.
            opened.has_content = any(line.strip() and not is_marker(line) for line in block.split(b"\n"))
        yield block


# --- records -----------------------------------------------------------------------------------

def split_lines(block: bytes) -> list[bytes]:
    """The lines of a block, without their "\\n"."""
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    for block in blocks:
        yield from split_lines(block)


def records(opened: Opened) -> Iterator[Record]:
    """Every record of an opened input, parsed in full (or read from the native journal)."""
    if opened.records is not None:
        return opened.records
    return opened.format.parse(_lines(opened.blocks), opened.ctx)


# --- native journal files ------------------------------------------------------------------------

def _open_journal(inp: Input, opts: ReadOptions, diag: Diagnostics) -> Opened | None:
    reader = journal_file.open_reader(inp.path or inp.name, inp.name, diag)
    if reader is None:
        return None
    ctx = ParseContext(path=inp.name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    opened = Opened(inp.name, journal_file.JOURNAL, journal_file.REASON, ctx, iter(()))
    opened.records = _counted_entries(opened, journal_file.records(reader, inp.name))
    return opened


def _counted_entries(opened: Opened, entries: Iterator[Record]) -> Iterator[Record]:
    for n, record in enumerate(entries, 1):
        opened.lines_read = n
        opened.has_content = True
        yield record
