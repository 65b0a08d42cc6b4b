"""Stage 3, correlate: thresholds, sequences and absences over hits, on event time (never wall-clock).

Event time keeps batch scans of old archives right: a window is measured between the timestamps the
log itself carries. State is bounded: windows expire, each rule keeps at most `max_groups` groups
and each group at most `max_pending` open windows (a threshold's group at least its count).
A full rule forgets its least recently used group only when nothing is pending in it; otherwise a
new group's events join one shared overflow group (`folded` counts them): they are still counted
and can still fire, only no longer kept apart by `group_by`. Only an open window pushed out of a
full group is lost, and `dropped` counts those for the report.
"""
from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator

from logsleuth.match.engine import FOLLOW, RULE_ROLES, Event, Hit, Hits, Tick, is_windowed
from logsleuth.ruleset.loader import Correlation, Rule

GroupKey = tuple[Any, ...]
OVERFLOW: GroupKey = ("<overflow>",)  # the group events of a full rule's new groups share


@dataclass(frozen=True, slots=True)
class Match:
    """One occurrence of a rule: its hit, plus the hits that completed it (a sequence's second half)."""

    rule: Rule
    hit: Hit
    related: tuple[Hit, ...] = ()

    @property
    def hits(self) -> tuple[Hit, ...]:
        return (self.hit, *self.related)


@dataclass
class _Group:
    buffer: deque[Hit] = field(default_factory=deque)
    last_fire: datetime | None = None
    fired: bool = False


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def group_key(hit: Hit, names: tuple[str, ...]) -> GroupKey:
    """The values of `names` for a hit: captures first, then record fields."""
    out = []
    for n in names:
        v = hit.captures.get(n)
        out.append(v if v is not None else hit.record.get(n))
    return tuple(str(v) if isinstance(v, list) else v for v in out)


class Correlator:
    """Feeds on engine events and yields matches as soon as they are decided."""

    def __init__(self, max_groups: int = 10_000, max_pending: int = 1_000) -> None:
        self.max_groups = max_groups
        self.max_pending = max_pending
        self.dropped = 0
        self.folded = 0
        self.undecided = 0
        self._groups: dict[str, OrderedDict[GroupKey, _Group]] = {}
        self._deadlines: list[tuple[datetime, int, str, GroupKey, Hit]] = []
        self._seq = itertools.count()
        self._now: datetime | None = None

    def run(self, events: Iterable[Event]) -> Iterator[Match]:
        """Matches for a stream of events, each decided as soon as its event arrives."""
        for ev in events:
            if isinstance(ev, Tick):
                yield from self.feed(ev)
                continue
            # Recovery and signal hits travel with a record's hits but are not rule matches.
            hits = ev if all(h.probe.role in RULE_ROLES for h in ev) else tuple(h for h in ev if h.probe.role in RULE_ROLES)
            if hits:
                yield from self._record(hits)

    def _record(self, hits: Hits) -> Iterator[Match]:
        # A sequence completed by this record goes first, so its `supersedes` can hide rules on it.
        if len(hits) == 1:
            yield from self.feed(hits[0])
            return
        hidden: set[str] = set()
        for h in hits:
            if h.probe.role == FOLLOW:
                for m in self.feed(h):
                    hidden.update(m.rule.supersedes)
                    yield m
        # A sequence whose follow-up may share the match's entry (`same_entry`, a paste that lost
        # its newlines) and finds it there is complete now: it never waits in a window.
        complete: set[int] = set()
        for h in hits:
            window = h.rule.correlation.followed_by if h.rule.correlation else None
            if h.probe.role == FOLLOW or window is None or not window.same_entry or h.rule.id in hidden:
                continue
            follow = next((f for f in hits if f.probe.role == FOLLOW and f.rule.id == h.rule.id), None)
            if follow is not None:
                complete.add(id(h))
                hidden.update(h.rule.supersedes)
                yield Match(h.rule, h, (follow,))
        for h in hits:
            if h.probe.role != FOLLOW and h.rule.id not in hidden and id(h) not in complete:
                yield from self.feed(h)

    def feed(self, event: Hit | Tick) -> Iterator[Match]:
        if isinstance(event, Tick):
            yield from self._advance(event.ts)
            return
        ts = event.record.ts
        if ts is not None:
            yield from self._advance(ts)
        corr = event.rule.correlation
        if corr is None or not is_windowed(event.rule):
            yield Match(event.rule, event)
            return
        key, group = self._group(event.rule, group_key(event, corr.group_by))
        if event.probe.role == FOLLOW:
            yield from self._follow(event, corr, group)
        elif corr.followed_by or corr.not_followed_by:
            self._open(event, corr, group, key)
        else:
            yield from self._threshold(event, corr, group)

    def finish(self) -> Iterator[Match]:
        """Decide what is left at the end of input.

        An absence fires when its window closed before the last event time seen; one still open
        at the end is undecided (counted, not reported). Without timestamps, input order is all
        there is: an opening event nothing followed fires.
        """
        while self._deadlines:
            deadline, _, rule_id, key, hit = heapq.heappop(self._deadlines)
            if not self._pending(rule_id, key, hit):
                continue
            if self._now is not None and deadline <= self._now:
                yield Match(hit.rule, hit)
            else:
                self.undecided += 1
        for groups in self._groups.values():
            for g in groups.values():
                for hit in g.buffer:
                    corr = hit.rule.correlation
                    if corr and corr.not_followed_by and hit.record.ts is None:
                        yield Match(hit.rule, hit)

    # --- state -----------------------------------------------------------------------------------

    def _group(self, rule: Rule, key: GroupKey) -> tuple[GroupKey, _Group]:
        """The group `key` names, or the rule's overflow group when the rule is full (see the module docstring)."""
        groups = self._groups.setdefault(rule.id, OrderedDict())
        g = groups.get(key)
        if g is not None:
            groups.move_to_end(key)
            return key, g
        if len(groups) >= self.max_groups:
            oldest_key = next(iter(groups))
            if groups[oldest_key].buffer or oldest_key == OVERFLOW:
                self.folded += 1
                g = groups.get(OVERFLOW)
                if g is None:
                    g = groups[OVERFLOW] = _Group()
                return OVERFLOW, g
            del groups[oldest_key]  # nothing pending in it: forgetting it loses nothing
        g = groups[key] = _Group()
        return key, g

    def _pending(self, rule_id: str, key: GroupKey, hit: Hit) -> bool:
        groups = self._groups.get(rule_id)
        g = groups.get(key) if groups is not None else None
        return g is not None and any(h is hit for h in g.buffer)

    def _push(self, group: _Group, hit: Hit, keep: int = 0) -> None:
        if len(group.buffer) >= max(self.max_pending, keep):
            group.buffer.popleft()
            self.dropped += 1
        group.buffer.append(hit)

    # --- the three kinds ----------------------------------------------------------------------

    def _threshold(self, hit: Hit, corr: Correlation, g: _Group) -> Iterator[Match]:
        ts = hit.record.ts
        if g.fired and (ts is None or g.last_fire is None or _seconds(g.last_fire, ts) <= corr.within):
            g.last_fire = ts or g.last_fire
            yield Match(hit.rule, hit)
            return
        g.fired = False
        if ts is not None:
            while g.buffer and g.buffer[0].record.ts is not None and _seconds(g.buffer[0].record.ts, ts) > corr.within:
                g.buffer.popleft()
        self._push(g, hit, corr.threshold)  # a threshold past max_pending must still be reachable
        if len(g.buffer) >= corr.threshold:
            for h in g.buffer:
                yield Match(h.rule, h)
            g.buffer.clear()
            g.fired, g.last_fire = True, ts

    def _open(self, hit: Hit, corr: Correlation, g: _Group, key: GroupKey) -> None:
        self._push(g, hit)
        window = corr.not_followed_by
        if window is not None and hit.record.ts is not None:
            deadline = hit.record.ts + timedelta(seconds=window.within)
            heapq.heappush(self._deadlines, (deadline, next(self._seq), hit.rule.id, key, hit))

    def _follow(self, b: Hit, corr: Correlation, g: _Group) -> Iterator[Match]:
        window = corr.followed_by or corr.not_followed_by
        assert window is not None
        kept: deque[Hit] = deque()
        paired: list[Hit] = []
        for a in g.buffer:
            if a.record is b.record:
                kept.append(a)
            elif _within(a, b, window.within):
                paired.append(a)
            elif a.record.ts is not None and b.record.ts is not None and a.record.ts > b.record.ts:
                kept.append(a)
        g.buffer = kept
        if corr.followed_by:
            for a in paired:
                yield Match(a.rule, a, (b,))

    def _advance(self, now: datetime) -> Iterator[Match]:
        if self._now is None or now > self._now:
            self._now = now
        while self._deadlines and self._deadlines[0][0] < now:
            _, _, rule_id, key, hit = heapq.heappop(self._deadlines)
            if self._pending(rule_id, key, hit):
                self._groups[rule_id][key].buffer.remove(hit)
                yield Match(hit.rule, hit)


def _within(a: Hit, b: Hit, seconds: float) -> bool:
    ta, tb = a.record.ts, b.record.ts
    if ta is None or tb is None:
        return True  # no clock: order in the input is all there is
    return 0 <= _seconds(ta, tb) <= seconds
