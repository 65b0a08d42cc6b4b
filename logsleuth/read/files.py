"""Stage 0, inputs: what kind of file a path names, and opening it without hanging on a FIFO.

A FIFO in a scanned directory would block the scan forever, `/dev/zero` never ends and a socket
cannot be opened: only regular files are read from directories, and the same checks guard
`--rules` and `--template` paths (`read_regular`, used by ruleset/ and report/).
"""
from __future__ import annotations

import os
import stat

from logsleuth.errors import LogsleuthError, Location
from logsleuth.read.text import printable

_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def kind_of(mode: int) -> str:
    """`a named pipe`, `a character device`, ... for a stat mode; `a regular file` otherwise."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a regular file"


def open_regular(path: str) -> tuple[int, int]:
    """An fd open on the regular file `path`, and its size. O_NONBLOCK: a path swapped for a FIFO
    after it was checked fails the fstat test instead of blocking the open.

    Raises OSError, and LogsleuthError when `path` is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LogsleuthError(f"not read: {kind_of(st.st_mode)}, not a regular file", Location(printable(path)))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_regular(path: str, limit: int, what: str = "file",
                 error: type[LogsleuthError] = LogsleuthError) -> bytes:
    """The bytes of the regular file `path` (a rule file, a template), refusing FIFOs, devices and
    sockets and anything larger than `limit` bytes, each with `error` located at `path`.

    `/dev/zero` as a rule file is refused at once instead of filling memory; a FIFO never blocks.
    """
    where = Location(printable(path))
    try:
        fd, size = open_regular(path)
    except LogsleuthError as exc:
        raise error(f"{what} {exc.message}", where) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where) from None
    with os.fdopen(fd, "rb") as fh:
        if size > limit:
            raise error(f"{what} too large: {size} bytes (larger than {_size(limit)})", where)
        data = fh.read(limit + 1)  # the size may have grown since fstat
    if len(data) > limit:
        raise error(f"{what} too large: more than {limit} bytes (larger than {_size(limit)})", where)
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n and n % (1 << 20) == 0 else f"{n} bytes"
