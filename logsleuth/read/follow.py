"""Read stage: records of a followed stream (a pipe from `journalctl -f`), handed on without waiting.

A multi-line format cannot know an entry is complete until the next line arrives, which on a
followed stream may take minutes. Here the lines are parsed in bursts: when no new input has
arrived for IDLE seconds, the burst ends, the parser hands on the entry it holds, and parsing goes
on with the next burst in the same context (line numbers, year rollover). Continuation lines that
arrive later than that start an entry of their own.
"""
from __future__ import annotations

import queue
import select
import threading
import time
from typing import Callable, Iterable, Iterator, TypeVar

from logsleuth.model import Record
from logsleuth.read.inputs import Opened, split_lines

IDLE = 0.2  # seconds without new input before the last entry is handed on
T = TypeVar("T")
_END = object()


def records(opened: Opened, fd: int, idle: float = IDLE) -> Iterator[Record]:
    """Every record of `opened`, whose raw input is read from file descriptor `fd`, each as soon as it is complete
    or the input has been quiet for `idle` seconds."""
    blocks = iter(opened.blocks)
    ended = [False]
    while not ended[0]:
        yield from opened.format.parse(_burst(blocks, fd, idle, ended), opened.ctx)


def _burst(blocks: Iterator[bytes], fd: int, idle: float, ended: list[bool]) -> Iterator[bytes]:
    # The burst's first block is waited for as long as it takes: nothing is held back meanwhile.
    first = True
    while True:
        if not first and not _readable(fd, idle):
            return
        block = next(blocks, None)
        if block is None:
            ended[0] = True
            return
        first = False
        yield from split_lines(block)


def _readable(fd: int, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):
        return True  # not selectable (a closed or odd descriptor): just read on
    return bool(ready)


def with_idle(items: Iterable[T], interval: float, on_idle: Callable[[float], T | None]) -> Iterator[T]:
    """`items`, and while none comes for `interval` seconds, what `on_idle(seconds quiet)` gives.

    `items` is pulled in a thread of its own, one at a time: the next is pulled only once the
    consumer is done with the one before (it asks for more), exactly as without the thread, so
    whoever counts on lazy pulling (the cursor file, cursor.py) still may.
    """
    handed: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=1)
    done = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                handed.put((item, None))
                done.wait()
                done.clear()
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            handed.put((_END, exc))
            return
        handed.put((_END, None))

    threading.Thread(target=produce, name="logsleuth-follow", daemon=True).start()
    quiet_since = time.monotonic()
    while True:
        try:
            item, error = handed.get(timeout=interval)
        except queue.Empty:
            extra = on_idle(time.monotonic() - quiet_since)
            if extra is not None:
                yield extra
            continue
        if item is _END:
            if error is not None:
                raise error
            return
        yield item  # type: ignore[misc]
        quiet_since = time.monotonic()
        done.set()
