"""Stage 0, inputs: the members of a tar archive (plain or compressed), each read once, in one pass.

A compressed tar is inflated once into an unlinked temporary file (under the same output budget
as any compressed input), then read with random access: tarfile on a gzip stream seeks backwards
for every member and re-inflates the archive from its start (4,000 members: 51 s, quadratic).
Members are listed up to a truncation or a corrupt header (those before it are kept), and a name
that occurs twice keeps both (`name#2`).
"""
from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, cast

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.read.decompress import Budget, compression, inflate
from logsleuth.read.text import printable

if TYPE_CHECKING:
    import tarfile

_SPOOL_CHUNK = 1 << 20


def with_tar_errors(*kinds: type[Exception]) -> tuple[type[Exception], ...]:
    """`kinds`, plus tarfile's TarError once tarfile is loaded: what the readers' `except` clauses
    catch. tarfile (shutil, bz2 and lzma under it) is imported only when a tar is read (`_open`),
    and until then nothing can raise its errors."""
    tar = sys.modules.get("tarfile")
    return (*kinds, tar.TarError) if tar is not None else kinds


@dataclass(frozen=True)
class Member:
    """One regular file of an archive: its (printable, de-duplicated) name and how to open it."""

    name: str
    archive: tarfile.TarFile
    info: tarfile.TarInfo

    def open(self) -> IO[bytes] | None:
        fileobj = self.archive.fileobj
        if self.info.sparse is not None or fileobj is None:
            return self.archive.extractfile(self.info)
        # extractfile() raises on a short read and loses the piece it read; a slice of the
        # archive yields a truncated member's bytes up to the truncation.
        return cast(IO[bytes], _Slice(cast(IO[bytes], fileobj), self.info.offset_data, self.info.size))


class _Slice(io.RawIOBase):
    """`size` bytes of `fileobj` from `offset`, or fewer when the archive ends before them."""

    def __init__(self, fileobj: IO[bytes], offset: int, size: int) -> None:
        self._f, self._pos, self._end = fileobj, offset, offset + size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._pos
        if size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        try:
            # pread, not seek and read: forked workers share the file's offset with the parent.
            data = os.pread(self._f.fileno(), size, self._pos)
        except (AttributeError, io.UnsupportedOperation):  # an archive in memory has no fd
            self._f.seek(self._pos)
            data = self._f.read(size)
        self._pos += len(data)
        if not data:
            raise EOFError(f"archive truncated: {self._end - self._pos} byte(s) of the member missing")
        return data


def is_tar(path: str, head: bytes) -> bool:
    """Whether the file whose first bytes are `head` is a tar archive, compressed or not."""
    if head[257:262] == b"ustar":
        return True
    kind = compression(head)
    if kind is None:
        return False
    with open(path, "rb") as f:
        first = b""
        # Small pieces: a tar header is in the first 512 bytes, and each piece is inflated whole.
        for piece in inflate(iter(lambda: f.read(1 << 10), b""), kind, path, None):
            first += piece
            if len(first) >= 512:
                break
    return first[257:262] == b"ustar"


def members(path: str, head: bytes, diag: Diagnostics, budget: Budget) -> list[Member]:
    """The regular-file members of the tar at `path`, in archive order, named `name`, `name#2`, ..."""
    where = Location(printable(path))
    try:
        archive = _open(path, head, diag, budget)
    except with_tar_errors(OSError, EOFError) as exc:
        diag.input_error(InputError(f"cannot read archive: {exc}", where, partial=True))
        return []
    found: list[Member] = []
    seen: dict[str, int] = {}
    try:
        while (info := archive.next()) is not None:
            if not info.isfile():
                continue
            n = seen[info.name] = seen.get(info.name, 0) + 1
            name = printable(info.name if n == 1 else f"{info.name}#{n}")
            found.append(Member(name, archive, info))
    except with_tar_errors(OSError, EOFError) as exc:
        diag.input_error(InputError(f"archive unreadable after {len(found)} member(s): {exc}", where, partial=True))
    return found


def _open(path: str, head: bytes, diag: Diagnostics, budget: Budget) -> tarfile.TarFile:
    import tarfile  # here, not at the top: a scan of plain files never loads it (with_tar_errors)
    import tempfile

    kind = compression(head)
    if kind is None:
        return tarfile.open(path, "r:")
    # Unlinked at once: nothing is left behind, even after a kill.
    spool = tempfile.TemporaryFile(prefix="logsleuth-")
    with open(path, "rb") as f:
        for piece in inflate(iter(lambda: f.read(_SPOOL_CHUNK), b""), kind, printable(path), diag, budget):
            spool.write(piece)
    spool.seek(0)
    return tarfile.open(fileobj=spool, mode="r:")
