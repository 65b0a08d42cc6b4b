"""`rules lint`: what loading accepts but a careful reviewer would flag (cost, proof, overlap, regex
risk, placeholders).

The placeholder check: people mask what identifies them before pasting a log (`lookup gitlab on
x.x.x.x:53`, `https://<host>/api/v4/jobs/request`, `runner=***`, `[MASKED]`), and a rule whose
capture accepts only the characters of a real value (`[0-9A-Fa-f.:]+` for a resolver) misses every
such paste. For each `match` example, every named capture that holds something people mask (an IP,
a hostname, a URL's host, or a group named like one: host, resolver, url, token, runner, ...) gets
each of PLACEHOLDERS in its place, in context, and the regex must still match across it; so must
an address the pattern spells out literally (`on 127\\.0\\.0\\.53:53`) outside any capture.
"""
from __future__ import annotations

import re
import re._constants as C
import signal
import threading
import time
import re._parser as P
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from logsleuth.ruleset.expr import And, Node, Not, Or
from logsleuth.errors import Location, LogsleuthError
from logsleuth.match.engine import Engine
from logsleuth.ruleset.loader import Rule
from logsleuth.authoring.examples import example_records, findings_for
from logsleuth.read.escapes import message_texts
from logsleuth.ruleset.expr import Test

_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT}
_TODO = re.compile(r"\btodo\b", re.IGNORECASE)


@dataclass(frozen=True)
class Warning_:
    location: Location
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.rule_id}: {self.message}"


def _regexes(node: Node) -> Iterator[re.Pattern[str]]:
    if isinstance(node, (And, Or)):
        for n in node.items:
            yield from _regexes(n)
    elif isinstance(node, Not):
        yield from _regexes(node.item)
    elif node.regex is not None:
        yield node.regex


def _nested_repeat(items: Any, inside: bool = False) -> bool:
    """A repeat (max > 1) inside another: catastrophic backtracking waiting to happen."""
    for op, av in items:
        if op in _REPEATS:
            lo, hi, body = av
            many = hi == C.MAXREPEAT or hi > 1
            if many and inside:
                return True
            if _nested_repeat(body, inside or many):
                return True
        elif op == C.SUBPATTERN:
            if _nested_repeat(av[-1], inside):
                return True
        elif op == C.BRANCH:
            if any(_nested_repeat(b, inside) for b in av[1]):
                return True
    return False


# --- regex risk: shapes that backtrack, and a measurement on hostile lines ------------------------
# Static shapes find the known catastrophic forms; the measurement finds the quadratic ones no
# shape list covers (a scan restarted at every position of a long run). Both are heuristics: the
# measurement is what `rules lint` trusts, the shapes say why.

PROBE_SIZES = (1 << 12, 1 << 15)
PROBE_BUDGET = 0.25  # seconds for one search of a 32 KB line; a linear regex needs about a millisecond
_CATEGORY_SAMPLE = {C.CATEGORY_SPACE: " ", C.CATEGORY_DIGIT: "0", C.CATEGORY_WORD: "a", C.CATEGORY_NOT_SPACE: "a",
                    C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_NOT_WORD: "-"}


def regex_risks(rx: re.Pattern[str]) -> list[str]:
    """Why `rx` may take more than linear time on a long line: [] when nothing was found."""
    out = []
    items = list(P.parse(rx.pattern, rx.flags))
    if _nested_repeat(items):
        out.append(f"nested quantifier in /{rx.pattern}/ can backtrack catastrophically")
    if _overlapping_branch(items):
        out.append(f"alternatives that can match the same text under a repeat in /{rx.pattern}/ "
                   "backtrack exponentially")
    slow = _measured_slow(rx)
    if slow is not None:
        out.append(f"/{rx.pattern}/ is not linear in line length: {slow}; start unbounded repeats at a "
                   r"boundary (\b, (?<!\S)) and bound them ({1,256})")
    return out


def _first_chars(items: Any) -> set[int] | None:
    """Characters a sequence can start with; None for "could be anything" (a class, `.`, a category)."""
    out: set[int] = set()
    for op, av in items:
        if op == C.LITERAL:
            out.add(av)
            return out
        if op == C.SUBPATTERN:
            inner = _first_chars(av[-1])
            return None if inner is None else out | inner
        if op == C.BRANCH:
            for b in av[1]:
                inner = _first_chars(b)
                if inner is None:
                    return None
                out |= inner
            return out
        if op in _REPEATS:
            inner = _first_chars(av[2])
            if inner is None:
                return None
            out |= inner
            if av[0] > 0:
                return out
            continue
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        return None
    return out


def _overlapping_branch(items: Any, under_repeat: bool = False) -> bool:
    """`(a|ab)*`: under an unbounded repeat, two alternatives that can start alike."""
    for op, av in items:
        if op in _REPEATS:
            if _overlapping_branch(av[2], under_repeat or av[1] == C.MAXREPEAT):
                return True
        elif op == C.SUBPATTERN:
            if _overlapping_branch(av[-1], under_repeat):
                return True
        elif op == C.BRANCH:
            if under_repeat:
                firsts = [_first_chars(b) for b in av[1]]
                for i, a in enumerate(firsts):
                    for b in firsts[i + 1:]:
                        if a is None or b is None or a & b:
                            return True
            if any(_overlapping_branch(b, under_repeat) for b in av[1]):
                return True
    return False


def adversarial_lines(rx: re.Pattern[str], size: int) -> list[str]:
    """Lines of `size` characters built from `rx`'s own pieces: each literal run, all of them joined,
    and one sample character of every class, each repeated to fill the line."""
    runs: list[str] = []
    chars: set[str] = set()
    run: list[str] = []

    def walk(items: Any) -> None:
        for op, av in items:
            if op == C.LITERAL:
                run.append(chr(av))
                continue
            if run:
                runs.append("".join(run))
                run.clear()
            if op in _REPEATS:
                walk(av[2])
            elif op == C.SUBPATTERN:
                walk(av[-1])
            elif op == C.BRANCH:
                for b in av[1]:
                    walk(b)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                walk(av[1])
            elif op == C.IN:
                for o, a in av:
                    if o == C.LITERAL:
                        chars.add(chr(a))
                    elif o == C.RANGE:
                        chars.add(chr(a[0]))
                    elif o == C.CATEGORY:
                        chars.add(_CATEGORY_SAMPLE.get(a, "a"))
            elif op == C.ANY:
                chars.add("a")
            elif op == C.NOT_LITERAL:
                chars.add("a" if av != ord("a") else "b")
        if run:
            runs.append("".join(run))
            run.clear()

    walk(list(P.parse(rx.pattern, rx.flags)))
    units = dict.fromkeys([*runs, "".join(runs), " ".join(runs), *sorted(chars), "".join(sorted(chars))])
    lines = [(u * (size // len(u) + 1))[:size] for u in units if u and u != "\n"]
    # The same with a last character few classes accept: `(\w+\s?)*$` fails only at the end, after
    # trying every way to split what came before.
    for u in (" ".join(runs), "".join(sorted(chars))):
        if u:
            lines.append((u * (size // len(u) + 1))[:size - 2] + "!\x01")
    return lines


class _Budget(Exception):
    pass


def _measured_slow(rx: re.Pattern[str]) -> str | None:
    """What made `rx` slow on an adversarial line, or None. Measured only in the main thread (it uses
    SIGALRM, which re honours while it backtracks, to stop a runaway search)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return None

    def expire(signum: int, frame: Any) -> None:
        raise _Budget

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        lines = [adversarial_lines(rx, size) for size in PROBE_SIZES]
        for kind in range(len(lines[0])):
            verdict = _judged(rx, [per_size[kind] for per_size in lines])
            if verdict is not None:
                return verdict
    except _Budget as over:
        return str(over)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return None


def _search_time(rx: re.Pattern[str], line: str) -> float:
    """Seconds one search of `line` takes; raises _Budget (with the message) past PROBE_BUDGET."""
    start = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, PROBE_BUDGET)
        rx.search(line)
    except _Budget:
        raise _Budget(f"one search of a {len(line) // 1024} KB line of {line[:12]!r}... ran past {PROBE_BUDGET} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - start


def _judged(rx: re.Pattern[str], lines: list[str]) -> str | None:
    """Whether the search time of `rx` grows faster than linearly from the short to the long line."""
    times = [_search_time(rx, line) for line in lines]
    # A shared or busy machine stalls a single search now and then (a 5 ms blip on a search of
    # microseconds): a suspicious first reading is taken again, best of three, before it counts.
    for _ in range(2):
        if _verdict(times) is None:
            return None
        times = [min(t, _search_time(rx, line)) for t, line in zip(times, lines)]
    return _verdict(times)


def _verdict(times: list[float]) -> str | None:
    # Growth, not absolute time, so a fast or a busy machine judges alike: 8x the line costs a
    # linear search about 8x, a quadratic one about 64x. Below a few milliseconds it is noise.
    grow = PROBE_SIZES[-1] // PROBE_SIZES[0]
    if times[1] > 0.004 and times[1] > 3 * grow * max(times[0], 1e-6):
        return (f"one search of a {PROBE_SIZES[-1] // 1024} KB line took {times[1] * 1000:.0f} ms, "
                f"{times[1] / max(times[0], 1e-6):.0f}x the {PROBE_SIZES[0] // 1024} KB line's")
    if times[-1] > PROBE_BUDGET / 2:
        return f"one search of a {PROBE_SIZES[-1] // 1024} KB line took {times[-1]:.2f} s"
    return None


def regexes_of(rule: Rule) -> list[re.Pattern[str]]:
    """Every regex a rule uses, its windows' included."""
    exprs = [rule.expr]
    corr = rule.correlation
    for w in (corr.followed_by, corr.not_followed_by) if corr else ():
        if w is not None:
            exprs.append(w.expr)
    return [rx for e in exprs for rx in _regexes(e.tree)]


def lint(rules: Sequence[Rule], others: Sequence[Rule] = ()) -> list[Warning_]:
    """Warnings for `rules`; `others` are further rules whose overlap with them is checked too."""
    out: list[Warning_] = []
    for r in rules:
        def warn(msg: str, rule: Rule = r) -> None:
            out.append(Warning_(rule.location, rule.id, msg))
        if r.expr.literals is None:
            warn("no literal of 3+ characters in `message`: this rule runs on every event and slows every scan")
        for rx in regexes_of(r):
            for problem in regex_risks(rx):
                warn(problem)
        if len(r.examples_match) < 1:
            warn("no `match` example proves this rule fires")
        if len(r.examples_no_match) < 1:
            warn("no `no-match` example shows what it must not catch")
        for field in ("diagnosis", "fix", "why"):
            if not getattr(r.info, field).strip():
                warn(f"empty `{field}`")
        for field, text in (("title", r.info.title), ("category", r.info.category), ("message", r.message),
                            ("diagnosis", r.info.diagnosis), ("fix", r.info.fix), ("why", r.info.why)):
            if _TODO.search(text):  # a `rules suggest` draft not yet filled in
                warn(f"`{field}` is still a `todo` placeholder")
        out += placeholder_warnings(r)
        out += [Warning_(r.location, r.id, msg) for msg in field_warnings(r)]
    out += _overlaps(list(rules) + [o for o in others if o not in rules])
    return out


def _overlaps(rules: list[Rule]) -> list[Warning_]:
    """Rules that fire on another rule's `match` example without a declared relationship."""
    out = []
    engine = Engine(rules, "python")
    by_id = {r.id: r for r in rules}
    for owner in rules:
        for ex in owner.examples_match:
            fired = {f.rule_id for f in findings_for(engine, example_records(ex))}
            for other_id in sorted(fired - {owner.id}):
                other = by_id[other_id]
                if not _related(owner, other):
                    out.append(Warning_(ex.location, owner.id,
                                        f"rule {other.id!r} also matches this example; make one supersede the other, "
                                        "mark the broader one generic, or sharpen a pattern"))
    return out


def _related(a: Rule, b: Rule) -> bool:
    # A correlated rule (threshold, sequence) deliberately re-reads lines other rules explain.
    return (a.correlation is not None or b.correlation is not None or a.info.generic or b.info.generic or a.id in b.supersedes or b.id in a.supersedes
            or a.info.category == b.info.category)


# --- placeholders -----------------------------------------------------------------------------

PLACEHOLDERS = ("x.x.x.x", "XXX", "<host>", "***", "[MASKED]")
# Capture names that say the value identifies a host, an address or an account.
_MASKED_NAMES = ("host", "addr", "address", "resolver", "server", "nameserver", "dns", "domain", "url", "uri",
                 "endpoint", "registry", "proxy", "remote", "peer", "gateway", "ip", "token", "runner", "user")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.%]*:[0-9A-Fa-f:.%]*\]")
_URL_HOST = re.compile(r"\b[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?(\[[^\]\s]*\]|[^/:\s?#\"'<>]+)", re.IGNORECASE)
_LOOKUP_HOST = re.compile(r"\blookup ([^\s:]+)")
_HOSTNAME = re.compile(r"(?=[^.]*[A-Za-z])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?")
_HOST_PORT = re.compile(r"(.+):\d+")
# Names that end like a hostname but are files or units; and hosts nobody masks.
_NOT_TLDS = frozenset("toml yaml yml json go sock socket service mount target timer slice scope log conf cfg txt "
                      "sh py js rb so crt pem key csr exe dll ps1 git d".split())
_PUBLIC = ("docker.io", "docker.com", "gitlab.com", "github.com", "gcr.io", "ghcr.io", "quay.io", "k8s.io",
           "amazonaws.com", "googleapis.com", "microsoft.com", "mcr.microsoft.com")


def _looks_host(value: str) -> bool:
    if _IPV4.fullmatch(value) or _IPV6.fullmatch(value):
        return True
    return bool(_HOSTNAME.fullmatch(value)) and value.rstrip(".").rsplit(".", 1)[-1].lower() not in _NOT_TLDS


def _maskable_parts(value: str, named: bool) -> list[tuple[int, int]]:
    """The offsets, in a captured value, of what people replace by a placeholder: a URL's host, the
    host of `host:port`, each address inside a longer value (`10.0.0.9:514->10.0.0.5:443`), or, for
    a capture named like a host or a token, the whole value unless it is a path; [] for a value
    nobody masks (an exit code, a file name, a unit)."""
    urls = [m.span(1) for m in _URL_HOST.finditer(value) if m.group(1)]
    if urls:
        return urls
    hp = _HOST_PORT.fullmatch(value)
    end = hp.end(1) if hp and _looks_host(hp.group(1)) else len(value)
    if _looks_host(value[:end]):
        return [(0, end)]
    inside = [m.span() for rx in (_IPV4, _IPV6) for m in rx.finditer(value)]
    if inside:
        return sorted(inside)
    if named and "/" not in value and not any(ch.isspace() for ch in value):
        return [(0, end)]
    return []


def _public(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == p or host.endswith("." + p) for p in _PUBLIC)


def _accepts(rx: re.Pattern[str], text: str, start: int, end: int, placeholder: str) -> bool:
    """Whether `rx` still matches `text` across [start, end) once that span is `placeholder`."""
    t = text[:start] + placeholder + text[end:]
    m = rx.search(t)
    while m is not None and m.start() <= start:
        if m.end() >= start + len(placeholder):
            return True
        m = rx.search(t, m.start() + 1)
    return False


def field_warnings(rule: Rule) -> list[str]:
    """Fields a rule tests that only some formats carry: journal fields exist in journal inputs only."""
    from logsleuth.read.formats.journal_fields import JOURNAL_FORMATS, is_journal_field

    corr = rule.correlation
    exprs = [rule.expr, *(w.expr for w in ((corr.followed_by, corr.not_followed_by) if corr else ()) if w)]
    names = sorted({t.field for e in exprs for t in _tests(e.tree) if is_journal_field(t.field)})
    if not names:
        return []
    return [f"{'field' if len(names) == 1 else 'fields'} {', '.join(names)}: carried by journal inputs only "
            f"({', '.join(JOURNAL_FORMATS)}); on text logs (journalctl's short modes, syslog files, the runner's "
            "own log) such a test never holds"]


def _tests(node: Node) -> Iterator[Test]:
    if isinstance(node, (And, Or)):
        for n in node.items:
            yield from _tests(n)
    elif isinstance(node, Not):
        yield from _tests(node.item)
    elif isinstance(node, Test):
        yield node


def _message_regexes(node: Node) -> Iterator[re.Pattern[str]]:
    """The regexes a rule requires of `message` (not those under a `not`)."""
    if isinstance(node, (And, Or)):
        for n in node.items:
            yield from _message_regexes(n)
    elif isinstance(node, Test) and node.field == "message" and node.regex is not None:
        yield node.regex


def _literal_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Addresses and hostnames within text[start:end] that people mask (public hosts left out)."""
    for rx in (_IPV4, _IPV6):
        for m in rx.finditer(text, start, end):
            yield m.span()
    for rx in (_URL_HOST, _LOOKUP_HOST):
        for m in rx.finditer(text, start, end):
            if _looks_host(m.group(1)) and not _public(m.group(1)):
                yield m.span(1)


def placeholder_warnings(rule: Rule) -> list[Warning_]:
    """A warning per capture (or literal address) of `rule` that rejects a common placeholder in
    one of its `match` examples."""
    out: list[Warning_] = []
    seen: set[str] = set()
    for ex in rule.examples_match:
        try:
            records = example_records(ex)
        except LogsleuthError:  # an unknown format is `rules test`'s to report
            continue
        for rx in _message_regexes(rule.expr.tree):
            for text in (t for rec in records for t in message_texts(rec)):
                m = rx.search(text)
                if m is None:
                    continue
                groups: list[tuple[int, int]] = []
                for name in rx.groupindex:
                    s, e = m.span(name)
                    if s < 0 or s == e:
                        continue
                    groups.append((s, e))
                    named = any(k in name.lower() for k in _MASKED_NAMES)
                    key = f"capture {name!r}"
                    if key in seen:
                        continue
                    for ps, pe in _maskable_parts(text[s:e], named):
                        value = text[s + ps:s + pe]
                        if value in PLACEHOLDERS or _public(value):
                            continue
                        bad = [p for p in PLACEHOLDERS if not _accepts(rx, text, s + ps, s + pe, p)]
                        if bad:
                            seen.add(key)
                            out.append(Warning_(ex.location, rule.id,
                                                f"{key} rejects placeholders such as {', '.join(bad[:3])} "
                                                f"(in place of {value!r}); loosen it, e.g. [^\\s:]+ for a host"))
                            break
                for s, e in _literal_spans(text, m.start(), m.end()):
                    if any(gs <= s and e <= ge for gs, ge in groups):
                        continue
                    key = f"literal {text[s:e]!r}"
                    bad = [p for p in PLACEHOLDERS if not _accepts(rx, text, s, e, p)]
                    if bad and key not in seen:
                        seen.add(key)
                        out.append(Warning_(ex.location, rule.id,
                                            f"the pattern spells out {text[s:e]!r}, rejecting placeholders "
                                            f"such as {', '.join(bad[:3])}; match any host there"))
    return out
