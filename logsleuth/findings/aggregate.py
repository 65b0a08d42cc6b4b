"""Stage 4, aggregate: matches become findings (count, first/last seen, evidence, fingerprint).

Findings are keyed by rule and fingerprint. An `Aggregator` can be filled by several workers or
partitions and merged: merging is associative and gives what one pass over everything gives,
because every kept value is chosen by an order that does not depend on arrival (earliest
evidence by time, path and line).

Bounded: a rule whose captures explode (a million `lookup host-N...: no such host` lines, each
its own host) would make a finding per value. Past `max_distinct` fingerprints a rule's further
values are counted into one overflow bucket instead, and `findings()` folds all of that rule's
matches into one finding that says how many distinct values there were and shows the 20 most
frequent of the values tracked. Nothing is dropped: every match is counted.
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache, partial
from typing import Any, Callable, Iterable

from logsleuth.findings.correlate import Match
from logsleuth.match.engine import Hit
from logsleuth.model import SEVERITIES, Evidence, Finding, Record
from logsleuth.read.text import clean

_VOLATILE = re.compile(r"\d{4,}|[0-9a-f]{12,}", re.IGNORECASE)
# `{name}`, or `{name|fallback}` as in a rule's diagnosis and fix (report/views.py).
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)(?:\|([^{}\n]*))?\}")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
MAX_EVIDENCE_TEXT = 2000
MAX_DISTINCT = 1000  # fingerprints per rule before its findings fold into one
TOP_VALUES = 20
_MAX_COUNTED = 1_000_000  # distinct values counted exactly per folded rule (8-byte hashes, ~40 MB at most)


def normalize(value: str) -> str:
    """A captured value as it enters a fingerprint: case-folded, long numbers and hex ids masked."""
    return _VOLATILE.sub("#", value.strip().lower())


def fingerprint(rule_id: str, captures: dict[str, str], keys: Iterable[str] | None) -> str:
    """Stable identity of "the same failure": rule id plus normalized captured values, nothing else."""
    names = sorted(captures if keys is None else keys)
    body = "\0".join([rule_id, *(f"{n}={normalize(captures.get(n, ''))}" for n in names)])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def render_message(template: str, captures: dict[str, str], record: Record) -> str:
    """Fill `{name}` placeholders from captures, then record fields; an unknown or empty one reads
    its `{name|fallback}`, else `?`."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        v: Any = captures.get(name)
        if v is None:
            v = record.origin.path if name == "path" else record.get(name)
        if v is None or v == "":
            return "?" if m.group(2) is None else m.group(2)
        return str(v)
    return _PLACEHOLDER.sub(value, template)


def evidence_of(hit: Hit) -> Evidence:
    rec = hit.record
    text = clean(rec.raw) if rec.raw else rec.message
    if len(text) > MAX_EVIDENCE_TEXT:
        text = text[:MAX_EVIDENCE_TEXT] + " …"
    return Evidence(rec.origin.path, rec.origin.line, text, rec.ts, tuple(clean(c) for c in hit.context))


def _order(e: Evidence) -> tuple[datetime, str, int]:
    return (e.ts or _EPOCH, e.path, e.line)


def _given(evidence: Evidence) -> Evidence:
    return evidence


def _hit_order(hit: Hit) -> tuple[datetime, str, int]:
    """`_order` of the hit's evidence, read from the record without building the evidence."""
    rec = hit.record
    return (rec.ts or _EPOCH, rec.origin.path, rec.origin.line)


@dataclass
class _Acc:
    match: Match  # the earliest match: its captures and message stand for the finding
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    evidence: list[Evidence] = field(default_factory=list)


def _min_ts(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max_ts(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Overflow:
    """A rule's matches past its first `max_distinct` fingerprints, and how many distinct values they had."""

    acc: _Acc
    hashes: set[int] = field(default_factory=set)
    more: bool = False  # more than _MAX_COUNTED distinct values: `hashes` stopped growing

    def count_value(self, fp: str) -> None:
        if len(self.hashes) < _MAX_COUNTED:
            self.hashes.add(int(fp[:16], 16))
        elif int(fp[:16], 16) not in self.hashes:
            self.more = True


class Aggregator:
    """Collects matches into findings, keeping at most `evidence_limit` samples each and at most
    `max_distinct` findings per rule (see the module docstring)."""

    def __init__(self, evidence_limit: int = 5, max_distinct: int = MAX_DISTINCT) -> None:
        self.evidence_limit = evidence_limit
        self.max_distinct = max_distinct
        self._accs: dict[tuple[str, str], _Acc] = {}
        self._distinct: dict[str, int] = {}  # rule id -> fingerprints in _accs
        self._overflow: dict[str, _Overflow] = {}

    def add(self, match: Match) -> Finding | None:
        """Count `match` in; the finding so far when this match is its first (for live output)."""
        key = finding_key(match)
        acc = self._accs.get(key)
        new = acc is None
        if acc is None:
            acc = self._slot(key, match)
            if acc is None:
                return None
        self._count(acc, match)
        return _finding(key[1], acc) if new else None

    def _slot(self, key: tuple[str, str], match: Match) -> _Acc | None:
        """A new finding's accumulator, or None when the rule is full and `match` went to its overflow."""
        rule_id = key[0]
        if self._distinct.get(rule_id, 0) < self.max_distinct:
            self._distinct[rule_id] = self._distinct.get(rule_id, 0) + 1
            acc = self._accs[key] = _Acc(match)
            return acc
        over = self._overflow.get(rule_id)
        if over is None:
            over = self._overflow[rule_id] = _Overflow(_Acc(match))
        over.count_value(key[1])
        self._count(over.acc, match)
        return None

    def _count(self, acc: _Acc, match: Match) -> None:
        times = [h.record.ts for h in match.hits if h.record.ts is not None]
        first, last = (min(times), max(times)) if times else (None, None)
        if acc.count and _hit_order(match.hit) < _hit_order(acc.match.hit):
            acc.match = match
        acc.count += 1
        acc.first, acc.last = _min_ts(acc.first, first), _max_ts(acc.last, last)
        for h in match.hits:
            self._keep(acc, _hit_order(h), partial(evidence_of, h))

    def add_evidence(self, match: Match) -> None:
        """Keep `match`'s lines as evidence of its finding without counting it (a duplicate entry)."""
        key = finding_key(match)
        acc = self._accs.get(key)
        if acc is None:
            over = self._overflow.get(key[0])
            if over is None or self._distinct.get(key[0], 0) < self.max_distinct:
                self.add(match)
                return
            acc = over.acc
        for h in match.hits:
            self._keep(acc, _hit_order(h), partial(evidence_of, h))

    def _keep(self, acc: _Acc, order: tuple[datetime, str, int], make: Callable[[], Evidence]) -> None:
        """Keep the earliest `evidence_limit` samples; evidence is built only when it makes the cut.

        In a storm of repeats this skips cleaning and copying the text of every later match.
        """
        if len(acc.evidence) >= self.evidence_limit and order >= _order(acc.evidence[-1]):
            return
        evidence = make()
        if evidence in acc.evidence:
            return
        keys = [_order(e) for e in acc.evidence]
        acc.evidence.insert(bisect_right(keys, order), evidence)  # after equal keys, as a stable sort
        del acc.evidence[self.evidence_limit:]

    def merge(self, other: Aggregator) -> Aggregator:
        """A new aggregator holding both; merge(a, merge(b, c)) == merge(merge(a, b), c) as long as no rule
        passes `max_distinct` (past it, which values are tracked one by one depends on the order)."""
        out = Aggregator(self.evidence_limit, self.max_distinct)
        for src in (self, other):
            for key, acc in src._accs.items():
                mine = out._accs.get(key)
                if mine is None:
                    copy = _Acc(acc.match, acc.count, acc.first, acc.last, list(acc.evidence))
                    if out._distinct.get(key[0], 0) < out.max_distinct:
                        out._distinct[key[0]] = out._distinct.get(key[0], 0) + 1
                        out._accs[key] = copy
                    else:
                        over = out._overflow.get(key[0])
                        if over is None:
                            over = out._overflow[key[0]] = _Overflow(_Acc(acc.match))
                        over.count_value(key[1])
                        out._absorb(over.acc, copy)
                    continue
                out._absorb(mine, acc)
            for rule_id, over in src._overflow.items():
                mine_over = out._overflow.get(rule_id)
                if mine_over is None:
                    mine_over = out._overflow[rule_id] = _Overflow(_Acc(over.acc.match))
                for h in over.hashes:
                    if len(mine_over.hashes) < _MAX_COUNTED:
                        mine_over.hashes.add(h)
                    else:
                        mine_over.more = True
                mine_over.more = mine_over.more or over.more
                out._absorb(mine_over.acc, over.acc)
        return out

    def _absorb(self, mine: _Acc, acc: _Acc) -> None:
        if not mine.count or _hit_order(acc.match.hit) < _hit_order(mine.match.hit):
            mine.match = acc.match
        mine.count += acc.count
        mine.first, mine.last = _min_ts(mine.first, acc.first), _max_ts(mine.last, acc.last)
        for e in acc.evidence:
            self._keep(mine, _order(e), partial(_given, e))

    def findings(self) -> list[Finding]:
        """Findings, most severe first, then earliest, then by rule id; a rule past `max_distinct` as one."""
        out = [_finding(fp, acc) for (rule_id, fp), acc in self._accs.items() if rule_id not in self._overflow]
        out += [self._folded(rule_id, over) for rule_id, over in self._overflow.items()]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        out.sort(key=lambda f: (-rank[f.severity], f.first_seen or _EPOCH, f.rule_id, f.fingerprint))
        return out

    def _folded(self, rule_id: str, over: _Overflow) -> Finding:
        """One finding for all of a rule's matches: the counts summed, the earliest evidence, the top values."""
        tracked = [acc for (rid, _fp), acc in self._accs.items() if rid == rule_id]
        total = _Acc(over.acc.match)
        for acc in (*tracked, over.acc):
            self._absorb(total, acc)
        distinct = len(tracked) + len(over.hashes)
        top = sorted(tracked, key=lambda a: (-a.count, _hit_order(a.match.hit)))[:TOP_VALUES]
        rule = total.match.rule
        names = sorted(rule.fingerprint if rule.fingerprint is not None else captures_of(total.match))
        shown = "; ".join(f"{_values(captures_of(a.match), names)} ({a.count:,}x)" for a in top)
        summary = (f"{'more than ' if over.more else ''}{distinct:,} distinct values of {', '.join(names) or 'the captures'}, "
                   f"top {len(top)} shown (of the first {len(tracked):,} tracked): {shown}")
        base = _finding(fingerprint(rule_id, {"*": "folded"}, None), total)
        variables = {n: f"<{distinct:,} distinct values>" for n in names}
        return Finding(rule=base.rule, message=f"{base.message} [{summary}]", fingerprint=base.fingerprint,
                       count=total.count, first_seen=total.first, last_seen=total.last,
                       variables=variables, evidence=base.evidence)


def _finding(fp: str, acc: _Acc) -> Finding:
    rule, captures = acc.match.rule, captures_of(acc.match)
    return Finding(
        rule=rule.info, message=render_message(rule.message, captures, acc.match.hit.record),
        fingerprint=fp, count=acc.count, first_seen=acc.first, last_seen=acc.last,
        variables=dict(sorted(captures.items())), evidence=tuple(acc.evidence),
    )


def _values(captures: dict[str, str], names: list[str]) -> str:
    return ", ".join(captures.get(n, "?") for n in names) or "?"


def finding_key(match: Match) -> tuple[str, str]:
    """The finding a match counts into: its rule and the fingerprint of its captures."""
    rule = match.rule
    return rule.id, _fingerprint_of(rule.id, tuple(captures_of(match).items()), rule.fingerprint)


@lru_cache(maxsize=4096)
def _fingerprint_of(rule_id: str, captures: tuple[tuple[str, str], ...], keys: tuple[str, ...] | None) -> str:
    # Each match is keyed three times (the report's findings, its incident's placement and the
    # incident's own findings), and a storm repeats the same values: hash each once.
    return fingerprint(rule_id, dict(captures), keys)


def captures_of(match: Match) -> dict[str, str]:
    """A match's captures; where its hits disagree, the first hit's value wins."""
    caps: dict[str, str] = {}
    for h in reversed(match.hits):
        caps.update(h.captures)
    return caps
