"""Stage 0, inputs: undo gzip, bzip2, xz or zstd compression, chosen by magic bytes, incrementally.

Streams are inflated chunk by chunk, so stdin is never read ahead and a truncated or corrupt
archive still yields what came before the fault (reported to Diagnostics as partial input).
Every decompressor is asked for a bounded piece of output at a time, and an input that inflates
past its budget (`Budget`: a ratio beyond a floor) is ended there as partial input: a few MB of
gzip can hold many GB of one repeated line or of newlines, and nothing downstream should see them.
"""
from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any, Generator, Iterable, Iterator

from logsleuth.errors import Diagnostics, InputError, Location

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
PIECE = 1 << 20  # most output one decompress call may return (a bomb never lands in memory whole)
# zstd's decompressobj takes no output bound: its input is fed in slices small enough that even
# run-length blocks (128 KiB from a few bytes) keep one call's output to a few MiB.
_ZSTD_SLICE = 256


@dataclass(frozen=True)
class Budget:
    """How far one input may inflate: past `floor` output bytes, at most `ratio` times its input.

    Real logs compress 5-20x (measured: runner logs 12x, journal exports 9x with gzip -9); a bomb
    is 1,000x (gzip's limit) or more. Below the floor any ratio is allowed, so small files of one
    repeated line are read whole. `limit` caps the output whatever the ratio: a bomb of many GB of
    input stays under any ratio a real log reaches, and still must end (default 64 GiB, beyond
    every real log we measured: a 2 GB gzip of runner logs is about 24 GB).
    """

    ratio: int = 100
    floor: int = 1 << 30
    limit: int = 64 << 30

    def exceeded(self, consumed: int, produced: int) -> bool:
        return produced > self.limit or (produced > self.floor and produced > self.ratio * max(consumed, 1))

    def why(self, consumed: int, produced: int) -> str:
        """Which bound `exceeded` crossed, said for a warning."""
        if produced > self.limit:
            return f"inflates past {_size(self.limit)} (--max-decompressed)"
        return f"inflates more than {self.ratio}x past {_size(self.floor)} (a decompression bomb?)"


def compression(head: bytes) -> str | None:
    """The compression that `head` (a file's first bytes) announces: gzip, bzip2, xz, zstd or None."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def decompressed(chunks: Iterator[bytes], name: str, diag: Diagnostics,
                 budget: Budget = Budget()) -> Iterator[bytes]:
    """`chunks` inflated when they start with a compression magic number, else passed through."""
    head = b""
    for chunk in chunks:
        head += chunk
        if not _maybe_magic(head):
            break  # stop as soon as the start cannot be a magic number: a pipe is never waited on
    kind = compression(head)
    raw = chain([head], chunks) if head else chunks
    return inflate(raw, kind, name, diag, budget) if kind else raw


def _maybe_magic(head: bytes) -> bool:
    """True while `head` is a proper prefix of a compression magic number (more bytes needed)."""
    return any(len(head) < len(m) and m.startswith(head) for m in _MAGIC)


@lru_cache(maxsize=1)
def gzip_inflater() -> Any:
    """The zlib-compatible module gzip is inflated with: ISA-L's (PyPI `isal`, where it has wheels)
    or the stdlib's zlib. ISA-L inflates the bench corpus at 1,000 MB/s against zlib's 440 MB/s
    (50 MB of short-iso gzipped at level 6), and gzip is most of what an archived tree holds."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


def _decompressor(kind: str) -> Any:
    if kind == "gzip":
        return gzip_inflater().decompressobj(wbits=31)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _decompress_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (zlib.error, gzip_inflater().error, lzma.LZMAError, OSError, EOFError,
                                               ValueError)
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return errors
    return errors + (zstandard.ZstdError,)


class BudgetExceeded(Exception):
    """Raised inside `inflate` when the output budget is spent; never leaves this module."""


def inflate(chunks: Iterable[bytes], kind: str, name: str, diag: Diagnostics | None,
            budget: Budget = Budget()) -> Iterator[bytes]:
    """Decompress incrementally; concatenated members/streams continue; a fault or a spent budget
    ends the input after what was decoded so far and is reported as partial input (when `diag` is given)."""
    d = _decompressor(kind)
    consumed = produced = 0
    try:
        for chunk in chunks:
            consumed += len(chunk)
            while chunk:
                if d.eof:
                    d = _decompressor(kind)  # another gzip member / bzip2 stream follows
                pieces = _pieces(d, kind, chunk)
                while True:
                    try:
                        out = next(pieces)
                    except StopIteration as stop:
                        chunk = stop.value
                        break
                    produced += len(out)
                    if budget.exceeded(consumed, produced):
                        raise BudgetExceeded
                    yield out
                if not chunk.strip(b"\x00"):
                    chunk = b""  # zero padding after the last member (tape-style blocking)
    except BudgetExceeded:
        _partial(diag, f"{kind} data {budget.why(consumed, produced)}: read stopped after {_size(produced)}", name)
        return
    except _decompress_errors() as exc:
        _partial(diag, f"corrupt {kind} data after {produced} bytes ({exc})", name)
        return
    if not d.eof:
        _partial(diag, f"truncated {kind} stream after {produced} bytes", name)


def _pieces(d: Any, kind: str, data: bytes) -> Generator[bytes, None, bytes]:
    """The output of `data`, about PIECE bytes at most at a time; returns the input left after `d` ended."""
    if kind == "zstd":
        for i in range(0, len(data), _ZSTD_SLICE):
            out = d.decompress(data[i:i + _ZSTD_SLICE])
            if out:
                yield out
            if d.eof:
                return bytes(d.unused_data) + data[i + _ZSTD_SLICE:]
        return b""
    if kind == "gzip":
        while data:
            out = d.decompress(data, PIECE)
            if out:
                yield out
            data = b"" if d.eof else d.unconsumed_tail
    else:
        out = d.decompress(data, PIECE)
        while True:
            if out:
                yield out
            if d.eof or d.needs_input:
                break
            out = d.decompress(b"", PIECE)
    return bytes(d.unused_data) if d.eof else b""


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _partial(diag: Diagnostics | None, message: str, name: str) -> None:
    if diag is not None:
        diag.input_error(InputError(message, Location(name), partial=True))
