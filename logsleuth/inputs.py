"""Stage 0, inputs: find what to read and hand it on as newline-aligned raw blocks.

Paths become Inputs (stdin, files, directory walks, tar members, native journal files, rotated
sets oldest first); an opened Input knows its format (detected from its first block or forced),
its parse context and a lazy stream of blocks. Decompression (gzip, bzip2, xz, zstd) is chosen by
magic bytes and runs incrementally, so stdin is streamed and a truncated archive still yields what
came before the fault. Nothing here raises for bad input: problems go to Diagnostics.
"""
from __future__ import annotations

import bz2
import fnmatch
import lzma
import os
import re
import sys
import tarfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from datetime import timezone, tzinfo
from itertools import chain
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from logsleuth import sources
from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.model import Origin, Record
from logsleuth.sources import Format, ParseContext

STDIN = "<stdin>"
_SAMPLE_LINES = 40
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_JOURNAL_MAGIC = b"LPKSHHRH"
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# Control bytes that never appear in text logs (TAB, LF, CR, FF, ESC and RS are fine).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27, 30))


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


def _no_parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    return iter(())


JOURNAL = Format("journal", lambda sample: None, _no_parse, description="native journal file (python-systemd)")


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
        first = b"".join(_limited(_inflate(_chunks(f, 1 << 16), kind, path, None), 512))
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
    blocks = _aligned(_decoded(stream, inp.name, opts, diag), opts.max_line, diag)
    first = next(blocks, b"")
    sample = split_lines(first[: 1 << 16])[:_SAMPLE_LINES]
    if opts.input_format:
        fmt, reason = sources.get(opts.input_format), "forced with --input-format"
    else:
        fmt, reason = sources.detect(sample)
    if fmt.name != "export" and _looks_binary(first):
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
    opened = Opened(path, sources.get(fmt_name), "range of a parallel scan", ctx, iter(()))
    opened.blocks = _counted(opened, _aligned(chunks(), opts.max_line, diag))
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


def _decoded(stream: IO[bytes] | int, name: str, opts: ReadOptions, diag: Diagnostics) -> Iterator[bytes]:
    chunks = _chunks(stream, opts.block_size)
    head = b""
    for chunk in chunks:
        head += chunk
        if not _maybe_magic(head):
            break  # stop as soon as the start cannot be a magic number: a pipe is never waited on
    kind = compression(head)
    raw = chain([head], chunks) if head else chunks
    return _inflate(raw, kind, name, diag) if kind else raw


def _maybe_magic(head: bytes) -> bool:
    """True while `head` is a proper prefix of a compression magic number (more bytes needed)."""
    return any(len(head) < len(m) and m.startswith(head) for m in _MAGIC)


def compression(head: bytes) -> str | None:
    """The compression that `head` (a file's first bytes) announces: gzip, bzip2, xz, zstd or None."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def _decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _decompress_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError)
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return errors
    return errors + (zstandard.ZstdError,)


def _inflate(chunks: Iterable[bytes], kind: str, name: str, diag: Diagnostics | None) -> Iterator[bytes]:
    """Decompress incrementally; concatenated members/streams continue; a fault ends the input
    after what was decoded so far and is reported as partial input."""
    d = _decompressor(kind)
    total = 0
    try:
        for chunk in chunks:
            while chunk:
                if d.eof:
                    d = _decompressor(kind)  # another gzip member / bzip2 stream follows
                out = d.decompress(chunk)
                total += len(out)
                if out:
                    yield out
                chunk = d.unused_data if d.eof else b""
                if not chunk.strip(b"\x00"):
                    chunk = b""  # zero padding after the last member (tape-style blocking)
    except _decompress_errors() as exc:
        _partial(diag, f"corrupt {kind} data after {total} bytes ({exc})", name)
        return
    if not d.eof:
        _partial(diag, f"truncated {kind} stream after {total} bytes", name)


def _partial(diag: Diagnostics | None, message: str, name: str) -> None:
    if diag is not None:
        diag.input_error(InputError(message, Location(name), partial=True))


def _aligned(chunks: Iterable[bytes], max_line: int, diag: Diagnostics) -> Iterator[bytes]:
    """Newline-aligned blocks; a line longer than max_line is cut to max_line (the rest is skipped,
    so memory stays bounded) and counted in diag.truncated_lines."""
    carry = b""
    skipping = False
    for chunk in chunks:
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk, skipping = chunk[nl + 1:], False
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        if block:
            yield _cut_long_lines(block, max_line, diag) if len(block) > max_line else block
        if len(carry) > max_line:
            diag.truncated_lines += 1
            yield carry[:max_line] + b"\n"
            carry, skipping = b"", True
    if carry:
        yield _cut_long_lines(carry, max_line, diag) if len(carry) > max_line else carry


def _cut_long_lines(block: bytes, max_line: int, diag: Diagnostics) -> bytes:
    if not _may_hold_long_line(block, max_line):
        return block
    lines = block.split(b"\n")
    out = []
    for line in lines:
        if len(line) > max_line:
            diag.truncated_lines += 1
            line = line[:max_line]
        out.append(line)
    return b"\n".join(out)


def _may_hold_long_line(block: bytes, max_line: int) -> bool:
    """Whether some line may exceed max_line, without splitting the block on the hot path.

    A line longer than max_line covers a whole window of max_line // 2 bytes aligned to that
    step, so a block where every such window holds a newline has no long line.
    """
    step = max(max_line // 2, 1)
    return any(block.find(b"\n", i, i + step) < 0 for i in range(0, len(block) - step + 1, step))


def _looks_binary(block: bytes) -> bool:
    sample = block[:8192]
    if not sample:
        return False
    # Text logs may hold a stray NUL or two; executables and compressed/random data are full of them.
    control = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return control * 20 > len(sample)


def _counted(opened: Opened, blocks: Iterator[bytes]) -> Iterator[bytes]:
    for block in blocks:
        opened.bytes_read += len(block)
        opened.lines_read += block.count(b"\n")
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
    try:
        from systemd import journal
    except ImportError:
        diag.input_error(InputError(
            "reading .journal files needs python-systemd: pip install 'logsleuth[journal]'",
            Location(inp.name)))
        return None
    try:
        reader = journal.Reader(files=[inp.path or inp.name], converters=_converters(journal))
    except OSError as exc:
        diag.input_error(InputError(f"not a readable journal file: {exc}", Location(inp.name)))
        return None
    ctx = ParseContext(path=inp.name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    opened = Opened(inp.name, JOURNAL, "native journal file (python-systemd)", ctx, iter(()))
    opened.records = _journal_records(reader, opened)
    return opened


def _converters(journal: Any) -> dict[str, Callable[[Any], Any]]:
    # Keep every value as raw bytes so all modes normalise alike; __REALTIME_TIMESTAMP as int µs
    # (the default converter gives a local-time datetime, formats.md §3 pitfalls).
    conv: dict[str, Callable[[Any], Any]] = {k: _identity for k in journal.DEFAULT_CONVERTERS}
    conv["__REALTIME_TIMESTAMP"] = int
    conv["__MONOTONIC_TIMESTAMP"] = lambda m: str(m[0])
    return conv


def _identity(value: Any) -> Any:
    return value


def _journal_records(reader: Any, opened: Opened) -> Iterator[Record]:
    from logsleuth.sources.journal_fields import record_from_fields

    with reader:
        for n, entry in enumerate(reader, 1):
            record = record_from_fields(entry, Origin(opened.name, n), "journal", "")
            record.raw = record.message
            opened.lines_read = n
            yield record
