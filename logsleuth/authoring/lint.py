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
            if _nested_repeat(list(P.parse(rx.pattern, rx.flags))):
                warn(f"nested quantifier in /{rx.pattern}/ can backtrack catastrophically")
        if len(r.examples_match) < 1:
            warn("no `match` example proves this rule fires")
        if len(r.examples_no_match) < 1:
            warn("no `no-match` example shows what it must not catch")
        for field in ("diagnosis", "fix", "why"):
            if not getattr(r.info, field).strip():
                warn(f"empty `{field}`")
        out += placeholder_warnings(r)
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
