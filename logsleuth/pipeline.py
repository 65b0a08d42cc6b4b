"""The whole pipeline for library users and the CLI: inputs -> match -> correlate -> aggregate -> Report."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Sequence

from logsleuth import __version__
from logsleuth.read import inputs
from logsleuth.match import parallel
from logsleuth.findings import unexplained
from logsleuth.findings.collect import Collector
from logsleuth.findings.correlate import Correlator
from logsleuth.findings.incidents import MAX_INCIDENTS
from logsleuth.match.engine import Engine, Event, Tick
from logsleuth.errors import Diagnostics
from logsleuth.model import Finding, InputSummary, Report
from logsleuth.ruleset.loader import Rule


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
    match is decided; in live mode an interrupt (Ctrl-C) ends the input, not the report.
    """
    diag = diag or Diagnostics()
    signals = (unexplained.probe(),) if options.unexplained else ()
    engine = Engine(rules, options.backend, live=options.live, signals=signals)
    correlator = Correlator()
    collector = Collector(options.evidence_limit, options.unexplained_samples, on_finding)
    summaries: list[InputSummary] = []
    for inp in inputs.expand(list(paths), options.read, diag):
        opened = inputs.open_input(inp, options.read, diag)
        if opened is None:
            continue
        if on_open is not None:
            on_open(opened)
        if parallel.eligible(opened, inp, engine, options.jobs):
            events = parallel.match(engine, opened, inp.path or inp.name, options.read, diag, options.jobs)
        else:
            events = engine.match(opened)
        if options.since or options.until:
            events = _between(events, options.since, options.until)
        try:
            collector.add(correlator.run(collector.signals(events)))
        except KeyboardInterrupt:
            if not options.live:
                raise
        summaries.append(InputSummary(opened.name, opened.format.name, opened.reason, opened.lines_read,
                                      opened.bytes_read, markers_only=opened.lines_read > 0 and not opened.has_content))
    collector.add(correlator.finish())
    if correlator.dropped:
        diag.warn(f"correlation state was full: {correlator.dropped} pending event(s) dropped")
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
    )


def _between(events: Iterable[Event], since: datetime | None, until: datetime | None) -> Iterator[Event]:
    """Hits of records inside [since, until); a record without a timestamp cannot be judged and stays."""
    for ev in events:
        if isinstance(ev, Tick) or ev[0].record.ts is None:
            yield ev
            continue
        ts = ev[0].record.ts
        if (since is None or ts >= since) and (until is None or ts < until):
            yield ev
