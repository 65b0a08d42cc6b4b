"""Stage 0, inputs: find what to read and hand it on as newline-aligned raw blocks.

Paths become Inputs (stdin, files, directory walks, tar members, native journal files, rotated
sets oldest first); an opened Input knows its format (detected from its first block or forced),
its parse context and a lazy stream of blocks. Compressed inputs are inflated on the way
(read.decompress), UTF-16 and BOMs decoded and NUL bytes dropped (read.streams), blocks are
aligned and long lines cut (read.blocks), archives listed by read.archives and .journal files
read by read.formats.journal_file. Only regular files are read from directories; a pipe is read only
when named (`<(cmd)`, a FIFO) and never sniffed twice. Nothing here raises for bad input:
problems go to Diagnostics.
"""
from __future__ import annotations

import fnmatch
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from itertools import chain
from typing import IO, Callable, Iterable, Iterator, Sequence

from logsleuth.read import archives, config_toml, formats, prefetch, streams
from logsleuth.read.blocks import aligned, looks_binary
from logsleuth.read.decompress import Budget, compression, decompressed
from logsleuth.read.files import kind_of, open_regular
from logsleuth.errors import Diagnostics, InputError, LogsleuthError, Location
from logsleuth.model import Record
from logsleuth.read.formats import Format, ParseContext, clock, journal_file
from logsleuth.read.formats.lines import is_marker
from logsleuth.read.text import printable

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
    encoding: str | None = None  # --encoding: read every input as this text encoding
    budget: Budget = field(default_factory=Budget)  # how far a compressed input may inflate


@dataclass
class Input:
    """One thing to read: stdin, a file, a tar member (`archive.tgz!var/log/syslog`) or a .journal file."""

    name: str  # as printed: control characters escaped (text.printable)
    path: str | None = None
    kind: str = "file"  # "stdin" | "file" | "pipe" | "member" | "journal" | "archive" (see expand)
    opener: Callable[[], IO[bytes] | None] | None = None
    named: bool = False  # named by the user (not found in a directory or an archive)


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
    diag: Diagnostics | None = None  # where `records` reports entries it had to split
    count_lines: bool = True  # False: the consumer counts lines_read itself (the engine's raw path)


# --- expand ------------------------------------------------------------------------------------

def expand(paths: Sequence[str], opts: ReadOptions, diag: Diagnostics, defer: bool = False) -> Iterator[Input]:
    """The Inputs named by `paths` (`-` = stdin); directories are walked, archives opened member by
    member, rotated sets ordered oldest first. Missing paths and special files are reported and skipped.

    With `defer`, a compressed tar is one Input of kind "archive", listed later by `members`: listing
    it means inflating all of it, which a worker then does instead of the parent (match/fanout.py).
    """
    files: list[str] = []
    named: set[str] = set()
    for path in paths:
        if path == "-":
            yield from _file_inputs(_order_rotated(files), named, opts, diag, defer)
            files = []
            yield Input(STDIN, kind="stdin", named=True)
            continue
        where = Location(printable(path))
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            if os.path.lexists(path):  # a dangling symlink: reported as unreadable when opened
                files.append(path)
                named.add(path)
            else:
                diag.input_error(InputError("no such file or directory", where))
            continue
        except OSError as exc:
            diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", where))
            continue
        if stat.S_ISDIR(mode):
            files.extend(walk(path, opts, diag))
        elif stat.S_ISREG(mode):
            files.append(path)
            named.add(path)
        elif stat.S_ISFIFO(mode):
            # Named on purpose (a FIFO, `<(journalctl ...)`): read once, like stdin.
            yield from _file_inputs(_order_rotated(files), named, opts, diag, defer)
            files = []
            yield Input(printable(path), path, "pipe", named=True)
        else:
            diag.input_error(InputError(f"not read: {kind_of(mode)}, not a regular file "
                                        "(to read it anyway: `logsleuth scan - < PATH`)", where))
    yield from _file_inputs(_order_rotated(files), named, opts, diag, defer)


def walk(root: str, opts: ReadOptions, diag: Diagnostics) -> list[str]:
    """The files under `root` a scan reads, as `expand` walks it: --include/--exclude, regular files only."""
    def unreadable(exc: OSError) -> None:
        # What lies below an unreadable directory is missing from the scan: partial input.
        where = Location(printable(exc.filename or root))
        diag.input_error(InputError(f"directory not read: {exc.strerror or exc}", where, partial=True))

    found: list[str] = []
    globs = bool(opts.include or opts.exclude)

    # os.walk's order (a directory's files by name, then its subdirectories by name, depth first;
    # symlinked directories not entered), but from os.scandir's entries: their d_type tells a
    # regular file without the stat per file os.walk plus a check of our own cost (10,000 files:
    # a third of the listing the parent does before any worker starts).
    def visit(directory: str, rel_dir: str) -> None:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            unreadable(exc)
            return
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    subdirs.append(entry)
                continue
            if globs:
                rel = f"{rel_dir}{entry.name}"
                if opts.include and not any(_glob(rel, entry.name, g) for g in opts.include):
                    continue
                if any(_glob(rel, entry.name, g) for g in opts.exclude):
                    continue
            if _regular_entry(entry, diag):
                found.append(entry.path)
        for entry in subdirs:
            visit(entry.path, f"{rel_dir}{entry.name}{os.sep}")

    visit(root, "")
    return found


def _regular_entry(entry: os.DirEntry[str], diag: Diagnostics) -> bool:
    try:
        if entry.is_file() and not entry.is_symlink():
            return True  # known from the directory listing: no stat
    except OSError:
        pass
    return _regular(entry.path, diag)


def _regular(path: str, diag: Diagnostics) -> bool:
    """Whether a file found in a directory is a regular file (a FIFO would block the scan forever)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # dangling link, vanished: opening it reports why
    if stat.S_ISREG(mode):
        return True
    diag.warn(f"skipped: {kind_of(mode)}, not a regular file", Location(printable(path)))
    return False


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


def _file_inputs(paths: list[str], named: set[str], opts: ReadOptions, diag: Diagnostics,
                 defer: bool = False) -> Iterator[Input]:
    for path in paths:
        where = Location(printable(path))
        try:
            fd, _size = open_regular(path)
            with os.fdopen(fd, "rb") as f:
                head = f.read(512)
        except LogsleuthError as exc:  # swapped for a FIFO or device since it was listed
            diag.input_error(InputError(exc.message, where))
            continue
        except OSError as exc:
            # Gone since the directory was listed (rotated away): a warning; a named file: an error.
            diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", where, partial=path not in named))
            continue
        if head.startswith(_JOURNAL_MAGIC) or path.endswith((".journal", ".journal~")):
            yield Input(printable(path), path, "journal", named=path in named)
        elif archives.is_tar(path, head):
            if defer and compression(head) is not None:
                yield Input(printable(path), path, "archive", named=path in named)
            else:
                yield from _tar_members(path, head, opts, diag)
        else:
            yield Input(printable(path), path, "file", named=path in named)


def members(archive: Input, opts: ReadOptions, diag: Diagnostics) -> list[Input]:
    """The member Inputs of an "archive" Input, in the order `expand` gives them without `defer`."""
    path = archive.path or archive.name
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", Location(archive.name),
                                    partial=not archive.named))
        return []
    return list(_tar_members(path, head, opts, diag))


def _tar_members(path: str, head: bytes, opts: ReadOptions, diag: Diagnostics) -> Iterator[Input]:
    found = {m.name: m for m in archives.members(path, head, diag, opts.budget)}
    for name in _order_rotated(list(found)):
        member = found[name]
        yield Input(f"{printable(path)}!{name}", path, "member", opener=member.open)


# --- open --------------------------------------------------------------------------------------

def open_input(inp: Input, opts: ReadOptions, diag: Diagnostics) -> Opened | None:
    """Open one input: decompress, decode, detect (or force) its format, skip binary files; None when it cannot be read."""
    if inp.kind == "journal":
        return _open_journal(inp, opts, diag)
    stream = _raw_stream(inp, diag)
    if stream is None:
        return None
    raw = _inflated(inp, stream, opts, diag)
    blocks = aligned(streams.decoded(raw, opts.encoding), opts.max_line, diag)
    first = next(blocks, b"")
    forced = formats.get(opts.input_format) if opts.input_format else None
    sample = _sample(first)
    fmt, reason = (forced, "forced with --input-format") if forced else formats.detect(sample)
    if fmt.name != "export":  # export's binary fields may hold NULs; elsewhere they are holes
        nuls = first.count(b"\x00")
        if nuls:
            first = first.replace(b"\x00", b"")
            sample = _sample(first)
            if forced is None:
                fmt, reason = formats.detect(sample)
        if looks_binary(first) or (nuls and not first.strip()):
            _skip_binary(inp, opts, diag)
            return None
        blocks = streams.without_nuls(blocks, nuls, inp.name, diag)
    if forced is None and fmt.name == "plain" and config_toml.named(inp.name):
        # A config.toml whose first lines do not say so (a syntax error near the top): checked, not read as text.
        fmt, reason = formats.get(config_toml.NAME), "named config.toml"
    ctx = ParseContext(path=inp.name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    clock.hint_year(ctx, fmt.name, sample, inp.path if inp.kind == "file" else None)  # formats without years
    opened = Opened(inp.name, fmt, reason, ctx, iter(()), diag=diag)
    opened.blocks = _counted(opened, chain([first], blocks) if first else blocks)
    return opened


def _inflated(inp: Input, stream: IO[bytes] | int, opts: ReadOptions, diag: Diagnostics) -> Iterator[bytes]:
    """The input's bytes, inflated if compressed: a compressed file in a thread ahead of the reader
    (prefetch.py); stdin, pipes and members as they come (a thread must never wait on a pipe)."""
    def produce(d: Diagnostics) -> Iterator[bytes]:
        return decompressed(streams.chunks(stream, opts.block_size, inp.name, d), inp.name, d, opts.budget)

    if inp.kind == "file" and not isinstance(stream, int):
        try:
            head = os.pread(stream.fileno(), 6, 0)
        except OSError:
            head = b""
        if compression(head) is not None:
            return prefetch.ahead(produce, diag)
    return produce(diag)


def _sample(first: bytes) -> list[bytes]:
    # maxsplit: the first lines only, not the whole 64 KiB split (10,000 small files: 0.4 s of splitting)
    return first[: 1 << 16].split(b"\n", _SAMPLE_LINES)[:_SAMPLE_LINES] if first else []


def _skip_binary(inp: Input, opts: ReadOptions, diag: Diagnostics) -> None:
    how = f"not text in {opts.encoding}" if opts.encoding else \
        "not text in UTF-8 or UTF-16; for another encoding use --encoding NAME, e.g. --encoding latin-1"
    if inp.named:  # the user asked for this file: not reading it is an error, not a remark
        diag.input_error(InputError(f"binary file not read ({how})", Location(inp.name)))
    else:
        diag.warn(f"binary file skipped ({how})", Location(inp.name))


def open_range(path: str, fmt_name: str, start: int, end: int, opts: ReadOptions, diag: Diagnostics,
               fd: int | None = None) -> Opened:
    """Bytes start..end of a plain file as an input of a known format (a parallel worker's share).

    With `fd` (inherited from the parent) the very file the parent sized is read, even if it was
    renamed or deleted since; bytes missing at the end (the file was truncated) are a partial input.
    """
    name = printable(path)

    def chunks() -> Iterator[bytes]:
        pos = start
        own = fd is None
        try:
            handle = os.open(path, os.O_RDONLY) if fd is None else fd
        except OSError as exc:
            diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", Location(name), partial=True))
            return
        try:
            while pos < end:
                chunk = os.pread(handle, min(opts.block_size, end - pos), pos)
                if not chunk:
                    diag.input_error(InputError(f"file shrank while it was read (rotated?): bytes {pos}-{end} "
                                                "missing", Location(name), partial=True))
                    return
                pos += len(chunk)
                yield chunk
        finally:
            if own:
                os.close(handle)

    ctx = ParseContext(path=name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    clock.hint_year(ctx, fmt_name, [], path)  # the same year as the whole file's (clock.py)
    opened = Opened(name, formats.get(fmt_name), "range of a parallel scan", ctx, iter(()))
    opened.blocks = _counted(opened, streams.without_nuls(aligned(chunks(), opts.max_line, diag), 0, name, diag))
    return opened


def _raw_stream(inp: Input, diag: Diagnostics) -> IO[bytes] | int | None:
    if inp.kind == "stdin":
        return sys.stdin.fileno()
    try:
        if inp.kind == "member" and inp.opener is not None:
            return inp.opener()
        if inp.kind == "pipe":
            return open(inp.path or inp.name, "rb", buffering=0)
        fd, _size = open_regular(inp.path or inp.name)
        return os.fdopen(fd, "rb", buffering=0)
    except LogsleuthError as exc:
        diag.input_error(InputError(exc.message, Location(inp.name)))
        return None
    except archives.with_tar_errors(OSError) as exc:
        msg = getattr(exc, "strerror", None) or str(exc)
        diag.input_error(InputError(f"cannot read: {msg}", Location(inp.name), partial=not inp.named))
        return None


def _counted(opened: Opened, blocks: Iterator[bytes]) -> Iterator[bytes]:
    for block in blocks:
        opened.bytes_read += len(block)
        if opened.count_lines:
            opened.lines_read += block.count(b"\n")
        if not opened.has_content and block.strip():
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


# One multi-line entry (a journal MESSAGE with embedded newlines) is one record, held whole until
# it ends: past these bounds the rest continues as a new entry, so memory stays flat whatever a
# log holds (a 5-million-line entry made `parse` hold 1.2 GB).
MAX_ENTRY_LINES = 10_000
MAX_ENTRY_BYTES = 4 << 20


def records(opened: Opened) -> Iterator[Record]:
    """Every record of an opened input, parsed in full (or read from the native journal)."""
    if opened.records is not None:
        return opened.records
    lines = _lines(opened.blocks)
    if opened.format.continuation is not None:
        lines = _capped_entries(lines, opened.format.continuation, opened)
    return opened.format.parse(lines, opened.ctx)


def _capped_entries(lines: Iterator[bytes], continues: Callable[[bytes], bool], opened: Opened) -> Iterator[bytes]:
    count = size = split = 0
    try:
        for line in lines:
            if not continues(line):
                count, size = 0, len(line)
            else:
                count, size = count + 1, size + len(line)
                if count > MAX_ENTRY_LINES or size > MAX_ENTRY_BYTES:
                    line, split = line.lstrip(), split + 1  # unindented: the head of a new entry
                    count, size = 0, len(line)
            yield line
    finally:
        if split and opened.diag is not None:
            opened.diag.warn(f"{split} multi-line entr{'y' if split == 1 else 'ies'} longer than {MAX_ENTRY_LINES} "
                             f"lines or {MAX_ENTRY_BYTES >> 20} MiB split: the rest of each read as a new entry",
                             Location(opened.name))


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
