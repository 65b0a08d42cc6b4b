"""Read stage: the resumable cursor of a journal scan (--cursor-file), written atomically.

The cursor names the last entry *fully processed*: matched, correlated and any finding it made
handed on. Records are pulled lazily, so when the reader is asked for the record after a whole
batch of `commit_every` (the matcher's batch size; 1 when following), every record before it
has been processed. The file is replaced with a temp file + fsync + rename, so a kill at any
moment (SIGKILL included) leaves the old cursor or the new one, never half of one.
"""
from __future__ import annotations

import os
import tempfile
import time

from logsleuth.errors import InputError, Location

_MIN_INTERVAL = 0.5  # seconds between writes when committing after every record (follow mode)


def read_cursor(path: str) -> str | None:
    """The cursor stored in `path`; None when there is none yet. Raises InputError when unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(4096).strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read the cursor file: {exc.strerror}", Location(path)) from None
    return text or None


def write_cursor(path: str, cursor: str) -> None:
    """Replace `path` with `cursor` atomically (temp file in the same directory, fsync, rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cursor.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(cursor + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(directory)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: str) -> None:
    # The rename is durable once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Progress:
    """Which entry is known processed, and the cursor file that remembers it."""

    def __init__(self, path: str | None, commit_every: int) -> None:
        self.path = path
        self.commit_every = max(commit_every, 1)
        self.count = 0  # records handed on
        self.last: str | None = None  # cursor of the last record handed on
        self.done: str | None = None  # cursor of the last record known processed
        self._written: str | None = None
        self._written_at = 0.0
        self._shown = False  # a finding was printed since the last write

    def yielded(self, cursor: str | None) -> None:
        """A record with this cursor was handed on."""
        self.count += 1
        self.last = cursor

    def resume(self) -> None:
        """The consumer asks for the next record: after a whole batch, all before it are processed."""
        if self.count and self.count % self.commit_every == 0:
            self.done = self.last
            # Right after a printed finding, so a rerun does not print it again.
            self._commit(force=self.commit_every > 1 or self._shown)

    def shown(self) -> None:
        """A finding of the record being processed was printed (live)."""
        self._shown = True

    def idle(self) -> None:
        """No new entry for now (following): what was handed on is processed; remember it before waiting."""
        if self.count and self.commit_every == 1:
            self.done = self.last
        self._commit(force=True)

    def finish(self) -> None:
        """The scan ended normally: every record handed on was processed."""
        self.done = self.last
        self._commit(force=True)

    def stop(self) -> None:
        """The scan was cut short (a signal): remember only what is known processed."""
        self._commit(force=True)

    def _commit(self, force: bool) -> None:
        if self.path is None or self.done is None or self.done == self._written:
            return
        now = time.monotonic()
        if not force and now - self._written_at < _MIN_INTERVAL:
            return
        write_cursor(self.path, self.done)
        self._written, self._written_at, self._shown = self.done, now, False
