"""Stage 2, match: find the records that rules' expressions accept, parsing as little as possible.

Every expression (a rule's `match` and the second halves of its sequence/absence windows) is a
*probe*. Probes with literals are found by one multi-literal scan (scanner.py) over blocks:
raw input blocks when the format keeps the message verbatim in its lines (journalctl short modes,
syslog, runner text), so only candidate entries are ever parsed; otherwise blocks made of the
parsed records' messages. Probes without literals run on every record.
"""
from __future__ import annotations

import signal
import threading
from bisect import bisect_right
from itertools import accumulate
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Collection, Iterable, Iterator, Sequence, Union

from logsleuth.read import entries
from logsleuth.ruleset.expr import Expression
from logsleuth.read.inputs import Opened, records, split_lines
from logsleuth.model import Record
from logsleuth.ruleset.loader import Rule
from logsleuth.match.scanner import Candidate, make_scanner
from logsleuth.read.escapes import escaped_forms, strip_escaped_ansi
from logsleuth.read.text import clean_bytes

MAIN, FOLLOW = "main", "follow"
# Probes that are not findings: RECOVER is a rule's `recovered_by` (the failure stopped), SIGNAL
# an extra probe the pipeline asks for (error lines that no rule may explain). The correlator
# sees neither; the findings stage reads them beside it.
RECOVER, SIGNAL = "recover", "signal"
RULE_ROLES = frozenset({MAIN, FOLLOW})
_BATCH = 2048  # records per message block on the parsed path
# Seconds one probe may spend on one record. `rules lint` rejects the known catastrophic regex
# shapes, but a user rule it cannot prove linear may still meet the one line that makes it
# exponential: that record is given up for that rule, with a warning, and the scan goes on.
RECORD_BUDGET = 2.0
_MAX_CARRY = 8 << 20


@dataclass(frozen=True, slots=True)
class Probe:
    """One expression to find: a rule's own match (MAIN) or what must follow it (FOLLOW)."""

    rule: Rule
    role: str
    expr: Expression


@dataclass(slots=True)
class Hit:
    """A record accepted by a probe, with its captures and, if the rule asks, the lines after it."""

    probe: Probe
    record: Record
    captures: dict[str, str]
    context: list[str] = field(default_factory=list)

    @property
    def rule(self) -> Rule:
        return self.probe.rule


@dataclass(frozen=True, slots=True)
class Tick:
    """Event time has reached `ts` (absence windows that end before it can be decided)."""

    ts: datetime


# One record's hits travel together: the correlator must see all of them before deciding
# (a sequence completed on the record may supersede a rule on it), and a live stream must not
# wait for the next record to learn that this one is complete.
Hits = tuple[Hit, ...]
Event = Union[Hits, Tick]


def is_windowed(rule: Rule) -> bool:
    """Whether the rule's hits wait for the correlator (threshold, sequence, absence)."""
    corr = rule.correlation
    return corr is not None and (corr.threshold > 1 or corr.followed_by is not None or corr.not_followed_by is not None)


class Engine:
    """Rules compiled into probes and one literal scanner; `match` turns inputs into hits."""

    def __init__(self, rules: Sequence[Rule], backend: str = "auto", live: bool = False,
                 signals: Sequence[Probe] = ()) -> None:
        # live: a followed stream (`journalctl -f`) pauses for minutes; nothing may wait for more
        # input, so records are matched one by one and a block's last entry is not held back.
        self.live = live
        self._batch = 1 if live else _BATCH
        self.rules = list(rules)
        probes: list[Probe] = []
        for r in self.rules:
            probes.append(Probe(r, MAIN, r.expr))
            corr = r.correlation
            for window in (corr.followed_by, corr.not_followed_by) if corr else ():
                if window is not None:
                    probes.append(Probe(r, FOLLOW, window.expr))
            if r.recovered_by is not None:
                probes.append(Probe(r, RECOVER, r.recovered_by))
        probes.extend(signals)
        self.probes = probes
        self.always = tuple(p for p in probes if p.expr.literals is None)
        literal_ids: dict[bytes, int] = {}
        by_literal: list[dict[int, Probe]] = []  # by id(): a Probe's == compares whole rules
        for p in probes:
            for lit in sorted(p.expr.literals or ()):
                # A literal is also looked for as JSON strings write it (`\"`, `\u003e`): the
                # decoded variant a message test also tries holds it as the rule wrote it.
                for form in (lit, *sorted(escaped_forms(lit))):
                    if form not in literal_ids:
                        literal_ids[form] = len(by_literal)
                        by_literal.append({})
                    by_literal[literal_ids[form]].setdefault(id(p), p)
        # Recovery-only literals get the last ids and a scanner of their own: they are the healthy
        # polling lines (`Checking for jobs... received`), a quarter of a runner's log, and are
        # looked for only after a failure, from that line on (`_Recovery`), never block-wide.
        recover_only = [all(p.role == RECOVER for p in ps.values()) for ps in by_literal]
        order = sorted(range(len(by_literal)), key=recover_only.__getitem__)
        literals = list(literal_ids)
        self.literals = [literals[i] for i in order]
        self._by_literal = [tuple(by_literal[i].values()) for i in order]
        self._first_recover = recover_only.count(False)
        self._recover_only = frozenset(range(self._first_recover, len(order)))
        # rule id -> hosts where it failed and has not recovered since: only their recovery is looked for
        self._armed: dict[str, set[str | None]] = {}
        self._armed_rules: set[str] = set()
        self.armed_version = 0  # bumped whenever _armed may have changed (_Recovery caches on it)
        self._recover_rules = [frozenset(p.rule.id for p in ps) for ps in self._by_literal]
        self._lit_probes = [tuple((id(p), p, p.rule.id if p.role == RECOVER else None) for p in ps)
                            for ps in self._by_literal]
        self._lit_plain = [None if any(p.role == RECOVER for p in ps) else ps for ps in self._by_literal]
        self.scanner = make_scanner(self.literals[:self._first_recover], backend)
        self.recovery_scanner = make_scanner(self.literals[self._first_recover:], backend)
        self._accept_cache: dict[frozenset[str], frozenset[int]] = {}
        self._recovery_only = False  # inside recoveries(): only recovery probes are looked for
        self.budget = RECORD_BUDGET if hasattr(signal, "setitimer") else 0.0
        self._alarm_users = 0  # evaluations and inputs under way with our SIGALRM handler on (_alarm_on)
        self._alarm_previous: Any = signal.SIG_DFL
        self.slow: list[str] = []  # warnings: records a probe was given up on (RECORD_BUDGET)
        self.needs_clock = any(r.correlation and r.correlation.not_followed_by for r in self.rules)
        self._superseded = {r.id: {s for s in r.supersedes} for r in self.rules}
        self._max_context = max((r.correlation.context_lines for r in self.rules if r.correlation), default=0)

    @property
    def backend(self) -> str:
        return self.scanner.name

    # --- evaluation of one record ----------------------------------------------------------

    def evaluate(self, record: Record, probes: Iterable[Probe]) -> list[Hit]:
        """Run `probes` on one record; a generic or superseded rule gives way to a specific one."""
        hits: list[Hit] = []
        timed = self._timed()
        if timed:
            self._alarm_on()
        try:
            for p in probes:
                if p.role == RECOVER and record.host not in self._armed.get(p.rule.id, ()):
                    continue
                caps: dict[str, str] = {}
                if self._accepts(p, record, caps, timed):
                    hits.append(Hit(p, record, caps))
        finally:
            if timed:
                self._alarm_off()
        if len(hits) > 1:
            hits = self._resolve(hits)
        # After _resolve: a failure hidden by a more specific rule is not this rule's to recover
        # from (looking for its recovery cost a tenth of the 200 MB bench), and the parent of a
        # parallel scan replays exactly these hits (track_armed).
        for h in hits:
            self._track(h)
        return hits

    def _timed(self) -> bool:
        """Whether probes run under the SIGALRM budget: signals reach only the main thread."""
        return self.budget > 0 and threading.current_thread() is threading.main_thread()

    def _alarm_on(self) -> None:
        """Install the budget's SIGALRM handler, or count one more user of it (_alarm_off).

        Once per input (match), not per record: two signal.signal calls per evaluated record were
        a tenth of the engine's own time on the 200 MB bench. Counted, so interleaved users (a
        generator suspended while another input is matched) restore it only when the last ends."""
        if self._alarm_users == 0:
            previous = signal.signal(signal.SIGALRM, _over_budget)
            self._alarm_previous = signal.SIG_DFL if previous is None else previous  # None: not set from Python
        self._alarm_users += 1

    def _alarm_off(self) -> None:
        self._alarm_users -= 1
        if self._alarm_users == 0:
            signal.signal(signal.SIGALRM, self._alarm_previous)

    def _accepts(self, p: Probe, record: Record, caps: dict[str, str], timed: bool) -> bool:
        if not timed:
            return p.expr.predicate(record, caps)
        signal.setitimer(signal.ITIMER_REAL, self.budget)
        try:
            return p.expr.predicate(record, caps)
        except _OverBudget:
            where = f"{record.origin.path}:{record.origin.line}" if record.origin else "a record"
            self.slow.append(f"{where}: rule {p.rule.id!r} took over {self.budget:g} s on this record and was "
                             "given up there (a regex that is catastrophic on this line? see `rules lint`)")
            return False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _track(self, h: Hit) -> None:
        self.armed_version += 1
        track_armed(self._armed, (h,))
        rule = h.probe.rule.id
        if self._armed.get(rule):
            self._armed_rules.add(rule)
        else:
            self._armed_rules.discard(rule)

    def _resolve(self, hits: list[Hit]) -> list[Hit]:
        main = [h for h in hits if h.probe.role == MAIN]
        # Only a hit that is a finding by itself explains the event: a threshold or sequence
        # rule's hit may never fire (the correlator applies its `supersedes` when it does).
        deciding = [h for h in main if not is_windowed(h.rule)]
        hidden: set[str] = set()
        for h in deciding:
            hidden |= self._superseded[h.rule.id]
        specific = {h.rule.info.category for h in deciding if not h.rule.info.generic}
        if specific:
            hidden |= {h.rule.id for h in main
                       if h.rule.info.generic and (not h.rule.info.outcome or h.rule.info.category in specific)}
        kept = [h for h in hits if h.probe.role != MAIN or h.rule.id not in hidden]
        # A verdict after its cause: the incident builder files the outcome under the cause.
        kept.sort(key=lambda h: h.rule.info.outcome)
        return kept

    def _probes_for(self, literal_ids: Collection[int]) -> Sequence[Probe]:
        # Called for every candidate record: the probes of a lone literal with no recovery probe
        # are a ready list; otherwise each probe with its recovery rule's id looked up once (_lit_probes).
        if len(literal_ids) == 1 and not self.always:
            for i in literal_ids:
                ready = self._lit_plain[i]
                if ready is not None:
                    return ready
        armed = self._armed_rules
        seen: dict[int, Probe] = {id(p): p for p in self.always}
        for i in literal_ids:
            for key, p, recovers in self._lit_probes[i]:
                if recovers is None or recovers in armed:
                    seen[key] = p
        return list(seen.values())

    def _wanted(self, literal_ids: Iterable[int]) -> bool:
        """Whether a candidate line is worth parsing: a recovery probe counts only once its rule failed.

        Healthy polling lines (`Checking for jobs... received`) are most of a runner's log; they
        are recovery candidates, and parsing each would cost more than the whole scan.
        """
        if self.always:
            return True
        armed = self._armed_rules
        for i in literal_ids:
            if i not in self._recover_only or (armed and not armed.isdisjoint(self._recover_rules[i])):
                return True
        return False

    # --- inputs ------------------------------------------------------------------------------

    def match(self, opened: Opened) -> Iterator[Event]:
        """Hits (and clock ticks) for one opened input, in input order."""
        timed = self._timed()
        if timed:
            self._alarm_on()
        try:
            yield from self._match(opened)
        finally:
            if timed:
                self._alarm_off()

    def _match(self, opened: Opened) -> Iterator[Event]:
        if opened.records is None and not self.always:
            if opened.format.raw_message:
                yield from self._match_raw(opened)
                return
            if opened.format.message_of is not None:
                yield from self._match_messages(opened)
                return
        yield from self.match_records(records(opened))

    def set_armed(self, armed: dict[str, set[str | None]]) -> None:
        """Carry on from failures still waiting for their recovery (rule id -> hosts), as a parallel
        scan's parent does between its workers' inputs."""
        self._armed = {rule: set(hosts) for rule, hosts in armed.items() if hosts}
        self._armed_rules = set(self._armed)
        self.armed_version += 1

    def forget_failures(self) -> None:
        """Start an input afresh: no failure is waiting for its recovery. A worker that matches
        several ranges or files in turn calls this before each (the parent carries what matters
        across them, `recoveries`)."""
        # New objects, not cleared ones: a caller may hold the old state (fanout.py hands it on).
        self.set_armed({})

    def recoveries(self, opened: Opened, armed: dict[str, set[str | None]]) -> Iterator[Hits]:
        """The recoveries, in `opened`, of failures seen before it: the first recovery hit of each
        armed (rule id -> hosts) pair, reading only as far as the last of them.

        A file split over workers (parallel.py) has ranges matched by engines that never saw the
        ranges before theirs; a failure at the end of one range may recover at the start of the
        next, before that range's engine had a reason to look. The parent asks for those here.
        """
        saved = self._armed, self._armed_rules, self._recovery_only
        self.set_armed(armed)
        self._recovery_only = True
        try:
            if self._armed_rules and self._recover_only and opened.records is None:
                if opened.format.raw_message:
                    events: Iterator[Event] = self._match_raw(opened)
                elif opened.format.message_of is not None:
                    events = self._match_messages(opened)
                else:
                    events = iter(())
                for ev in events:
                    if not isinstance(ev, Tick):
                        yield ev
                    if not self._armed_rules:
                        return
        finally:
            self._armed, self._armed_rules, self._recovery_only = saved
            self.armed_version += 1

    def match_records(self, records: Iterable[Record]) -> Iterator[Event]:
        """The parsed path: every record is parsed; a block of messages is scanned for literals."""
        batch: list[Record] = []
        for rec in records:
            batch.append(rec)
            if len(batch) >= self._batch:
                yield from self._match_batch(batch)
                batch = []
        if batch:
            yield from self._match_batch(batch)

    def _scan_texts(self, texts: list[str]) -> dict[int, set[int]]:
        """Which of `texts` hold which literals: one scan over them joined into a block."""
        if not self.literals:
            return {}
        return self._scan_parts([text.encode("utf-8", "replace") for text in texts])

    def _scan_parts(self, parts: list[bytes]) -> dict[int, set[int]]:
        block = b"\n".join(parts)
        if strip_escaped_ansi(block) is not block:  # colour codes written as text (rare): per text
            parts = [strip_escaped_ansi(b) for b in parts]
            block = b"\n".join(parts)
        starts = [0, *accumulate(len(b) + 1 for b in parts[:-1])]
        found: dict[int, set[int]] = {}
        for line_start, _end, ids in self._all_candidates(block):
            found.setdefault(bisect_right(starts, line_start) - 1, set()).update(ids)
        return found

    def _all_candidates(self, block: bytes) -> list[Candidate]:
        """Candidates for every literal, recovery-only ones included (blocks of parsed messages,
        and raw blocks whose offsets shift under cleaning: both rarer than the raw fast path)."""
        found = self.scanner.candidates(block)
        if not self._recover_only:
            return found
        first = self._first_recover
        found += [(start, end, frozenset(i + first for i in ids))
                  for start, end, ids in self.recovery_scanner.candidates(block)]
        return sorted(found, key=lambda c: c[0])

    def _match_batch(self, batch: list[Record]) -> Iterator[Event]:
        found = self._scan_texts([rec.message for rec in batch])
        # A hit that asks for the lines after it is held back until they have been read, and
        # so are the hits behind it, to keep input order.
        context_wanted: list[Hit] = []
        held: list[Hits] = []
        for i, rec in enumerate(batch):
            if context_wanted:
                self._feed_context(context_wanted, rec.raw or rec.message)
                if not context_wanted:
                    yield from held
                    held = []
            line_ids = found.get(i)
            if line_ids is None and not self.always:
                continue
            hits = self.evaluate(rec, self._probes_for(line_ids or ()))
            context_wanted += [h for h in hits if self._context_lines(h)]
            if not hits:
                continue
            if context_wanted or held:
                held.append(tuple(hits))
            else:
                yield tuple(hits)
        yield from held
        if self.needs_clock:
            ts = _last_ts(batch)
            if ts is not None:
                yield Tick(ts)

    def _context_lines(self, hit: Hit) -> int:
        corr = hit.rule.correlation
        return corr.context_lines if corr and hit.probe.role == MAIN else 0

    def _feed_context(self, pending: list[Hit], text: str) -> None:
        for h in list(pending):
            h.context.append(text)
            if len(h.context) >= self._context_lines(h):
                pending.remove(h)

    def _match_raw(self, opened: Opened) -> Iterator[Event]:
        """The raw path: scan raw blocks, parse only the entries holding a literal."""
        fmt = opened.format
        # Lines are counted here, once, as each chunk is matched (_Lines): the reader's count
        # and the engine's own (for line numbers) were two passes over every byte.
        opened.count_lines = False
        first = opened.ctx.line + opened.lines_read
        multi_line = (fmt.continuation is not None or fmt.wrapped is not None) and not self.live
        chunks = entries.entry_chunks(opened.blocks, fmt, _MAX_CARRY) if multi_line else opened.blocks
        # Hits whose context lines run past their chunk wait for the next one, and so do the
        # events behind them, to keep input order.
        wanting: list[Hit] = []
        held: list[Event] = []
        line = first
        while True:
            if self._recovery_only and not self._armed_rules:
                return  # every failure asked about has recovered: read no further
            chunk = next(chunks, None)
            if chunk is None:
                break
            if not chunk:
                continue  # a block of NUL bytes only
            if wanting:
                need = max(self._context_lines(h) - len(h.context) for h in wanting)
                for text in entries.lines_after(chunk, -1, need):
                    self._feed_context(wanting, text.decode("utf-8", "replace"))
                if not wanting:
                    yield from held
                    held = []
            lines = _Lines(chunk, line)
            for ev in self._match_chunk(chunk, lines, opened):
                # A followed stream (live) may pause for hours: a hit is never held back for
                # context lines that have not arrived, it goes with what its chunk held.
                if not isinstance(ev, Tick) and not self.live:
                    wanting += [h for h in ev if len(h.context) < self._context_lines(h)]
                if wanting or held:
                    held.append(ev)
                else:
                    yield ev
            line = lines.at(len(chunk))
            opened.lines_read = line - first
        # The end of the input: what is still wanted will never come.
        yield from held

    def _match_messages(self, opened: Opened) -> Iterator[Event]:
        """The message path (JSON lines): read each line's message cheaply, parse only candidates."""
        fmt, first = opened.format, opened.ctx.line
        message_of = fmt.message_of
        assert message_of is not None
        blocks = iter(opened.blocks)
        while True:
            before = opened.lines_read  # as in _match_raw: the block's first line number
            block = next(blocks, None)
            if block is None:
                return
            lines = split_lines(block)
            found = self._scan_texts([message_of(line) for line in lines])
            for i in sorted(found):
                ids = found[i] & self._recover_only if self._recovery_only else found[i]
                if self._recovery_only and (not self._armed_rules or not ids):
                    continue
                if not self._wanted(ids):
                    continue
                opened.ctx.line = first + before + i
                for rec in fmt.parse(lines[i:i + 1], opened.ctx):
                    hits = self.evaluate(rec, self._probes_for(ids))
                    for h in hits:
                        n = self._context_lines(h)
                        h.context.extend(line.decode("utf-8", "replace") for line in lines[i + 1:i + 1 + n])
                    if hits:
                        yield tuple(hits)
            if self.needs_clock:
                yield from _tick(opened, lines[-1:], first + before + len(lines) - 1)

    def _match_chunk(self, chunk: bytes, lines: _Lines, opened: Opened) -> Iterator[Event]:
        """Candidates of one entry-aligned chunk, whose line numbers `lines` gives."""
        fmt = opened.format
        cleaned = strip_escaped_ansi(clean_bytes(chunk))
        recovery: _Recovery | None = None
        if cleaned is not chunk:  # offsets in `cleaned` differ from the chunk's: scan it all at once
            candidates = self._all_candidates(cleaned)
            if self._recovery_only:
                candidates = [c for c in candidates if not self._recover_only.isdisjoint(c[2])]
        else:
            candidates = [] if self._recovery_only else self.scanner.candidates(cleaned)
            if self._recover_only:
                recovery = _Recovery(self, chunk, fmt)
        heads = entries.entry_starts(chunk, cleaned, candidates, fmt) if candidates else {}
        if fmt.wrapped is not None and self.literals and not self._recovery_only:
            # A literal may span a wrapped line's join: scan each wrapped entry as the parser joins it.
            joined = entries.wrapped_entries(chunk, fmt)
            if joined:
                offsets = list(joined)
                found = self._scan_parts([strip_escaped_ansi(clean_bytes(text)) for text in joined.values()])
                for i, ids in found.items():
                    heads.setdefault(offsets[i], set()).update(ids)
        if heads or (recovery is not None and self._armed_rules):
            yield from self._match_entries(chunk, heads, lines, opened, recovery)
        if self.needs_clock:
            last = chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
            yield from _tick(opened, [chunk[last:].rstrip(b"\n")], lines.at(last))

    def _match_entries(self, chunk: bytes, heads: dict[int, set[int]], lines: _Lines,
                       opened: Opened, recovery: _Recovery | None) -> Iterator[Event]:
        """Parse and evaluate each candidate entry, given by its head line's offset in `chunk`,
        in order, with the recovery lines `recovery` finds for the rules failing at that point."""
        fmt = opened.format
        order, i, done = sorted(heads), 0, 0
        while True:
            main = order[i] if i < len(order) else None
            found = recovery.peek(done) if recovery is not None else None
            if found is not None and (main is None or found[0] <= main):
                head, ids = found
                if head == main:
                    ids, i = ids | heads[head], i + 1
            elif main is not None:
                head, ids, i = main, heads[main], i + 1
            else:
                return
            if not self._wanted(ids):
                done = head + 1
                continue
            end = entries.entry_end(chunk, head, fmt)
            done = end + 1
            opened.ctx.line = lines.at(head)
            for rec in fmt.parse(chunk[head:end].split(b"\n"), opened.ctx):
                hits = self.evaluate(rec, self._probes_for(ids))
                for h in hits:
                    n = self._context_lines(h)
                    if n:
                        h.context.extend(l.decode("utf-8", "replace") for l in entries.lines_after(chunk, end, n))
                if hits:
                    yield tuple(hits)

    def recovery_literals(self, armed: frozenset[str]) -> frozenset[int]:
        """Ids, in the recovery scanner, of the literals of the rules in `armed`."""
        got = self._accept_cache.get(armed)
        if got is None:
            first = self._first_recover
            got = frozenset(i - first for i in self._recover_only if not armed.isdisjoint(self._recover_rules[i]))
            self._accept_cache[armed] = got
        return got


class _Lines:
    """Line numbers of ascending offsets in one chunk, each byte's newline counted once."""

    __slots__ = ("chunk", "pos", "line")

    def __init__(self, chunk: bytes, first: int) -> None:
        self.chunk, self.pos, self.line = chunk, 0, first

    def at(self, offset: int) -> int:
        """The number of the line starting at `offset` (never before the last offset asked)."""
        self.line += self.chunk.count(b"\n", self.pos, offset)
        self.pos = offset
        return self.line


class _Recovery:
    """The next line of a raw chunk that may end a failure of the rules failing now, found on
    demand from the last entry evaluated (a failure arms its rule, `Engine.evaluate`)."""

    def __init__(self, engine: Engine, chunk: bytes, fmt: Any) -> None:
        self.engine, self.chunk, self.fmt = engine, chunk, fmt
        self.armed: tuple[frozenset[str], frozenset[bytes] | None] = (frozenset(), None)
        self.pending: tuple[int, int, set[int]] | None = None  # (head, line end, global ids)
        # From this offset on the chunk holds no recovery line for self.armed: a failure whose
        # recovery never comes in this chunk (another host's file) would otherwise send every
        # later candidate's peek scanning to the chunk's end again.
        self.none_from: int | None = None
        self.version = -1  # the engine's armed_version self.armed was computed at

    def _hosts(self, armed: frozenset[str]) -> frozenset[bytes] | None:
        """The hosts the failing rules wait on, as their names appear in a line (a record's host is
        a word of its head line, tagline.py and journal_fields.py); None when a line cannot be
        judged by its bytes: a failure of no host, or a name that is not plain ASCII."""
        names = {h for rule in armed for h in self.engine._armed.get(rule, ())}
        if None in names or not all(h.isascii() for h in names if h is not None):
            return None
        return frozenset(h.encode("ascii") for h in names if h is not None)

    def peek(self, done: int) -> tuple[int, set[int]] | None:
        """The next recovery entry at or after offset `done` as (head, literal ids), or None."""
        engine = self.engine
        if not engine._armed_rules:
            return None
        if self.version != engine.armed_version:  # per candidate entry: recompute only on a change
            self.version = engine.armed_version
            armed = frozenset(engine._armed_rules)
            hosts = self._hosts(armed)
            if (armed, hosts) != self.armed:  # what to look for changed: look again from here
                self.armed, self.pending, self.none_from = (armed, hosts), None, None
        armed, hosts = self.armed
        if self.pending is not None and self.pending[0] >= done:
            return self.pending[0], self.pending[2]
        if self.none_from is not None and done >= self.none_from:
            return None
        accept = engine.recovery_literals(armed)
        start = done
        while True:
            line = engine.recovery_scanner.next_line(self.chunk, start, accept)
            if line is None:
                # Lines skipped on the way stay skipped from any later `done`: another host's,
                # or inside an entry already evaluated.
                self.pending, self.none_from = None, done
                return None
            line_start, line_end, ids = line
            head = entries.entry_head(self.chunk, line_start, self.fmt)
            if hosts is not None and not any(h in self.chunk[head:line_end] for h in hosts):
                # A poll line of another host: a recovery only counts on the failing host, and
                # most of a shared log's poll lines are other hosts'; not worth parsing.
                start = line_end + 1
                continue
            if head >= done:
                first = engine._first_recover
                self.pending = (head, line_end, {i + first for i in ids})
                return head, self.pending[2]
            start = line_end + 1  # part of an entry already evaluated

def track_armed(armed: dict[str, set[str | None]], hits: Iterable[Hit]) -> None:
    """A failure arms its rule's recovery on its host; the first recovery there disarms it (only the
    first recovery after a failure matters: when it came back). The engine's own bookkeeping, and a
    parallel scan's parent replaying its workers' hits in input order (parallel.py, fanout.py)."""
    for h in hits:
        if h.probe.role == MAIN and h.rule.recovered_by is not None:
            armed.setdefault(h.rule.id, set()).add(h.record.host)
        elif h.probe.role == RECOVER:
            armed.get(h.rule.id, set()).discard(h.record.host)


class _OverBudget(Exception):
    """Raised by the SIGALRM handler inside a probe that ran past RECORD_BUDGET."""


def _over_budget(signum: int, frame: Any) -> None:
    raise _OverBudget


def _tick(opened: Opened, lines: list[bytes], lineno: int) -> Iterator[Tick]:
    if not lines:
        return
    saved = opened.ctx.line
    opened.ctx.line = lineno
    for rec in opened.format.parse(lines, opened.ctx):
        if rec.ts is not None:
            yield Tick(rec.ts)
    opened.ctx.line = saved


def _last_ts(batch: list[Record]) -> datetime | None:
    for rec in reversed(batch):
        if rec.ts is not None:
            return rec.ts
    return None
