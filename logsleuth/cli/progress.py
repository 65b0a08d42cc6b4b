"""CLI edge: the progress line of a batch scan on stderr (files done/total, bytes, rate, ETA, findings).

Shown only when stderr is a terminal and neither -q, --no-progress nor --live is given, so a pipe,
a CI log or a redirected stderr never gets carriage returns. tqdm draws it: it is small, pure
Python, keeps rate and ETA itself, throttles redraws (`mininterval`) and can clear the line for
other stderr output (`external_write_mode`); rich would pull in Pygments and markdown-it for one
line, and click's own bar has no rate or byte units.

Bytes are on-disk bytes: a finished file counts its size, the file being read counts what was
read of it, capped at its size (a compressed file inflates past it). An archive is one file.
"""
from __future__ import annotations

import os
import stat
import sys
import threading
from typing import IO, Any, Callable, Sequence

_POLL_SECONDS = 0.25  # how often the reader thread looks at the bytes read so far


def wanted(stream: IO[str], quiet: bool, disabled: bool, live: bool) -> bool:
    """Whether to draw progress on `stream`: a terminal, and nobody asked for silence."""
    return not (quiet or disabled or live) and stream.isatty()


def plan(paths: Sequence[str], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> dict[str, int]:
    """The regular files a scan of `paths` will read, with their sizes (what the progress counts to)."""
    from logsleuth.errors import Diagnostics
    from logsleuth.read.inputs import ReadOptions, walk

    opts = ReadOptions(include=tuple(include), exclude=tuple(exclude))
    sizes: dict[str, int] = {}
    for path in paths:
        if path == "-":
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            continue
        # The scan's own walk (its warnings are the scan's to give, not the plan's).
        for found in walk(path, opts, Diagnostics()) if is_dir else [path]:
            try:
                st = os.stat(found)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                sizes[found] = st.st_size
    return sizes


class Progress:
    """One tqdm bar fed by the pipeline's callbacks (on_open, on_finding) and a polling thread."""

    def __init__(self, sizes: dict[str, int], stream: IO[str]) -> None:
        from tqdm import tqdm

        self._sizes = sizes
        self._names = {_printable_key(p): p for p in sizes}
        self._done_bytes = 0
        self._done_files = 0
        self._current: Any = None  # the Opened being read
        self._current_file: str | None = None
        self.findings = 0
        # A terminal that reports no width (a bare pty, some serial consoles) would get an empty line.
        width = _columns(stream)
        self._bar = tqdm(total=sum(sizes.values()), unit="B", unit_scale=True, unit_divisor=1024, file=stream,
                         desc="scanning", leave=False, mininterval=_POLL_SECONDS, dynamic_ncols=width > 0,
                         ncols=None if width > 0 else 100, postfix=f"files 0/{len(sizes)}, 0 findings")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="logsleuth-progress", daemon=True)
        self._thread.start()

    def on_open(self, opened: Any) -> None:
        """A new input is being read: an archive's members belong to the archive's file."""
        outer = opened.name.partition("!")[0]
        if outer != self._current_file:
            self._finish_file()
            self._current_file = outer
        self._current = opened

    def on_finding(self, finding: Any) -> None:
        self.findings += 1

    def write(self, show: Callable[[], None]) -> None:
        """Run `show` (something that prints to stderr) with the bar out of the way."""
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self._bar.fp):
            show()

    def close(self) -> None:
        """Draw the final state, then clear the line for the report."""
        self._stop.set()
        self._thread.join()
        self._finish_file()
        self._advance()
        self._bar.refresh()
        self._bar.close()

    def _finish_file(self) -> None:
        if self._current_file is not None:
            self._done_files += 1
            self._done_bytes += self._sizes.get(self._names.get(self._current_file, ""), 0)
        self._current_file, self._current = None, None

    def _read_bytes(self) -> int:
        opened, name = self._current, self._current_file
        if opened is None or name is None:
            return self._done_bytes
        size = self._sizes.get(self._names.get(name, ""), 0)
        return self._done_bytes + min(getattr(opened, "bytes_read", 0), size)

    def _advance(self) -> None:
        done = min(self._read_bytes(), self._bar.total)
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)
        self._update_postfix()

    def _update_postfix(self) -> None:
        self._bar.set_postfix_str(f"files {self._done_files}/{len(self._sizes)}, "
                                  f"{self.findings} finding{'s' if self.findings != 1 else ''}", refresh=False)

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            self._advance()


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _printable_key(path: str) -> str:
    # Inputs are named as printed (control characters escaped, read/text.py): key the plan the same way.
    from logsleuth.read.text import printable

    return printable(path)


def start(paths: Sequence[str], include: Sequence[str], exclude: Sequence[str]) -> Progress | None:
    """A Progress on stderr for a scan of `paths`, or None when there is no file to count."""
    sizes = plan(paths, include, exclude)
    # Past the redacting stderr (cli/output.py): it holds text until a newline, and the bar redraws
    # with carriage returns; the line holds only counts, never log text, so nothing needs masking.
    stream: IO[str] = getattr(sys.stderr, "inner", sys.stderr)
    return Progress(sizes, stream) if sizes else None


def hooks(progress: Progress | None, on_open: Callable[[Any], None] | None,
          on_finding: Callable[[Any], None] | None) -> tuple[Callable[[Any], None] | None, Callable[[Any], None] | None]:
    """The pipeline's callbacks with the progress line fed too (and -v's lines printed around it)."""
    if progress is None:
        return on_open, on_finding
    bar = progress

    def opened(o: Any) -> None:
        bar.on_open(o)
        if on_open is not None:
            bar.write(lambda: on_open(o))

    def found(f: Any) -> None:
        bar.on_finding(f)
        if on_finding is not None:
            bar.write(lambda: on_finding(f))

    return opened, found
