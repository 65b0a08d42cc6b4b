"""Findings stage: one place that turns the engine's events and the correlator's matches into results.

Between the engine and the correlator it takes out what is not a rule match (recovery signals for
incident status, the error probe for unexplained lines). After the correlator it counts each
match into the findings and the incidents, once: the same entry read from two inputs (a host's
syslog and its journal export) counts once, and its second location joins the evidence.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator

from logsleuth.findings.aggregate import Aggregator
from logsleuth.findings.correlate import Match
from logsleuth.findings.incidents import IncidentBuilder
from logsleuth.findings.unexplained import UnexplainedCounter
from logsleuth.match.engine import RECOVER, RULE_ROLES, SIGNAL, Event, Hits, Tick
from logsleuth.model import Finding, Incident, Record, Unexplained

_MAX_SEEN = 200_000  # entries remembered for cross-input duplicates (oldest forgotten first)


class Collector:
    """Findings, incidents and unexplained lines for one scan."""

    def __init__(self, evidence_limit: int = 5, unexplained_limit: int = 5,
                 on_incident: Callable[[Finding], None] | None = None) -> None:
        self.findings = Aggregator(evidence_limit)
        self.incidents = IncidentBuilder(evidence_limit)
        self.unexplained = UnexplainedCounter(unexplained_limit)
        self.duplicates = 0
        self._on_incident = on_incident
        self._seen: OrderedDict[tuple[Any, ...], str] = OrderedDict()

    def signals(self, events: Iterable[Event]) -> Iterator[Event]:
        """`events` without recovery and signal hits, which are recorded here instead."""
        for ev in events:
            if isinstance(ev, Tick) or all(h.probe.role in RULE_ROLES for h in ev):
                yield ev
                continue
            yield from self._split(ev)

    def _split(self, hits: Hits) -> Iterator[Hits]:
        rule_hits = tuple(h for h in hits if h.probe.role in RULE_ROLES)
        for h in hits:
            if h.probe.role == RECOVER:
                self.incidents.recover(h.rule, h.record.host, h.record.ts)
            elif h.probe.role == SIGNAL and not rule_hits:
                self.unexplained.observe(h)
        if rule_hits:
            yield rule_hits

    def add(self, matches: Iterable[Match]) -> None:
        """Count matches into findings and incidents; a repeat of an entry from another input only adds evidence."""
        for match in matches:
            if self._duplicate(match.hit.record):
                self.duplicates += 1
                self.findings.add_evidence(match)
                continue
            self.findings.add(match)
            opened = self.incidents.add(match)
            if opened is not None and self._on_incident is not None:
                self._on_incident(opened)

    def _duplicate(self, rec: Record) -> bool:
        # The same entry: same host, time to the second or better, identifier, pid and message.
        # Within one input, equal lines are real repeats; only another input's copy is a duplicate.
        if rec.ts is None or rec.host is None:
            return False
        key = (rec.host, rec.ts.replace(microsecond=0), rec.ident, rec.pid, rec.message)
        path = rec.origin.path
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = path
            if len(self._seen) > _MAX_SEEN:
                self._seen.popitem(last=False)
            return False
        return first != path

    def result(self) -> tuple[list[Finding], list[Incident], Unexplained]:
        return self.findings.findings(), self.incidents.incidents(), self.unexplained.result()
