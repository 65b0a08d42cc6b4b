"""Stage 2 on several cores: match a big plain file in entry-aligned byte ranges, in forked workers.

Only the matching runs in the workers; their hits come back in file order and the parent feeds
them to the one correlator, so windows that span two ranges are judged exactly as in one pass.
Workers are forked after the rules are compiled, so they inherit the engine (a hyperscan
database cannot be pickled) and start in milliseconds. Measured gains are in bench/README.md.
"""
from __future__ import annotations

import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterator, Sequence, TypeVar

from logsleuth.read import entries, inputs
from logsleuth.read.decompress import compression
from logsleuth.match.engine import Engine, Event, Hit, Tick, track_armed
from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.model import Origin
from logsleuth.read.formats import Format

MIN_SIZE = 32 << 20  # below this, starting workers costs more than it saves
RANGE_SIZE = 16 << 20  # small enough to bound what a worker holds, large enough to amortise
# Formats whose parse needs nothing from earlier lines: every line carries a full timestamp (or
# none), so a range can start anywhere. Year-less formats (`short`, RFC 3164) track the year
# across lines and stay on one core.
STATELESS = frozenset({
    "short-iso", "short-iso-precise", "short-full", "short-unix", "with-unit", "rfc3339", "rfc5424",
    "plain", "runner", "compose", "json", "json-seq", "json-sse",
})

T = TypeVar("T")
R = TypeVar("R")

_engine: Engine | None = None  # set in the parent before forking; workers inherit it


@dataclass(frozen=True)
class _Result:
    events: list[tuple[Any, ...]]
    lines: int
    bytes: int
    truncated: int
    warnings: list[str]
    errors: list[tuple[str, bool]]  # (message, partial): InputError does not pickle with its location


def eligible(opened: inputs.Opened, inp: inputs.Input, engine: Engine, jobs: int) -> bool:
    """Whether `opened` can be matched in parallel: a big, plain, seekable file of a stateless format."""
    if jobs < 2 or inp.kind != "file" or opened.format.name not in STATELESS or engine.always:
        return False
    if not can_fork():
        return False
    path = inp.path or inp.name
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return False
    return size >= MIN_SIZE and compression(head) is None


def can_fork() -> bool:
    """Whether workers can be forked: `"fork" in multiprocessing.get_all_start_methods()`, which is
    every platform but Windows, told without importing multiprocessing (socket, pickle, ctypes:
    a few ms of every one-line scan; it is imported only when a pool starts)."""
    return sys.platform != "win32" and hasattr(os, "fork")


def ranges(path: str, fmt: Format, size: int | None = None, fd: int | None = None) -> list[tuple[int, int]]:
    """Byte ranges of about `size` (default RANGE_SIZE) that each begin at an entry's head line."""
    own = fd is None
    handle = os.open(path, os.O_RDONLY) if fd is None else fd
    try:
        return cuts(lambda n, offset: os.pread(handle, n, offset), os.fstat(handle).st_size, fmt, size or RANGE_SIZE)
    finally:
        if own:
            os.close(handle)


def cuts(pread: Callable[[int, int], bytes], total: int, fmt: Format, size: int) -> list[tuple[int, int]]:
    """`ranges` over any `pread(size, offset)` of `total` bytes: an object in a store has no fd
    (match/cluster.py)."""
    points = [0]
    pos = size
    while pos < total:
        cut = _next_head(pread, pos, fmt)
        if cut is None or cut >= total:
            break
        if cut > points[-1]:
            points.append(cut)
        pos = cut + size
    points.append(total)
    return list(zip(points, points[1:]))


def _next_head(pread: Callable[[int, int], bytes], pos: int, fmt: Format) -> int | None:
    """Offset of the first line at or after `pos` that starts an entry (not a continuation)."""
    window = pread(1 << 20, pos)
    start = window.find(b"\n") + 1
    # A wrapped line is judged with the line above it: the first whole line of the window has
    # none here, so it is never taken as a head.
    first = start
    while 0 < start < len(window):
        end = window.find(b"\n", start)
        if (fmt.wrapped is None or start > first) and not entries.continues(window, start, fmt):
            return pos + start
        if end < 0:
            return None
        start = end + 1
    return None


def match(engine: Engine, opened: inputs.Opened, path: str, opts: inputs.ReadOptions, diag: Diagnostics,
          jobs: int) -> Iterator[Event]:
    """Engine events for a whole file, matched in `jobs` forked workers, in file order.

    The workers read the file through an fd the parent opened, so a file renamed or deleted
    mid-scan (log rotation) is still the one read; one gone before that is read on one core
    from the stream `opened` already holds.
    """
    global _engine
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield from engine.match(opened)
        return
    try:
        _engine = engine
        parts = [(path, opened.format.name, opts, start, end, fd)
                 for start, end in ranges(path, opened.format, fd=fd)]
        import multiprocessing  # here: a scan that starts no pool never imports it

        ctx = multiprocessing.get_context("fork")
        # A signal handled while the main thread forks would run inside fork's at-fork hooks
        # ("Exception ignored in _releaseLock" and a traceback): it waits until the pool exists.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(os.getpid(),))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        with pool:
            yield from _collect(ordered(pool, _work, parts, jobs), engine, opened, diag, parts)
    finally:
        os.close(fd)


def ordered(pool: Any, work: Callable[[T], R], tasks: Sequence[T], jobs: int) -> Iterator[R]:
    """`pool.imap(work, tasks)` with at most two tasks a worker in flight: workers running ahead of
    the parent (which correlates) would otherwise pile up results in its memory."""
    pending: deque[Any] = deque()
    queue = iter(tasks)
    for task in islice(queue, 2 * jobs):
        pending.append(pool.apply_async(work, (task,)))
    while pending:
        result = pending.popleft().get()
        for task in islice(queue, 1):
            pending.append(pool.apply_async(work, (task,)))
        yield result


def _collect(results: Iterator[_Result], engine: Engine, opened: inputs.Opened, diag: Diagnostics,
             parts: list[tuple[str, str, inputs.ReadOptions, int, int, int]]) -> Iterator[Event]:
    probes = engine.probes
    line_offset = 0
    # As one engine would hold it at this point of the file; failures of inputs before this file
    # (fanout.py sets them on the engine) may recover in its first range.
    armed: dict[str, set[str | None]] = {rule: set(hosts) for rule, hosts in engine._armed.items() if hosts}
    for k, result in enumerate(results):
        if armed and any(armed.values()):
            # Failures of the ranges before may recover early in this one, where its worker had no
            # reason to look: the parent looks, from the range's start, only for those.
            path, fmt_name, opts, start, end, fd = parts[k]
            fixup = inputs.open_range(path, fmt_name, start, end, opts, Diagnostics(), fd)
            for hits in engine.recoveries(fixup, armed):
                for h in hits:
                    o = h.record.origin
                    h.record.origin = Origin(opened.name, o.line + line_offset, o.span)
                track_armed(armed, hits)
                yield hits
        for event in result.events:
            if event[0] == "t":
                yield Tick(event[1])
                continue
            _, record, hits = event
            o = record.origin
            record.origin = Origin(opened.name, o.line + line_offset, o.span)
            found = tuple(Hit(probes[index], record, captures, context) for index, captures, context in hits)
            track_armed(armed, found)
            yield found
        line_offset += result.lines
        opened.lines_read += result.lines
        opened.has_content = opened.has_content or result.lines > 0
        opened.bytes_read += result.bytes
        diag.truncated_lines += result.truncated
        diag.warnings.extend(result.warnings)
        for message, partial in result.errors:
            diag.input_error(InputError(message, Location(opened.name), partial))
    # The parent's engine holds what is still waiting for a recovery, as after a one-core pass, for
    # the inputs after this file.
    engine.set_armed(armed)


_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _init_worker(parent: int) -> None:
    """A worker dies with its parent, and quietly: SIGTERM (sent by the kernel when the parent dies,
    even by SIGKILL, or by Pool.terminate) ends it without a traceback; Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked by the parent while it forked
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the parent's Pool still ends us
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _work(part: tuple[str, str, inputs.ReadOptions, int, int, int]) -> _Result:
    path, fmt_name, opts, start, end, fd = part
    engine = _engine
    assert engine is not None, "workers are forked from a parent that set the engine"
    index = {id(p): i for i, p in enumerate(engine.probes)}
    engine.forget_failures()  # this pool process may have matched another range before
    diag = Diagnostics()
    opened = inputs.open_range(path, fmt_name, start, end, opts, diag, fd)
    events: list[tuple[Any, ...]] = []
    for ev in engine.match(opened):
        if isinstance(ev, Tick):
            events.append(("t", ev.ts))
        else:  # one record, sent once, with each hit's probe by index (closures do not pickle)
            events.append(("h", ev[0].record, [(index[id(h.probe)], h.captures, h.context) for h in ev]))
    errors = [(e.message, e.partial) for e in diag.input_errors]
    # Budget warnings name the line within this range: the byte range says where it starts.
    slow = [f"{w} (in bytes {start}-{end})" for w in engine.slow]
    engine.slow.clear()
    return _Result(events, opened.lines_read, opened.bytes_read, diag.truncated_lines, diag.warnings + slow, errors)
