"""Stage 2 on several cores: match a big plain file in entry-aligned byte ranges, in forked workers.

Only the matching runs in the workers; their hits come back in file order and the parent feeds
them to the one correlator, so windows that span two ranges are judged exactly as in one pass.
Workers are forked after the rules are compiled, so they inherit the engine (a hyperscan
database cannot be pickled) and start in milliseconds. Measured gains are in bench/README.md.
"""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from typing import IO, Any, Iterator

from logsleuth.read import entries, inputs
from logsleuth.read.decompress import compression
from logsleuth.match.engine import Engine, Event, Hit, Tick
from logsleuth.errors import Diagnostics
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

_engine: Engine | None = None  # set in the parent before forking; workers inherit it


@dataclass(frozen=True)
class _Result:
    events: list[tuple[Any, ...]]
    lines: int
    bytes: int
    truncated: int
    warnings: list[str]


def eligible(opened: inputs.Opened, inp: inputs.Input, engine: Engine, jobs: int) -> bool:
    """Whether `opened` can be matched in parallel: a big, plain, seekable file of a stateless format."""
    if jobs < 2 or inp.kind != "file" or opened.format.name not in STATELESS or engine.always:
        return False
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    path = inp.path or inp.name
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return False
    return size >= MIN_SIZE and compression(head) is None


def ranges(path: str, fmt: Format, size: int | None = None) -> list[tuple[int, int]]:
    """Byte ranges of about `size` (default RANGE_SIZE) that each begin at an entry's head line."""
    size = size or RANGE_SIZE
    total = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as fh:
        pos = size
        while pos < total:
            cut = _next_head(fh, pos, fmt)
            if cut is None or cut >= total:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
            pos = cut + size
    cuts.append(total)
    return list(zip(cuts, cuts[1:]))


def _next_head(fh: IO[bytes], pos: int, fmt: Format) -> int | None:
    """Offset of the first line at or after `pos` that starts an entry (not a continuation)."""
    fh.seek(pos)
    window = fh.read(1 << 20)
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
    """Engine events for a whole file, matched in `jobs` forked workers, in file order."""
    global _engine
    _engine = engine
    probes = engine.probes
    parts = [(path, opened.format.name, opts, start, end) for start, end in ranges(path, opened.format)]
    ctx = multiprocessing.get_context("fork")
    line_offset = 0
    with ctx.Pool(jobs) as pool:
        for result in pool.imap(_work, parts):
            for event in result.events:
                if event[0] == "t":
                    yield Tick(event[1])
                    continue
                _, record, hits = event
                o = record.origin
                record.origin = Origin(opened.name, o.line + line_offset, o.span)
                yield tuple(Hit(probes[index], record, captures, context) for index, captures, context in hits)
            line_offset += result.lines
            opened.lines_read += result.lines
            opened.has_content = opened.has_content or result.lines > 0
            opened.bytes_read += result.bytes
            diag.truncated_lines += result.truncated
            diag.warnings.extend(result.warnings)


def _work(part: tuple[str, str, inputs.ReadOptions, int, int]) -> _Result:
    path, fmt_name, opts, start, end = part
    engine = _engine
    assert engine is not None, "workers are forked from a parent that set the engine"
    index = {id(p): i for i, p in enumerate(engine.probes)}
    diag = Diagnostics()
    opened = inputs.open_range(path, fmt_name, start, end, opts, diag)
    events: list[tuple[Any, ...]] = []
    for ev in engine.match(opened):
        if isinstance(ev, Tick):
            events.append(("t", ev.ts))
        else:  # one record, sent once, with each hit's probe by index (closures do not pickle)
            events.append(("h", ev[0].record, [(index[id(h.probe)], h.captures, h.context) for h in ev]))
    return _Result(events, opened.lines_read, opened.bytes_read, diag.truncated_lines, diag.warnings)
