"""Stage 2 on several cores across inputs: files and archive members read and matched in forked
workers, their events handed back in input order.

The workers do what costs (decompressing, parsing, the scanner); the parent feeds their events to
the one correlator and collector in the order a single process reads the inputs, so `-j N` gives
the same report as `-j 1`: counts, first/last seen, fingerprints, evidence order, incidents and
the order of warnings (the ones found while listing inputs are replayed at the input they came
before). Windows and sequences therefore run per host in event-time order across rotation
boundaries (`syslog.2.gz`, `syslog.1`, `syslog`, ordered by read/inputs.py) exactly as before.

One thing a worker cannot know is which failures earlier inputs left waiting for a recovery line:
it matches each input with no failure armed, and the parent, when failures are armed, looks for
their first recovery in that input itself (Engine.recoveries) and merges those hits in line order.
Big plain files, the journal, stdin and pipes stay in the parent (parallel.py splits a big file).
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.match import parallel
from logsleuth.match.engine import Engine, Event, Hit, Hits, Tick, track_armed
from logsleuth.read import inputs, prefetch
from logsleuth.read.decompress import compression
from logsleuth.read.formats import get as get_format
from logsleuth.read.formats.base import ParseContext

_FANNED = frozenset({"file", "member", "archive"})
_STATE_KEYS = ("warnings", "clock.how")  # what the pipeline and `-v` read from an input's ctx.state

# Set in the parent before forking; workers inherit them (compiled rules and tar member openers
# do not pickle).
_engine: Engine | None = None
_inputs: list[inputs.Input] = []
_read: inputs.ReadOptions | None = None


@dataclass
class Matched(inputs.Opened):
    """An input a worker has read and matched: its summary, and its events, ready for the correlator."""

    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class _Result:
    opened: tuple[str, str, str, int, int, bool] | None  # name, format, reason, lines, bytes, has_content
    state: dict[str, Any]
    events: list[tuple[Any, ...]]
    warnings: list[str]
    errors: list[tuple[str, Location | None, bool]]  # InputError does not pickle with its location
    truncated: int


def wanted(jobs: int, live: bool) -> bool:
    """Whether to fan inputs out: several jobs, not a live stream, and a platform that forks."""
    return jobs > 1 and not live and parallel.can_fork()


# A file's modification time is at or after its last entry's time, give or take a host's clock
# or a zone-less format read in the wrong zone: a day of slack covers both.
_MTIME_SLACK = timedelta(days=1)
_FIRST_RECORDS = 50  # how far to look for the first timestamp of a file


def outside(inp: inputs.Input, read: inputs.ReadOptions, since: datetime | None, until: datetime | None) -> bool:
    """Whether a file holds nothing in [since, until): last written well before `since`, or its first
    dated entry at or after `until`. Cheap: a stat, and the file's first lines (one block, even compressed)."""
    if inp.kind != "file" or inp.path is None:
        return False
    try:
        mtime = datetime.fromtimestamp(os.stat(inp.path).st_mtime, timezone.utc)
    except OSError:
        return False  # opening it reports why
    if since is not None and mtime < since - _MTIME_SLACK:
        return True
    if until is None:
        return False
    first = _first_time(inp, read)
    return first is not None and first >= until


def _first_time(inp: inputs.Input, read: inputs.ReadOptions) -> datetime | None:
    one = inputs.open_input(inp, read, Diagnostics())
    if one is None:
        return None
    for n, record in enumerate(inputs.records(one)):
        if record.ts is not None:
            return record.ts
        if n >= _FIRST_RECORDS:
            break
    return None


_BATCH_BYTES = 4 << 20  # a worker's task: inputs together about this big, so that many small
_BATCH_INPUTS = 64  # files cost one round trip to a worker between them, not one each
_MEMBER_GUESS = 1 << 20  # an archive member's size is not known before the archive is listed


def _fanned(inp: inputs.Input) -> int | None:
    """The size of an input a worker reads (members, and files that are not big plain ones:
    parallel.py's), for cutting tasks (_batches); None for one the parent reads."""
    if inp.kind not in _FANNED:
        return None
    if inp.kind == "archive":
        return _BATCH_BYTES  # many members, inflated: a task of its own
    if inp.kind == "member":
        return _MEMBER_GUESS
    path = inp.path or inp.name
    try:
        size = os.path.getsize(path)
        if size < parallel.MIN_SIZE:
            return size
        with open(path, "rb") as fh:
            return size if compression(fh.read(6)) is not None else None
    except OSError:
        return None  # opened in the parent, which reports why


def opened(paths: list[str], engine: Engine, read: inputs.ReadOptions, diag: Diagnostics, jobs: int,
           since: datetime | None = None,
           until: datetime | None = None) -> Iterator[tuple[inputs.Input | None, inputs.Opened]]:
    """(Input, Opened) pairs in input order, as pipeline.analyze_opened takes them; a Matched is done.

    Files wholly outside [since, until) are not read at all (see `outside`); a warning counts them.
    """
    listing = Diagnostics()
    listed: list[tuple[inputs.Input, tuple[int, int, int]]] = []
    skipped = 0
    # A compressed tar is listed (inflated) by the worker that reads it, not here before any starts.
    for inp in inputs.expand(paths, read, listing, defer=jobs > 1):
        if (since or until) and outside(inp, read, since, until):
            skipped += 1
            continue
        listed.append((inp, (len(listing.input_errors), len(listing.warnings), listing.truncated_lines)))
    if skipped:
        diag.warn(f"{skipped} file{'s' if skipped != 1 else ''} not read: wholly outside --since/--until "
                  "(last written more than a day before --since, or first entry at or after --until)")
    sizes = {i: n for i, (inp, _) in enumerate(listed) if (n := _fanned(inp)) is not None} if jobs > 1 else {}
    fanned = list(sizes)
    replayed = [0, 0, 0]

    def replay(upto: tuple[int, int, int]) -> None:
        diag.input_errors.extend(listing.input_errors[replayed[0]:upto[0]])
        diag.warnings.extend(listing.warnings[replayed[1]:upto[1]])
        diag.truncated_lines += upto[2] - replayed[2]
        replayed[:] = upto

    if len(fanned) < 2:
        for inp, upto in listed:
            replay(upto)
            for one_inp in inputs.members(inp, read, diag) if inp.kind == "archive" else [inp]:
                one = inputs.open_input(one_inp, read, diag)
                if one is not None:
                    yield one_inp, one
        replay((len(listing.input_errors), len(listing.warnings), listing.truncated_lines))
        return
    with _pool(engine, [inp for inp, _ in listed], read, jobs) as pool:
        results = (r for batch in parallel.ordered(pool, _work_batch, _batches(sizes), jobs) for r in batch)
        armed: dict[str, set[str | None]] = {}
        todo = set(fanned)
        for index, (inp, upto) in enumerate(listed):
            replay(upto)
            if index in todo:
                for one_inp, result in _per_input(inp, next(results), read, armed):
                    matched = _matched(result, one_inp, engine, read, diag, armed)
                    if matched is not None:
                        yield one_inp, matched
                continue
            # Read here by the parent's engine: it starts from the failures the workers' inputs
            # left armed, and what it leaves armed goes on to the next worker's input.
            engine.set_armed(armed)
            here = inputs.open_input(inp, read, diag)
            if here is not None:
                yield inp, here  # the pipeline matches it before asking for the next input
            armed.clear()
            armed.update({rule: set(hosts) for rule, hosts in engine._armed.items()})
    replay((len(listing.input_errors), len(listing.warnings), listing.truncated_lines))


class _pool:
    """A fork Pool whose workers inherit the engine and the input list, closed on exit."""

    def __init__(self, engine: Engine, listed: list[inputs.Input], read: inputs.ReadOptions, jobs: int) -> None:
        global _engine, _inputs, _read
        _engine, _inputs, _read = engine, listed, read
        import multiprocessing  # here: a scan of one input starts no pool and never imports it

        ctx = multiprocessing.get_context("fork")
        # A signal handled while the main thread forks would run inside fork's at-fork hooks.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self.pool = ctx.Pool(jobs, initializer=_init_worker)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def __enter__(self) -> Any:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        global _engine, _inputs, _read
        self.pool.terminate()  # an interrupted scan does not wait for the inputs after it
        self.pool.join()
        _engine, _inputs, _read = None, [], None


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _init_worker() -> None:
    # Ctrl-C is the parent's: it reports what was read; Pool.terminate's SIGTERM ends a worker quietly.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    prefetch.enabled = False  # each core has a worker already: no inflating thread beside it


def _per_input(inp: inputs.Input, results: list[_Result], read: inputs.ReadOptions,
               armed: dict[str, set[str | None]]) -> Iterator[tuple[inputs.Input, _Result]]:
    """Each result with the Input it is of: an archive's members (its first result, its listing's
    problems, is of no member) are listed here only if a recovery must be looked for in them."""
    yield inp, results[0]
    if inp.kind != "archive":
        return
    listed: dict[str, inputs.Input] | None = None
    for result in results[1:]:
        name = result.opened[0] if result.opened else ""
        if listed is None and any(armed.values()):
            listed = {m.name: m for m in inputs.members(inp, read, Diagnostics())}
        yield (listed or {}).get(name, inputs.Input(name, inp.path, "member")), result


def _batches(sizes: dict[int, int]) -> list[list[int]]:
    """The fanned inputs' indices (keys of `sizes`, in order) cut into runs of about _BATCH_BYTES or
    _BATCH_INPUTS inputs."""
    out: list[list[int]] = []
    total = 0
    for index, n in sizes.items():
        if not out or total + n > _BATCH_BYTES or len(out[-1]) >= _BATCH_INPUTS:
            out.append([])
            total = 0
        out[-1].append(index)
        total += n
    return out


def _work_batch(indices: list[int]) -> list[list[_Result]]:
    return [_work(index) for index in indices]


def _work(index: int) -> list[_Result]:
    """What reading `_inputs[index]` gives: one result, or an archive's listing and one per member."""
    read = _read
    assert read is not None, "workers are forked from a parent that set it"
    inp = _inputs[index]
    if inp.kind != "archive":
        return [_work_one(inp)]
    diag = Diagnostics()
    members = inputs.members(inp, read, diag)
    listing = _Result(None, {}, [], diag.warnings, [(e.message, e.location, e.partial) for e in diag.input_errors],
                      diag.truncated_lines)
    return [listing, *(_work_one(m) for m in members)]


def _work_one(inp: inputs.Input) -> _Result:
    engine, read = _engine, _read
    assert engine is not None and read is not None, "workers are forked from a parent that set them"
    engine.forget_failures()  # each input starts with no failure armed (see above)
    diag = Diagnostics()
    one = inputs.open_input(inp, read, diag)
    events: list[tuple[Any, ...]] = []
    summary = None
    state: dict[str, Any] = {}
    if one is not None:
        probe_index = {id(p): i for i, p in enumerate(engine.probes)}
        try:
            for ev in engine.match(one):
                if isinstance(ev, Tick):
                    events.append(("t", ev.ts))
                else:  # one record, sent once, with each hit's probe by index
                    events.append(("h", ev[0].record, [(probe_index[id(h.probe)], h.captures, h.context) for h in ev]))
        finally:
            summary = (one.name, one.format.name, one.reason, one.lines_read, one.bytes_read, one.has_content)
            state = {k: one.ctx.state[k] for k in _STATE_KEYS if k in one.ctx.state}
    errors = [(e.message, e.location, e.partial) for e in diag.input_errors]
    warnings = diag.warnings + engine.slow  # the worker's engine: its own budget warnings
    engine.slow.clear()
    return _Result(summary, state, events, warnings, errors, diag.truncated_lines)


def _matched(result: _Result, inp: inputs.Input, engine: Engine, read: inputs.ReadOptions, diag: Diagnostics,
             armed: dict[str, set[str | None]]) -> Matched | None:
    diag.warnings.extend(result.warnings)
    for message, location, partial in result.errors:
        diag.input_error(InputError(message, location, partial))
    diag.truncated_lines += result.truncated
    if result.opened is None:
        return None
    name, fmt, reason, lines, size, content = result.opened
    ctx = ParseContext(name, read.year, read.tz, lines + 1, read.max_line, dict(result.state))
    events = list(_events(result.events, engine))
    if any(armed.values()):
        events = _with_recoveries(events, _recoveries(inp, engine, read, armed))
    for ev in events:
        if not isinstance(ev, Tick):
            track_armed(armed, ev)
    return Matched(name, get_format(fmt), reason, ctx, iter(()), bytes_read=size, lines_read=lines, has_content=content,
                   events=events)


def _events(raw: list[tuple[Any, ...]], engine: Engine) -> Iterator[Event]:
    probes = engine.probes
    for event in raw:
        if event[0] == "t":
            yield Tick(event[1])
        else:
            _, record, hits = event
            yield tuple(Hit(probes[i], record, captures, context) for i, captures, context in hits)


def _recoveries(inp: inputs.Input, engine: Engine, read: inputs.ReadOptions,
                armed: dict[str, set[str | None]]) -> list[Hits]:
    """The first recovery, in `inp`, of each failure armed before it (read again, in the parent)."""
    if inp.kind == "member" and inp.opener is None:  # gone from the archive since its worker listed it
        return []
    again = inputs.open_input(inp, read, Diagnostics())
    return list(engine.recoveries(again, armed)) if again is not None else []


def _with_recoveries(events: list[Event], found: list[Hits]) -> list[Event]:
    """`events` with the recovery hits merged in by line; a line already there gains only new probes."""
    if not found:
        return events
    by_line = {hits[0].record.origin.line: hits for hits in found}
    out: list[Event] = []
    for ev in events:
        if not isinstance(ev, Tick):
            line = ev[0].record.origin.line
            for early in sorted(k for k in by_line if k < line):
                out.append(by_line.pop(early))
            extra = by_line.pop(line, None)
            if extra is not None:
                have = {id(h.probe) for h in ev}
                ev = (*ev, *(h for h in extra if id(h.probe) not in have))
        out.append(ev)
    out.extend(by_line[k] for k in sorted(by_line))
    return out

