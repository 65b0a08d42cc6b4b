"""Stage 0, inputs: undo gzip, bzip2, xz or zstd compression, chosen by magic bytes, incrementally.

Streams are inflated chunk by chunk, so stdin is never read ahead and a truncated or corrupt
archive still yields what came before the fault (reported to Diagnostics as partial input).
"""
from __future__ import annotations

import bz2
import lzma
import zlib
from itertools import chain
from typing import Any, Iterable, Iterator

from logsleuth.errors import Diagnostics, InputError, Location

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression(head: bytes) -> str | None:
    """The compression that `head` (a file's first bytes) announces: gzip, bzip2, xz, zstd or None."""
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def decompressed(chunks: Iterator[bytes], name: str, diag: Diagnostics) -> Iterator[bytes]:
    """`chunks` inflated when they start with a compression magic number, else passed through."""
    head = b""
    for chunk in chunks:
        head += chunk
        if not _maybe_magic(head):
            break  # stop as soon as the start cannot be a magic number: a pipe is never waited on
    kind = compression(head)
    raw = chain([head], chunks) if head else chunks
    return inflate(raw, kind, name, diag) if kind else raw


def _maybe_magic(head: bytes) -> bool:
    """True while `head` is a proper prefix of a compression magic number (more bytes needed)."""
    return any(len(head) < len(m) and m.startswith(head) for m in _MAGIC)


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


def inflate(chunks: Iterable[bytes], kind: str, name: str, diag: Diagnostics | None) -> Iterator[bytes]:
    """Decompress incrementally; concatenated members/streams continue; a fault ends the input
    after what was decoded so far and is reported as partial input (when `diag` is given)."""
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
