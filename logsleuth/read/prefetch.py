"""Stage 0, inputs: inflate a compressed file in a thread, ahead of the matching that reads it.

zlib, bz2, lzma and zstd release the GIL while they inflate, so on two cores a .gz is
decompressed while the engine matches the piece before (200 MB of gzip: the scan's wall time
drops from inflate + match towards the larger of the two; bench/bench_fast.py's .gz row).
The thread reports to a Diagnostics of its own; what it says travels in the queue between the
pieces it came after, so the reader's Diagnostics gets every warning and error in the order a
reader without a thread would have given them (reports are byte-identical with and without it).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from logsleuth.errors import Diagnostics, InputError

# Off in a worker of a parallel scan (match/fanout.py): there every core already has a worker, and
# a second thread per process only adds hand-offs (1 GB batch tree, -j 2: 2.6 s with, 2.4 s without).
enabled = True
_DEPTH = 4  # pieces of at most decompress.PIECE (1 MiB) waiting: bounded memory ahead of the reader
_END = object()


class _Said:
    """What the thread's Diagnostics gained since the last piece."""

    __slots__ = ("errors", "warnings", "truncated")

    def __init__(self, errors: list[InputError], warnings: list[str], truncated: int) -> None:
        self.errors, self.warnings, self.truncated = errors, warnings, truncated


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def ahead(produce: Callable[[Diagnostics], Iterator[bytes]], diag: Diagnostics) -> Iterator[bytes]:
    """The pieces `produce(thread_diag)` yields, made in a thread up to _DEPTH pieces ahead.

    Closing the iterator early (`| head`, an interrupted scan) stops the thread at its next piece.
    """
    if not enabled:
        return produce(diag)
    return _threaded(produce, diag)


def _threaded(produce: Callable[[Diagnostics], Iterator[bytes]], diag: Diagnostics) -> Iterator[bytes]:
    import queue  # here: only a compressed file read ahead needs them, not every scan
    import threading

    pieces: queue.Queue[object] = queue.Queue(_DEPTH)
    stop = threading.Event()
    mine = Diagnostics()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pieces.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def said(seen: list[int]) -> _Said | None:
        errors, warnings = mine.input_errors[seen[0]:], mine.warnings[seen[1]:]
        truncated = mine.truncated_lines - seen[2]
        if not errors and not warnings and not truncated:
            return None
        seen[:] = [len(mine.input_errors), len(mine.warnings), mine.truncated_lines]
        return _Said(errors, warnings, truncated)

    def run() -> None:
        seen = [0, 0, 0]
        try:
            for piece in produce(mine):
                told = said(seen)
                if (told is not None and not put(told)) or not put(piece):
                    return
            told = said(seen)
            if told is not None:
                put(told)
            put(_END)
        except BaseException as exc:  # handed to the reader, raised there as it would have been
            put(_Failed(exc))

    thread = threading.Thread(target=run, name="logsleuth-inflate", daemon=True)
    thread.start()
    try:
        while True:
            item = pieces.get()
            if item is _END:
                return
            if isinstance(item, _Said):
                diag.input_errors.extend(item.errors)
                diag.warnings.extend(item.warnings)
                diag.truncated_lines += item.truncated
            elif isinstance(item, _Failed):
                raise item.exc
            else:
                yield cast(bytes, item)
    finally:
        stop.set()
        thread.join()
