"""Findings stage: matches become incidents (one failure told by several rules) with a status over time.

A rule that declares `incident:` joins matches of its family on the same host that fall within
the family's window and agree on the key captures; any other rule's matches form one incident
per finding (rule and fingerprint), as before incidents existed. Each incident keeps its own
`Aggregator`, so its facts are ordinary findings counted over that incident alone.

Status: a rule's `recovered_by` probe hits (for example a successful poll after a DNS failure)
are recorded per rule and host; an incident whose root rule (or, failing that, any fact's rule)
saw its recovery after its last occurrence is `recovered`, otherwise `ongoing`; without any
`recovered_by` the status is `unknown`. Event time decides where both sides have it, input order
otherwise.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from logsleuth.findings.aggregate import MAX_DISTINCT, Aggregator, captures_of, finding_key, normalize
from logsleuth.findings.correlate import Match
from logsleuth.match.engine import Hit
from logsleuth.model import SEVERITIES, Finding, Incident
from logsleuth.ruleset.loader import IncidentSpec, Rule

# Bounds: a storm of distinct failures must not grow without limit; past this many incidents,
# matches join the most recent incident of their family (and `overflowed` counts them).
MAX_INCIDENTS = 10_000
_OPEN_PER_FAMILY = 16
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
Moment = tuple[datetime | None, int]  # event time (if any) and input order


@dataclass
class _Open:
    spec: IncidentSpec | None
    family: str
    host: Any
    agg: Aggregator
    order: int
    keys: dict[str, str] = field(default_factory=dict)
    rules: set[str] = field(default_factory=set)
    roles: dict[str, str] = field(default_factory=dict)
    recoverable: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    last_by_rule: dict[tuple[str, Any], Moment] = field(default_factory=dict)


class IncidentBuilder:
    """Collects matches and recovery signals; `incidents()` gives the incidents, most pressing first."""

    def __init__(self, evidence_limit: int = 5) -> None:
        self.evidence_limit = evidence_limit
        self.overflowed = 0
        self._all: list[_Open] = []
        self._by_finding: dict[tuple[str, str], _Open] = {}
        self._open: dict[tuple[str, Any], list[_Open]] = {}
        self._recovered: dict[tuple[str, Any], Moment] = {}
        self._seq = 0
        # A rule without `incident:` whose captures explode (a million distinct hosts) opens at most
        # MAX_DISTINCT incidents; its later values share one, and incidents() folds them all into it,
        # so its Aggregator reports one finding with the distinct-value summary (aggregate.py).
        self._solo: dict[str, int] = {}
        self._folded: dict[str, _Open] = {}
        # Where the last cause was placed: an `outcome` rule's match on that same line (the
        # engine gives a line's outcome hits last) is a fact of the cause's incident, not one of
        # its own: "Job failed: exit code 137" under the OOM kill that explains it.
        self._cause: tuple[tuple[str, int], _Open] | None = None

    def add(self, match: Match) -> Finding | None:
        """Count one match into the incident it belongs to; its first fact when the match opened one."""
        self._seq += 1
        rule, rec = match.rule, match.hit.record
        before = len(self._all)
        if rule.info.outcome and self._cause is not None and self._cause[0] == _spot(match.hit):
            inc = self._cause[1]
            inc.roles.setdefault(rule.id, "outcome")
        else:
            inc = self._place(match)
            inc.roles[rule.id] = rule.incident.role if rule.incident else "root"
            if not rule.info.outcome:
                self._cause = (_spot(match.hits[-1]), inc)  # a sequence completes on its last hit
        first = inc.agg.add(match)
        inc.rules.add(rule.id)
        if rule.recovered_by is not None:
            inc.recoverable.add(rule.id)
        ts = rec.ts
        if ts is not None:
            inc.first = ts if inc.first is None else min(inc.first, ts)
            inc.last = ts if inc.last is None else max(inc.last, ts)
        inc.last_by_rule[(rule.id, rec.host)] = (ts, self._seq)
        self._recovered.pop((rule.id, rec.host), None)  # a recovery counts only after the latest failure
        return first if len(self._all) > before else None

    def recover(self, rule: Rule, host: Any, ts: datetime | None) -> None:
        """`rule`'s recovery was seen on `host` at `ts` (or now, in input order)."""
        self._seq += 1
        # The first recovery since the rule last failed there: "recovered at" is when it came back.
        self._recovered.setdefault((rule.id, host), (ts, self._seq))

    # --- placing a match ---------------------------------------------------------------------

    def _place(self, match: Match) -> _Open:
        spec = match.rule.incident
        if spec is None:
            key = finding_key(match)
            inc = self._by_finding.get(key)
            if inc is None:
                rule_id = match.rule.id
                if rule_id in self._folded or self._solo.get(rule_id, 0) >= MAX_DISTINCT:
                    if rule_id not in self._folded:
                        self._folded[rule_id] = self._new(None, f"rule:{rule_id}", None)
                    return self._folded[rule_id]
                self._solo[rule_id] = self._solo.get(rule_id, 0) + 1
                inc = self._by_finding[key] = self._new(None, f"rule:{rule_id}", None)
            return inc
        host = match.hit.record.host
        recent = self._open.setdefault((spec.family, host), [])
        caps = captures_of(match)
        for inc in reversed(recent):
            if _fits(inc, match, spec, caps):
                _remember_keys(inc, spec, caps)
                return inc
        if len(self._all) >= MAX_INCIDENTS and recent:
            self.overflowed += 1
            return recent[-1]
        inc = self._new(spec, spec.family, host)
        _remember_keys(inc, spec, caps)
        recent.append(inc)
        del recent[:-_OPEN_PER_FAMILY]
        return inc

    def _new(self, spec: IncidentSpec | None, family: str, host: Any) -> _Open:
        inc = _Open(spec, family, host, Aggregator(self.evidence_limit), len(self._all))
        self._all.append(inc)
        return inc

    # --- the result ------------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        """Incidents: known ongoing, then undecided, then recovered; most severe, then most recent first."""
        out: list[Incident] = []
        seen: dict[str, int] = {}
        self._fold()
        for inc in self._all:
            facts = _ordered_facts(inc)
            if not facts:
                continue
            status, at = self._status(inc, facts[0])
            fp = _incident_fingerprint(inc.family, facts[0], seen)
            out.append(Incident(tuple(facts), fp, status, at))
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        order = {"ongoing": 0, "unknown": 1, "recovered": 2}
        out.sort(key=lambda i: (order[i.status], -rank[i.severity],
                                -(i.last_seen or _EPOCH).timestamp(), i.root.rule_id, i.fingerprint))
        return out

    def _fold(self) -> None:
        """Fold each folded rule's own incidents into its shared one (once: they leave the builder)."""
        gone: set[int] = set()
        # The rule's own incidents first, in the order they opened, the shared one last: the values
        # its Aggregator tracks one by one are then the earliest.
        earlier: dict[str, list[Aggregator]] = {}
        for key, inc in list(self._by_finding.items()):
            target = self._folded.get(key[0])
            if target is None:
                continue
            del self._by_finding[key]
            gone.add(id(inc))
            earlier.setdefault(key[0], []).append(inc.agg)
            target.order = min(target.order, inc.order)
            target.rules |= inc.rules
            target.roles.update(inc.roles)
            target.recoverable |= inc.recoverable
            if inc.first is not None:
                target.first = inc.first if target.first is None else min(target.first, inc.first)
            if inc.last is not None:
                target.last = inc.last if target.last is None else max(target.last, inc.last)
            for k, moment in inc.last_by_rule.items():
                mine = target.last_by_rule.get(k)
                if mine is None or _after(moment, mine):
                    target.last_by_rule[k] = moment
        for rule_id, aggs in earlier.items():
            target = self._folded[rule_id]
            merged = aggs[0]
            for agg in (*aggs[1:], target.agg):
                merged = merged.merge(agg)
            target.agg = merged
        if gone:
            self._all = [inc for inc in self._all if id(inc) not in gone]

    def _status(self, inc: _Open, root: Finding) -> tuple[str, datetime | None]:
        rules = _recoverable_rules(inc, root)
        if not rules:
            return "unknown", None
        latest: Moment | None = None
        for (rule_id, host), last in inc.last_by_rule.items():
            if rule_id not in rules:
                continue
            back = self._recovered.get((rule_id, host))
            if back is None or not _after(back, last):
                return "ongoing", None
            latest = back if latest is None or _after(back, latest) else latest
        return ("recovered", latest[0]) if latest is not None else ("ongoing", None)


def _fits(inc: _Open, match: Match, spec: IncidentSpec, caps: dict[str, str]) -> bool:
    ts = match.hit.record.ts
    if ts is not None and inc.first is not None and inc.last is not None:
        gap = max((inc.first - ts).total_seconds(), (ts - inc.last).total_seconds(), 0.0)
        window = max(spec.within, inc.spec.within if inc.spec else 0.0)
        if gap > window:
            return False
    if spec.once and match.rule.id in inc.rules:
        return False
    return all(normalize(caps[k]) == inc.keys[k] for k in spec.key if k in caps and k in inc.keys)


def _spot(hit: Hit) -> tuple[str, int]:
    origin = hit.record.origin
    return (origin.path, origin.line)


def _remember_keys(inc: _Open, spec: IncidentSpec, caps: dict[str, str]) -> None:
    for k in spec.key:
        if k in caps and k not in inc.keys:
            inc.keys[k] = normalize(caps[k])


def _ordered_facts(inc: _Open) -> list[Finding]:
    """The root (most severe root-role fact, earliest first) and then the others by first seen."""
    facts = inc.agg.findings()
    if not facts:
        return []
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    root = min(facts, key=lambda f: (inc.roles.get(f.rule_id, "root") != "root", -rank[f.severity], f.first_seen or _EPOCH,
                                     f.rule_id, f.fingerprint))
    rest = sorted((f for f in facts if f is not root), key=lambda f: (f.first_seen or _EPOCH, f.rule_id, f.fingerprint))
    return [root, *rest]


def _recoverable_rules(inc: _Open, root: Finding) -> set[str]:
    if root.rule_id in inc.recoverable:
        return {root.rule_id}
    return inc.recoverable


def _after(a: Moment, b: Moment) -> bool:
    """Whether moment `a` comes after `b`: by event time when both have one, else by input order."""
    if a[0] is not None and b[0] is not None and a[0] != b[0]:
        return a[0] > b[0]
    return a[1] > b[1]


def _incident_fingerprint(family: str, root: Finding, seen: dict[str, int]) -> str:
    # Stable across runs of the same log: the family and the root finding's identity, plus an
    # ordinal for a repeat of the same failure (the second OOM kill of the same container).
    base = f"{family}\0{root.rule_id}\0{root.fingerprint}"
    n = seen.get(base, 0)
    seen[base] = n + 1
    return hashlib.sha256(f"{base}\0{n}".encode()).hexdigest()[:32]

