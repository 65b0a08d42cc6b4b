"""Stage 4, aggregate: matches become findings (count, first/last seen, evidence, fingerprint).

Findings are keyed by rule and fingerprint. An `Aggregator` can be filled by several workers or
partitions and merged: merging is associative and gives what one pass over everything gives,
because every kept value is chosen by an order that does not depend on arrival (earliest
evidence by time, path and line).
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Iterable

from logsleuth.findings.correlate import Match
from logsleuth.match.engine import Hit
from logsleuth.model import SEVERITIES, Evidence, Finding, Record
from logsleuth.read.text import clean

_VOLATILE = re.compile(r"\d{4,}|[0-9a-f]{12,}", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
MAX_EVIDENCE_TEXT = 2000


def normalize(value: str) -> str:
    """A captured value as it enters a fingerprint: case-folded, long numbers and hex ids masked."""
    return _VOLATILE.sub("#", value.strip().lower())


def fingerprint(rule_id: str, captures: dict[str, str], keys: Iterable[str] | None) -> str:
    """Stable identity of "the same failure": rule id plus normalized captured values, nothing else."""
    names = sorted(captures if keys is None else keys)
    body = "\0".join([rule_id, *(f"{n}={normalize(captures.get(n, ''))}" for n in names)])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def render_message(template: str, captures: dict[str, str], record: Record) -> str:
    """Fill `{name}` placeholders from captures, then record fields; unknown names read `?`."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        v: Any = captures.get(name)
        if v is None:
            v = record.origin.path if name == "path" else record.get(name)
        return "?" if v is None or v == "" else str(v)
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


class Aggregator:
    """Collects matches into findings, keeping at most `evidence_limit` samples each."""

    def __init__(self, evidence_limit: int = 5) -> None:
        self.evidence_limit = evidence_limit
        self._accs: dict[tuple[str, str], _Acc] = {}

    def add(self, match: Match) -> Finding | None:
        """Count `match` in; the finding so far when this match is its first (for live output)."""
        key = finding_key(match)
        acc = self._accs.get(key)
        times = [h.record.ts for h in match.hits if h.record.ts is not None]
        first, last = (min(times), max(times)) if times else (None, None)
        new = acc is None
        if acc is None:
            acc = self._accs[key] = _Acc(match)
        elif _hit_order(match.hit) < _hit_order(acc.match.hit):
            acc.match = match
        acc.count += 1
        acc.first, acc.last = _min_ts(acc.first, first), _max_ts(acc.last, last)
        for h in match.hits:
            self._keep(acc, _hit_order(h), partial(evidence_of, h))
        return _finding(key[1], acc) if new else None

    def add_evidence(self, match: Match) -> None:
        """Keep `match`'s lines as evidence of its finding without counting it (a duplicate entry)."""
        acc = self._accs.get(finding_key(match))
        if acc is None:
            self.add(match)
            return
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
        """A new aggregator holding both; merge(a, merge(b, c)) == merge(merge(a, b), c)."""
        out = Aggregator(self.evidence_limit)
        for src in (self, other):
            for key, acc in src._accs.items():
                mine = out._accs.get(key)
                if mine is None:
                    out._accs[key] = _Acc(acc.match, acc.count, acc.first, acc.last, list(acc.evidence))
                    continue
                if _hit_order(acc.match.hit) < _hit_order(mine.match.hit):
                    mine.match = acc.match
                mine.count += acc.count
                mine.first, mine.last = _min_ts(mine.first, acc.first), _max_ts(mine.last, acc.last)
                for e in acc.evidence:
                    out._keep(mine, _order(e), partial(_given, e))
        return out

    def findings(self) -> list[Finding]:
        """Findings, most severe first, then earliest, then by rule id."""
        out = [_finding(fp, acc) for (_rule_id, fp), acc in self._accs.items()]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        out.sort(key=lambda f: (-rank[f.severity], f.first_seen or _EPOCH, f.rule_id, f.fingerprint))
        return out


def _finding(fp: str, acc: _Acc) -> Finding:
    rule, captures = acc.match.rule, captures_of(acc.match)
    return Finding(
        rule=rule.info, message=render_message(rule.message, captures, acc.match.hit.record),
        fingerprint=fp, count=acc.count, first_seen=acc.first, last_seen=acc.last,
        variables=dict(sorted(captures.items())), evidence=tuple(acc.evidence),
    )


def finding_key(match: Match) -> tuple[str, str]:
    """The finding a match counts into: its rule and the fingerprint of its captures."""
    return match.rule.id, fingerprint(match.rule.id, captures_of(match), match.rule.fingerprint)


def captures_of(match: Match) -> dict[str, str]:
    """A match's captures; where its hits disagree, the first hit's value wins."""
    caps: dict[str, str] = {}
    for h in reversed(match.hits):
        caps.update(h.captures)
    return caps
