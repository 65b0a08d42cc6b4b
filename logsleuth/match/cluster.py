"""Stage 2 on a Dask cluster: match objects and entry-aligned byte ranges of them on the workers.

As in parallel.py, only matching is distributed: each task returns the hits of one object (or of
each member of a tar archive) or of one byte range, with each hit's probe by index (compiled rules
hold closures that do not pickle), and the caller feeds them in input order to the one correlator,
so the report is the one a local `-j 1` scan gives. The rules travel once per worker, as their
YAML sources in a worker plugin, and are compiled there. Tasks are pure: a task's key is a hash of
the rules, the read options and the object's identity (URL, size, ETag/mtime), and its result
depends on nothing else (the engine's recovery state is cleared first), so a task Dask retries
after losing a worker gives the same result. Needs the `dask` extra.
"""
from __future__ import annotations

import ctypes
import hashlib
import pickle
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import distributed

# As Any, so the module type-checks alike with and without the `dask` extra installed.
_Client: Any = distributed.Client
_WorkerPlugin: Any = distributed.WorkerPlugin
Future = Any

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.match.engine import Engine, Event, Hit, Hits, Probe, Tick, track_armed
from logsleuth.match.parallel import MIN_SIZE, RANGE_SIZE, STATELESS, cuts
from logsleuth.model import Origin
from logsleuth.read import entries, formats, inputs, remote
from logsleuth.read.decompress import compression
from logsleuth.read.formats import Format, ParseContext, journal_file
from logsleuth.ruleset import loader
from logsleuth.ruleset.loader import Rule

Armed = dict[str, set[str | None]]


@dataclass(frozen=True)
class RuleSet:
    """What a worker needs to build the driver's engine: the rule files' text, the rules chosen
    from them in the driver's order, the scanner backend and the extra probes (made by importable
    functions, called on the worker)."""

    sources: tuple[tuple[str, str], ...]
    ids: tuple[str, ...]
    backend: str
    signals: tuple[Callable[[], Probe], ...]

    @property
    def token(self) -> str:
        signals = [f"{s.__module__}.{s.__qualname__}" for s in self.signals]
        return hashlib.sha256(repr((self.sources, self.ids, self.backend, signals)).encode()).hexdigest()


def ruleset_of(rules: Sequence[Rule], backend: str, signals: Sequence[Callable[[], Probe]]) -> RuleSet:
    """The rules by their sources: each rule file once, read from disk or from the bundled rules."""
    seen: dict[str, str] = {}
    for r in rules:
        source = r.info.source or r.location.path
        if source not in seen:
            seen[source] = _source_text(source)
    return RuleSet(tuple(seen.items()), tuple(r.id for r in rules), backend, tuple(signals))


def _source_text(source: str) -> str:
    path = Path(source)
    if path.is_file():
        return loader.read_rule_file(path)
    # The bundled rules are named `rules/<dir>/<file>.yaml` (loader.rule_sources).
    from importlib import resources

    node: Any = resources.files("logsleuth.bundled_rules")
    for part in Path(source).parts[1:]:
        node = node / part
    return str(node.read_text(encoding="utf-8"))


def build(ruleset: RuleSet) -> Engine:
    """Compile a RuleSet into an engine whose probes are the driver's, in the same order."""
    with tempfile.TemporaryDirectory(prefix="logsleuth-rules-") as d:
        for i, (name, text) in enumerate(ruleset.sources):
            # One folder per file keeps the driver's file order and each file's stem (a one-rule
            # file's id defaults to its stem) even when two folders hold files of the same name.
            sub = Path(d, f"{i:05d}")
            sub.mkdir()
            (sub / Path(name).name).write_text(text, encoding="utf-8")
        by_id = {r.id: r for r in loader.load([d], builtin=False)}
    return Engine([by_id[i] for i in ruleset.ids], ruleset.backend, signals=tuple(s() for s in ruleset.signals))


# --- the worker side -------------------------------------------------------------------------------

_rulesets: dict[str, RuleSet] = {}  # in each worker process: token -> rules, set by the plugin
_idle: dict[str, list[Engine]] = {}  # compiled engines not in use (one per thread running tasks)
_lock = threading.Lock()


class RulesPlugin(_WorkerPlugin):  # type: ignore[misc]  # a base of type Any
    """Hands the rules to each worker once (and to workers started later, e.g. after one died)."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.name = f"logsleuth-rules-{ruleset.token[:16]}"

    def setup(self, worker: Any) -> None:
        _heap_for_blocks()
        engine = build(self.ruleset)  # compiled now: a worker that cannot compile them fails early
        with _lock:
            _rulesets[self.ruleset.token] = self.ruleset
            _idle.setdefault(self.ruleset.token, []).append(engine)

    def teardown(self, worker: Any) -> None:
        with _lock:
            _rulesets.pop(self.ruleset.token, None)
            _idle.pop(self.ruleset.token, None)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def _heap_for_blocks() -> None:
    """Serve the reader's 1 MiB blocks from the heap, not from a fresh mmap each.

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's
    mmap threshold at 128 KiB: every block is then mapped and unmapped, page faults and all, and a
    scan ran about 40% slower in a worker than in a plain process (bench/bench_dask.py). Raising
    the mmap threshold keeps Dask's trimming of the heap and gives back the speed.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 16 << 20)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        pass


class _Borrowed:
    """An engine for one task, in the state of a fresh one: what a task finds must not depend on
    what the worker matched before (Dask may run any task on any worker, or twice)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __enter__(self) -> Engine:
        with _lock:
            pool = _idle.get(self.token)
            ruleset = _rulesets.get(self.token)
            engine = pool.pop() if pool else None
        if ruleset is None:
            raise RuntimeError("logsleuth: this worker has no rules (the plugin was not registered)")
        if engine is None:  # another thread of this worker holds the first one
            engine = build(ruleset)
        self.engine = engine
        # Engine.evaluate's memory of failures waiting for their recovery (see Engine.recoveries).
        self.engine.forget_failures()
        return self.engine

    def __exit__(self, *exc: object) -> None:
        with _lock:
            if self.token in _rulesets:
                _idle.setdefault(self.token, []).append(self.engine)


@dataclass(frozen=True)
class Part:
    """One input's share of a task's result: its events and its counts, in picklable form."""

    name: str
    format: str
    reason: str
    events: list[tuple[Any, ...]]
    lines: int
    bytes: int
    has_content: bool
    truncated: int
    warnings: list[str]
    errors: list[tuple[str, str, int | None, int | None, bool]]  # InputError as (message, path, line, col, partial)
    clock_warnings: list[str]  # ParseContext.state["warnings"]: said once per input (read/formats/clock.py)


def _errors(diag: Diagnostics) -> list[tuple[str, str, int | None, int | None, bool]]:
    out = []
    for e in diag.input_errors:
        loc = e.location or Location("")
        out.append((e.message, loc.path, loc.line, loc.col, e.partial))
    return out


def _encode(engine: Engine, events: Iterator[Event]) -> list[tuple[Any, ...]]:
    index = {id(p): i for i, p in enumerate(engine.probes)}
    out: list[tuple[Any, ...]] = []
    for ev in events:
        if isinstance(ev, Tick):
            out.append(("t", ev.ts))
        else:  # one record, sent once, with each hit's probe by index
            out.append(("h", ev[0].record, [(index[id(h.probe)], h.captures, h.context) for h in ev]))
    return out


def _part(engine: Engine, opened: inputs.Opened, diag: Diagnostics) -> Part:
    events = _encode(engine, engine.match(opened))
    return Part(opened.name, opened.format.name, opened.reason, events, opened.lines_read, opened.bytes_read,
                opened.has_content, diag.truncated_lines, diag.warnings, _errors(diag),
                list(opened.ctx.state.pop("warnings", ())))


def _failed(name: str, diag: Diagnostics) -> Part:
    return Part(name, "", "", [], 0, 0, False, diag.truncated_lines, diag.warnings, _errors(diag), [])


def scan_unit(token: str, unit: remote.Unit, opts: inputs.ReadOptions) -> list[Part]:
    """Task: every input of one object (a tar archive has several), matched whole."""
    out: list[Part] = []
    workdir = tempfile.mkdtemp(prefix="logsleuth-")
    try:
        with _Borrowed(token) as engine:
            listing = Diagnostics()  # problems of the object itself (a corrupt archive's listing)
            for inp in remote.unit_inputs(unit, opts, listing, workdir):
                diag = Diagnostics()
                opened = inputs.open_input(inp, opts, diag)
                out.append(_failed(inp.name, diag) if opened is None else _part(engine, opened, diag))
            if listing.warnings or listing.input_errors or listing.truncated_lines:
                out.append(_failed(unit.name, listing))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def plan_unit(token: str, unit: remote.Unit, opts: inputs.ReadOptions,
              range_size: int = RANGE_SIZE) -> tuple[str, str, list[tuple[int, int]]] | None:
    """Task: the format (and why) and entry-aligned byte ranges of a big object, or None when it must be
    read whole (compressed, an archive, a format whose parse carries state across lines)."""
    with _Borrowed(token) as engine:
        if engine.always:
            return None
        fh, pread = remote.reader_at(unit)
        try:
            head = pread(1 << 16, 0)
            if compression(head) is not None or head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
                return None
            first = head[: head.rfind(b"\n") + 1] or head
            # As inputs.open_input decides it, from the first 40 lines of the first 64 KiB.
            fmt, reason = (formats.get(opts.input_format), "forced with --input-format") if opts.input_format \
                else formats.detect(inputs.split_lines(first)[:40])
            if fmt.name not in STATELESS:
                return None
            return fmt.name, reason, cuts(pread, unit.size, fmt, range_size)
        finally:
            fh.close()


def scan_range(token: str, unit: remote.Unit, fmt_name: str, start: int, end: int,
               opts: inputs.ReadOptions) -> Part:
    """Task: one byte range of a big object."""
    with _Borrowed(token) as engine:
        diag = Diagnostics()
        opened = remote.open_slice(unit, start, end, fmt_name, opts, diag)
        return _failed(unit.name, diag) if opened is None else _part(engine, opened, diag)


def recover(token: str, unit: remote.Unit, member: int, span: tuple[str, int, int] | None,
            opts: inputs.ReadOptions, armed: Armed) -> list[tuple[Any, ...]]:
    """Task: the first recoveries, in one input, of failures that inputs before it left open."""
    workdir = tempfile.mkdtemp(prefix="logsleuth-")
    try:
        with _Borrowed(token) as engine:
            diag = Diagnostics()
            if span is not None:
                opened = remote.open_slice(unit, span[1], span[2], span[0], opts, diag)
            else:
                found = list(remote.unit_inputs(unit, opts, diag, workdir))
                opened = inputs.open_input(found[member], opts, diag) if member < len(found) else None
            if opened is None:
                return []
            return _encode(engine, iter(engine.recoveries(opened, armed)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the driver side -------------------------------------------------------------------------------

def connect(address: Any) -> tuple[Any, bool]:
    """A client of the scheduler at `address` (or the client given), and whether we opened it."""
    if isinstance(address, _Client):
        return address, False
    return _Client(address, set_as_default=False), True


def _key(kind: str, *parts: object) -> str:
    # Same inputs, same key: a task Dask already holds (or retries) is the same computation.
    digest = hashlib.sha256(pickle.dumps(parts, protocol=4)).hexdigest()[:32]
    return f"logsleuth-{kind}-{digest}"


class Scan:
    """One distributed scan: lists the inputs, submits the tasks, and yields each input, then
    its events, in input order (pipeline.analyze_opened's `sources` and `events_of`)."""

    def __init__(self, client: Any, ruleset: RuleSet, opts: inputs.ReadOptions,
                 storage_options: dict[str, Any] | None = None,
                 on_part: Callable[[int, int], None] | None = None, range_size: int = RANGE_SIZE) -> None:
        self.client, self.ruleset, self.opts = client, ruleset, opts
        self.storage_options = storage_options or {}
        self.on_part = on_part  # (parts done, parts in all): progress
        self.token = ruleset.token
        # Objects this big are cut in ranges of about `range_size` (parallel.py's sizes by default).
        self.range_size, self.min_size = range_size, max(MIN_SIZE * range_size // RANGE_SIZE, 1)
        self.armed: Armed = {}  # as one engine would hold it after the inputs so far
        self._events: dict[int, Iterator[Event]] = {}
        self.probes: list[Probe] = []
        self._pending: list[Future] = []
        self.done = self.total = 0

    def sources(self, paths: Sequence[str], diag: Diagnostics) -> Iterator[tuple[None, inputs.Opened]]:
        """The scan's inputs, each with a local stand-in for what its worker opened."""
        units = remote.list_units(paths, self.opts, diag, self.storage_options)
        self.client.register_plugin(RulesPlugin(self.ruleset), name=f"logsleuth-rules-{self.token[:16]}")
        submit = self._submit
        planned = {i: submit(plan_unit, self.token, u, self.opts, self.range_size,
                             key=_key("plan", self.token, u, self.opts, self.range_size))
                   for i, u in enumerate(units) if u.size >= self.min_size}
        whole = {i: submit(scan_unit, self.token, u, self.opts, key=_key("unit", self.token, u, self.opts))
                 for i, u in enumerate(units) if i not in planned}
        ranged: dict[int, tuple[str, str, list[tuple[tuple[int, int], Future]]]] = {}
        for i, fut in planned.items():
            u = units[i]
            plan = self._result(fut, u, diag, None)
            if plan is None:
                whole[i] = submit(scan_unit, self.token, u, self.opts, key=_key("unit", self.token, u, self.opts))
                continue
            fmt, reason, spans = plan
            ranged[i] = (fmt, reason, [(s, submit(scan_range, self.token, u, fmt, s[0], s[1], self.opts,
                                          key=_key("range", self.token, u, fmt, s, self.opts))) for s in spans])
        self.total = len(whole) + sum(len(r[2]) for r in ranged.values())
        for i, u in enumerate(units):
            if i in ranged:
                yield from self._ranged(u, *ranged.pop(i), diag)
            else:
                yield from self._whole(u, whole.pop(i), diag)

    def _result(self, fut: Future, unit: remote.Unit, diag: Diagnostics, default: Any) -> Any:
        """A task's result; a task that failed on every try (its workers died, a bug) leaves its
        object out of the scan as an input with problems, as an unreadable file would."""
        try:
            return fut.result()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the task raised, on the worker
            diag.input_error(InputError(f"not scanned: its task failed on the cluster: {type(exc).__name__}: {exc}",
                                        Location(unit.name), partial=True))
            return default
        finally:
            fut.release()

    def _submit(self, *args: Any, **kwargs: Any) -> Future:
        fut = self.client.submit(*args, **kwargs)
        self._pending.append(fut)
        return fut

    def cancel(self) -> None:
        """Drop what the scan no longer waits for (it was interrupted or failed)."""
        self.client.cancel([f for f in self._pending if not f.done()])
        self._pending.clear()

    def events(self, engine: Engine, opened: inputs.Opened) -> Iterator[Event]:
        """The events of an input `sources` just yielded."""
        self.probes = engine.probes  # hits name their probe by its index in the worker's engine: the same list
        return self._events.pop(id(opened), iter(()))

    def _progress(self) -> None:
        self.done += 1
        if self.on_part is not None:
            self.on_part(self.done, self.total)

    def _whole(self, unit: remote.Unit, fut: Future, diag: Diagnostics) -> Iterator[tuple[None, inputs.Opened]]:
        parts: list[Part] = self._result(fut, unit, diag, [])
        self._progress()
        for member, part in enumerate(parts):
            _report(part, diag)
            if not part.format:
                continue
            opened = _stand_in(part, self.opts)
            self._events[id(opened)] = self._fed(opened, [part], unit, [(member, None)], diag)
            yield None, opened

    def _ranged(self, unit: remote.Unit, fmt: str, reason: str, spans: list[tuple[tuple[int, int], Future]],
                diag: Diagnostics) -> Iterator[tuple[None, inputs.Opened]]:
        first: Part = self._result(spans[0][1], unit, diag, None)
        if first is None or not first.format:  # could not be read (said so by the task's diagnostics)
            if first is not None:
                _report(first, diag)
            return
        opened = _stand_in(first, self.opts)
        opened.reason = reason  # the whole object's, not its first range's

        def parts() -> Iterator[Part]:
            for k, (_span, fut) in enumerate(spans):
                part = first if k == 0 else self._result(fut, unit, diag, None)
                self._progress()
                if part is None:
                    return  # the rest of the object is missing from the scan, and said so
                _report(part, diag)
                yield part

        where: list[tuple[int, tuple[str, int, int] | None]] = [(0, (fmt, s[0], s[1])) for s, _f in spans]
        self._events[id(opened)] = self._fed(opened, parts(), unit, where, diag)
        yield None, opened

    def _fed(self, opened: inputs.Opened, parts: Any, unit: remote.Unit,
             where: list[tuple[int, tuple[str, int, int] | None]], diag: Diagnostics) -> Iterator[Event]:
        """An input's events from its parts, each part's first recoveries of failures still open
        before it (which its worker had no reason to look for) first, line numbers made the file's."""
        line_offset = 0
        for (member, span), part in zip(where, parts):
            if any(self.armed.values()):
                armed = {rule: set(hosts) for rule, hosts in self.armed.items() if hosts}
                fut = self._submit(recover, self.token, unit, member, span, self.opts, armed,
                                         key=_key("recover", self.token, unit, member, span, self.opts,
                                                  sorted((r, sorted(map(str, h))) for r, h in armed.items())))
                found = self._result(fut, unit, diag, [])
                yield from self._decoded(found, opened.name, line_offset)
            yield from self._decoded(part.events, opened.name, line_offset)
            line_offset += part.lines
            opened.lines_read += part.lines
            opened.bytes_read += part.bytes
            opened.has_content = opened.has_content or part.has_content

    def _decoded(self, events: list[tuple[Any, ...]], name: str, line_offset: int) -> Iterator[Event]:
        probes = self.probes
        for event in events:
            if event[0] == "t":
                yield Tick(event[1])
                continue
            _, record, hits = event
            o = record.origin
            record.origin = Origin(name, o.line + line_offset, o.span)
            found: Hits = tuple(Hit(probes[index], record, captures, context) for index, captures, context in hits)
            track_armed(self.armed, found)
            yield found



def _stand_in(part: Part, opts: inputs.ReadOptions) -> inputs.Opened:
    """The driver's Opened for an input its worker read: name, format, counts (filled as its events
    are consumed) and the warnings said once per input."""
    ctx = ParseContext(path=part.name, year=opts.year, tz=opts.tz, max_line=opts.max_line)
    ctx.state["warnings"] = list(part.clock_warnings)
    fmt = journal_file.JOURNAL if part.format == journal_file.JOURNAL.name else formats.get(part.format)
    return inputs.Opened(part.name, fmt, part.reason, ctx, iter(()))


def _report(part: Part, diag: Diagnostics) -> None:
    diag.truncated_lines += part.truncated
    diag.warnings.extend(part.warnings)
    for message, path, line, col, partial in part.errors:
        diag.input_error(InputError(message, Location(path, line, col) if path else None, partial))


def remove_plugin(client: Any, ruleset: RuleSet) -> None:
    """Take the rules off the workers after the scan (a long-lived cluster runs other scans)."""
    try:
        client.unregister_worker_plugin(f"logsleuth-rules-{ruleset.token[:16]}")
    except (ValueError, KeyError, OSError):  # already gone (the cluster restarted)
        pass

