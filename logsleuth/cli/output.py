"""What the CLI writes (CLI edge): report files whole or not at all, and stderr with secrets masked.

Reports are written to a temp file beside the target, fsynced and renamed.
A kill or a full disk while a report is written leaves the previous report (or none), never a
0-byte or half-written one that a CI job would upload as if it were the result. A kill -9 may
leave the hidden temp file (`.NAME.XXXX.tmp`) beside it: nothing can remove it then.
"""
from __future__ import annotations

import contextlib
import io
import os
import stat
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from logsleuth.report.redact import Redactor


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str, text: str) -> None:
    """Replace the file at `path` with `text` (UTF-8) in one rename. Raises OSError."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # /dev/stdout, a FIFO, /dev/null: there is no file to replace, only a stream to write.
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    target = os.path.realpath(path)  # through a symlink: the file it names is replaced, the link stays
    directory = os.path.dirname(target)
    import tempfile  # here: every command imports this module, few write a file

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600; a report gets the mode the replaced file had, or what open() would give.
        os.chmod(tmp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory is on disk too.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class RedactedStream(io.TextIOBase):
    """A text stream that masks secrets line by line before they reach `inner` (stderr: every
    warning, error and usage message, whoever prints it; a URL with a password in an error too)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self._made: Redactor | None = None
        self._partial = ""

    @property
    def _redactor(self) -> Redactor:
        # Made at the first line written: `--help`, `--version` and a quiet run write none, and
        # need not import the redactor's patterns (report/redact.py, report/shapes.py: ~10 ms).
        if self._made is None:
            from logsleuth.report.redact import Redactor

            self._made = Redactor()
        return self._made

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self.inner.write("".join(self._redactor.line(line) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.inner.write(self._redactor.text(self._partial))
            self._partial = ""
        self.inner.flush()
