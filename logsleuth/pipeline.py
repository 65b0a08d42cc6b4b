"""The whole pipeline for library users and the CLI: inputs -> match -> correlate -> aggregate -> Report."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

from logsleuth import __version__
from logsleuth.read import inputs
from logsleuth.match import fanout, parallel
from logsleuth.findings import unexplained
from logsleuth.findings.collect import Collector
from logsleuth.findings.correlate import Correlator, Match
from logsleuth.findings.incidents import MAX_INCIDENTS
from logsleuth.match.engine import Engine, Event, Tick
from logsleuth.errors import Diagnostics, InputError, Location, LogsleuthError
from logsleuth.model import Finding, InputProblem, InputSummary, Report
from logsleuth.report.summary import Tally
from logsleuth.ruleset.loader import Rule


_QUIET_TICK = 1.0  # seconds: how often a quiet followed stream's absences are looked at


@dataclass(frozen=True)
class ScanOptions:
    read: inputs.ReadOptions = inputs.ReadOptions()
    backend: str = "auto"
    evidence_limit: int = 5
    jobs: int = 1  # worker processes for big plain files (see parallel.py)
    live: bool = False  # hand each match on at once (`journalctl -f`), see Engine
    since: datetime | None = None  # only events at or after this time (events without a time are kept)
    until: datetime | None = None  # only events before this time
    unexplained: bool = True  # count error lines no rule recognised (one extra engine probe)
    unexplained_samples: int = 5  # how many of them the report keeps


def analyze(paths: Sequence[str], rules: Sequence[Rule], options: ScanOptions = ScanOptions(),
            diag: Diagnostics | None = None,
            on_open: Callable[[inputs.Opened], None] | None = None,
            on_finding: Callable[[Finding], None] | None = None) -> Report:
    """Scan `paths` ("-" is stdin) with `rules` and return the report.

    Input problems never stop the scan: they are collected in `diag` (and in the report), and
    every finding made before a fault is kept. `on_finding` sees each finding when its first
    match is decided; an interrupt (Ctrl-C) ends the input, not the report, which says it is partial.
    """
    diag = diag or Diagnostics()
    if options.live:  # a stream: each input opened only when the one before it has ended
        return analyze_opened(_opened(paths, options.read, diag), rules, options, diag, on_open, on_finding)
    engine = _engine(rules, options)  # before the workers fork: they inherit it
    jobs = options.jobs if fanout.wanted(options.jobs, options.live) else 1
    sources = fanout.opened(list(paths), engine, options.read, diag, jobs, options.since, options.until)
    return analyze_opened(sources, rules, options, diag, on_open, on_finding, engine=engine)


def _engine(rules: Sequence[Rule], options: ScanOptions) -> Engine:
    signals = (unexplained.probe(),) if options.unexplained else ()
    return Engine(rules, options.backend, live=options.live, signals=signals)


def _opened(paths: Sequence[str], read: inputs.ReadOptions,
            diag: Diagnostics) -> Iterator[tuple[inputs.Input | None, inputs.Opened]]:
    for inp in inputs.expand(list(paths), read, diag):
        opened = inputs.open_input(inp, read, diag)
        if opened is not None:
            yield inp, opened


def analyze_opened(sources: Iterable[tuple[inputs.Input | None, inputs.Opened]], rules: Sequence[Rule],
                   options: ScanOptions, diag: Diagnostics,
                   on_open: Callable[[inputs.Opened], None] | None = None,
                   on_finding: Callable[[Finding], None] | None = None,
                   events_of: Callable[[Engine, inputs.Opened], Iterable[Event]] | None = None,
                   engine: Engine | None = None) -> Report:
    """`analyze` over inputs already opened (the native journal reader's, read/journal.py); with
    `events_of`, their events come from it (matched elsewhere: a Dask cluster, match/cluster.py)."""
    engine = engine or _engine(rules, options)
    correlator = Correlator()
    collector = _Counting(options.evidence_limit, options.unexplained_samples, on_finding)
    summaries: list[InputSummary] = []
    try:
        for inp, opened in sources:
            if on_open is not None:
                on_open(opened)
            try:
                _scan_one(engine, inp, opened, options, diag, correlator, collector, events_of)
            finally:
                summaries.append(InputSummary(opened.name, opened.format.name, opened.reason, opened.lines_read,
                                              opened.bytes_read,
                                              markers_only=opened.lines_read > 0 and not opened.has_content))
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (the CLI turns it into this) on a followed stream: what was read is reported.
        diag.warn("interrupted: the input was read only up to here, this report is partial")
    collector.add(correlator.finish())
    if correlator.dropped:  # lost events make the report partial, in the report and the exit status
        diag.input_error(InputError(f"correlation state was full: {correlator.dropped} pending event(s) "
                                    "dropped; the counts of windowed rules are low", Location("(correlator)"),
                                    partial=True))
    if correlator.folded:
        diag.warn(f"correlation state was full: {correlator.folded} event(s) of new groups shared one "
                  "overflow group (counted, but not told apart by their fingerprint)")
    if collector.incidents.overflowed:
        diag.warn(f"more than {MAX_INCIDENTS} incidents: {collector.incidents.overflowed} match(es) joined the latest one")
    findings, incidents, unexplained_lines = collector.result()
    return Report(
        findings=tuple(findings), rules=tuple(r.info for r in rules), inputs=tuple(summaries),
        # A partly read input still gave its findings: a warning, as on stderr; an unreadable one is an error.
        warnings=(*diag.warnings, *(str(e) for e in diag.input_errors if e.partial)),
        errors=tuple(str(e) for e in diag.input_errors if not e.partial),
        truncated_lines=diag.truncated_lines, version=__version__,
        generated_at=datetime.now(timezone.utc).replace(microsecond=0),
        incidents=tuple(incidents), unexplained=unexplained_lines,
        spread=collector.tally.spread(), problems=_problems(diag),
    )


class _Counting(Collector):
    """The Collector, plus the cross-file tally (report/summary.py) of each match it counts."""

    def __init__(self, evidence_limit: int = 5, unexplained_limit: int = 5,
                 on_incident: Callable[[Finding], None] | None = None) -> None:
        super().__init__(evidence_limit, unexplained_limit, on_incident)
        self.tally = Tally()

    def add(self, matches: Iterable[Match]) -> None:
        super().add(self._tallied(matches))

    def _tallied(self, matches: Iterable[Match]) -> Iterator[Match]:
        # Collector.add consumes each match before asking for the next, so a grown duplicate
        # count means that match was another input's copy of an entry already counted.
        for match in matches:
            before = self.duplicates
            yield match
            if self.duplicates == before:
                self.tally.add(match)


def _problems(diag: Diagnostics) -> tuple[InputProblem, ...]:
    return tuple(InputProblem(e.location.path if e.location else "", e.message, e.partial)
                 for e in diag.input_errors)


def _scan_one(engine: Engine, inp: inputs.Input | None, opened: inputs.Opened, options: ScanOptions,
              diag: Diagnostics, correlator: Correlator, collector: Collector,
              events_of: Callable[[Engine, inputs.Opened], Iterable[Event]] | None = None) -> None:
    events: Iterable[Event]
    if events_of is not None:
        events = events_of(engine, opened)
    elif isinstance(opened, fanout.Matched):  # read and matched by a worker (match/fanout.py)
        events = opened.events
    elif inp is not None and parallel.eligible(opened, inp, engine, options.jobs):
        events = parallel.match(engine, opened, inp.path or inp.name, options.read, diag, options.jobs)
    else:
        events = engine.match(opened)
    if options.live and engine.needs_clock:
        events = _quiet_ticks(events)
    if options.since or options.until:
        events = _between(events, options.since, options.until)
    try:
        collector.add(correlator.run(collector.signals(events)))
    finally:
        for warning in opened.ctx.state.pop("warnings", ()):  # once per input (read/formats/clock.py)
            diag.warn(warning, Location(opened.name))
        diag.warnings.extend(engine.slow)  # records a probe ran out of time on (engine.RECORD_BUDGET)
        engine.slow.clear()


def _quiet_ticks(events: Iterable[Event]) -> Iterator[Event]:
    """A followed stream that goes quiet still moves on in time: event time advances by the wall
    clock since the last event, so an absence (`not_followed_by`) is decided without more input."""
    from logsleuth.read import follow  # a thread and select(): only a followed stream needs them

    last: list[datetime] = []
    made: list[Tick] = []

    def tick(quiet: float) -> Tick | None:
        if not last:
            return None
        made[:] = [Tick(last[0] + timedelta(seconds=quiet))]
        return made[0]

    for ev in follow.with_idle(events, _QUIET_TICK, tick):
        if not (made and ev is made[0]):
            ts = ev.ts if isinstance(ev, Tick) else ev[0].record.ts
            if ts is not None:
                last[:] = [ts]
        yield ev


def _between(events: Iterable[Event], since: datetime | None, until: datetime | None) -> Iterator[Event]:
    """Hits of records inside [since, until); a record without a timestamp cannot be judged and stays."""
    for ev in events:
        if isinstance(ev, Tick) or ev[0].record.ts is None:
            yield ev
            continue
        ts = ev[0].record.ts
        if (since is None or ts >= since) and (until is None or ts < until):
            yield ev


def analyze_dask(paths: Sequence[str], rules: Sequence[Rule], scheduler: Any,
                 options: ScanOptions = ScanOptions(), diag: Diagnostics | None = None,
                 storage_options: dict[str, Any] | None = None,
                 on_open: Callable[[inputs.Opened], None] | None = None,
                 on_finding: Callable[[Finding], None] | None = None,
                 on_part: Callable[[int, int], None] | None = None, range_size: int | None = None) -> Report:
    """`analyze` with the matching done on a Dask cluster: `scheduler` is its address
    (`tcp://host:8786`) or a `distributed.Client`; `paths` are local paths (seen alike by every
    worker) or fsspec URLs (`s3://bucket/prefix/`), `storage_options` what fsspec needs to open
    them. The report is the one `analyze` gives for the same data with `jobs=1`. `on_part(done, total)`
    follows the tasks; objects over twice `range_size` (default 16 MiB) are cut in ranges of about that size.

    Raises LogsleuthError when the `dask` extra is missing or the scheduler cannot be reached.
    """
    try:
        from logsleuth.match import cluster
    except ImportError as exc:
        raise LogsleuthError(f"--dask needs the dask extra: pip install 'logsleuth[dask]' ({exc})") from None
    diag = diag or Diagnostics()
    try:
        client, own = cluster.connect(scheduler)
    except (OSError, TimeoutError) as exc:
        raise LogsleuthError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    signals = (unexplained.probe,) if options.unexplained else ()
    ruleset = cluster.ruleset_of(rules, options.backend, signals)
    scan = cluster.Scan(client, ruleset, options.read, storage_options, on_part,
                        range_size or parallel.RANGE_SIZE)
    try:
        return analyze_opened(scan.sources(paths, diag), rules, replace(options, live=False), diag,
                              on_open, on_finding, events_of=scan.events)
    finally:
        scan.cancel()
        cluster.remove_plugin(client, ruleset)
        if own:
            client.close()
