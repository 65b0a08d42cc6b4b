"""Stage 0, inputs: the byte streams under an input, as it is read: raw chunks as they arrive,
text decoded from a BOM's or a forced encoding, NUL bytes dropped, and the faults of each told
to Diagnostics as partial input (a file truncated while read, a tar member cut short).
"""
from __future__ import annotations

import os
import stat
from functools import partial
from itertools import chain
from typing import IO, Callable, Iterator

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.read.archives import with_tar_errors
from logsleuth.read.text import bom_encoding, maybe_bom, transcoded


def decoded(chunks: Iterator[bytes], encoding: str | None) -> Iterator[bytes]:
    """UTF-8 text: a forced encoding or a BOM's (UTF-8, UTF-16 LE/BE) decoded, the BOM removed before
    detection; anything else passed through as it is."""
    head = b""
    for chunk in chunks:
        head += chunk
        if not maybe_bom(head):
            break  # as in decompressed(): a pipe is never waited on
    raw = chain([head], chunks) if head else chunks
    encoding = encoding or bom_encoding(head)
    return transcoded(raw, encoding) if encoding else raw


def without_nuls(blocks: Iterator[bytes], nuls: int, name: str, diag: Diagnostics) -> Iterator[bytes]:
    """Blocks without NUL bytes (holes a crash leaves in a syslog file), counted in one warning."""
    try:
        for block in blocks:
            if b"\x00" in block:
                nuls += block.count(b"\x00")
                block = block.replace(b"\x00", b"")
            yield block
    finally:
        if nuls:
            diag.warn(f"{nuls} NUL byte(s) ignored", Location(name))


def chunks(stream: IO[bytes] | int, size: int, name: str = "<stdin>",
           diag: Diagnostics | None = None) -> Iterator[bytes]:
    """Raw chunks as soon as they arrive: os.read on a pipe returns what is there, never waits to fill.

    A regular file that ends before the size it had when opened was truncated while read (a
    `copytruncate` rotation); a tar member that ends early is a truncated archive: both partial.
    """
    read: Callable[[], bytes]
    if isinstance(stream, int):
        read = partial(os.read, stream, size)
    else:
        read = partial(stream.read, size)
    expected = _regular_size(stream)
    got = 0
    try:
        while True:
            chunk = read()
            if not chunk:
                break
            got += len(chunk)
            yield chunk
        if diag is not None and expected is not None and got < expected:
            diag.input_error(InputError(f"file shrank while it was read (rotated?): {got} of {expected} bytes read",
                                        Location(name), partial=True))
    except with_tar_errors(OSError, EOFError) as exc:
        if diag is not None:
            msg = getattr(exc, "strerror", None) or str(exc)
            diag.input_error(InputError(f"read stopped after {got} bytes: {msg}", Location(name), partial=True))
    finally:
        if not isinstance(stream, int):
            stream.close()


def _regular_size(stream: IO[bytes] | int) -> int | None:
    """The bytes left to read in a regular file (stdin may be one, read from its current offset)."""
    try:
        fd = stream if isinstance(stream, int) else stream.fileno()
        st = os.fstat(fd)
        return st.st_size - os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(st.st_mode) else None
    except (OSError, AttributeError, ValueError):  # a tar member has no fd of its own
        return None
