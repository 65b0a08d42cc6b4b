"""Findings stage: error lines no rule knows, grouped into templates (a small Drain tree over masked messages).

Masking first: the parts of a message that vary between occurrences of one failure (URLs, paths,
quoted strings, UUIDs, IPs and ports, durations, hex ids, numbers) become `<URL>`, `<PATH>`, ...
Then Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017):
messages are bucketed by token count and their first tokens, and join the most similar cluster of
the bucket if enough tokens agree; positions that disagree become `<*>`. A template's id is a hash
of its final text, so it depends neither on input order nor on logsleuth's version.

Memory is bounded: at most `max_templates` clusters (the least recently seen is evicted, and its
records counted as dropped) and three examples each.
"""
from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from logsleuth.model import ErrorTemplate, Evidence

WILD = "<*>"
MAX_EXAMPLES = 3
MAX_NAMES = 10  # hosts and units kept per template
MAX_TEXT = 500
_DEPTH = 2  # tokens after the length that pick a bucket (Drain's depth - 2)
_SIMILARITY = 0.5
_MAX_TOKENS = 80  # a longer message is cut (its tail would only split templates)
_MAX_CHARS = 4000  # and only its head is masked: a 4 MiB multi-line panic must not be split whole

# Order matters: a URL holds a host and a path, an address holds numbers.
_MASKS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("<URL>", r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+"),
    ("<STR>", r"\"(?:[^\"\\]|\\.){0,200}\"|'[^'\s]{1,200}'"),
    ("<UUID>", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("<IP>", r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"
             r"|\[[0-9a-fA-F:]*:[0-9a-fA-F:.]*\](?::\d{1,5})?"),
    ("<HOSTPORT>", r"\b[a-zA-Z][\w-]*(?:\.[\w-]+)+:\d{1,5}\b"),
    ("<PATH>", r"(?<![\w/.])(?:~|\.{1,2})?(?:/[\w.@%+-]+){2,}/?|(?<![\w/.])/[\w.@%+-]+\.[A-Za-z]\w*\b"),
    ("<DUR>", r"\b(?:\d+(?:\.\d+)?(?:h|m|s|ms|µs|us|ns))+\b"),
    ("<HEX>", r"\b0x[0-9a-fA-F]+\b"),
    # Runner short ids (8 hex digits, sometimes all digits), commit SHAs, job ids, counts: one
    # placeholder, or `runner=1234abcd` and `runner=12345678` would split a template.
    ("<ID>", r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,}\b|\b(?=[A-Za-z]*\d)[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b"),
))
_MASK_NAMES = frozenset(name for name, _ in _MASKS) | {WILD}
# URLs and quoted strings may hold spaces: they are masked in the whole message. The rest never
# do, and need a digit or a `/`: they are masked token by token, in one pass of one alternation
# (its order is the priority), and only in the tokens that have one (three times faster).
_URL, _STR = _MASKS[0][1], _MASKS[1][1]
_TOKEN_MASK = re.compile("|".join(f"(?P<m{i}>{rx.pattern})" for i, (_, rx) in enumerate(_MASKS[2:])))
_TOKEN_NAMES = {f"m{i}": name for i, (name, _) in enumerate(_MASKS[2:])}
_MAYBE_VARIABLE = re.compile(r"[\d/]")


def _placeholder(m: re.Match[str]) -> str:
    return _TOKEN_NAMES[m.lastgroup or ""]


def _plain_id(value: str) -> bool:
    # A count or a runner/commit id (`1234`, `d8f16adf`): what the `<ID>` branch takes whole.
    return value.isdigit() or (len(value) >= 7 and not value.strip("0123456789abcdef") and not value.isalpha())


def _mask_token(token: str) -> str:
    # The commonest variable tokens, a bare id or a logfmt one (`job=1234`, `runner=d8f16adf`),
    # without the regex: the alternation gives them `<ID>` too, so the result is the same.
    if _plain_id(token):
        return "<ID>"
    key, eq, value = token.partition("=")
    if eq and key.isalpha() and _plain_id(value):
        return key + "=<ID>"
    return _TOKEN_MASK.sub(_placeholder, token)


def tokens(message: str) -> list[str]:
    """The whitespace-separated tokens of `message`, variable parts replaced by placeholders."""
    if "://" in message:
        message = _URL.sub("<URL>", message)
    if '"' in message or "'" in message:
        message = _STR.sub("<STR>", message)
    return [_mask_token(t) if _MAYBE_VARIABLE.search(t) else t for t in message.split()]


def mask(message: str) -> str:
    """`message` with its variable parts replaced by placeholders (and its whitespace runs by one space)."""
    return " ".join(tokens(message))


def template_id(template: str) -> str:
    """A template's stable id: the first 12 hex digits of the SHA-256 of its text."""
    return "t" + hashlib.sha256(template.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass(slots=True)
class _Cluster:
    tokens: list[str]
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    hosts: set[str] = field(default_factory=set)
    units: set[str] = field(default_factory=set)
    examples: list[Evidence] = field(default_factory=list)


def _generalize(a: str, b: str) -> str:
    if a == b:
        return a
    # `runner=abcdefgh` against `runner=12345678`: keep the field's name (logfmt fields of the runner).
    key, eq, _ = a.partition("=")
    if eq and key and b.startswith(key + "="):
        return key + "=" + WILD
    return WILD


def _similarity(template: list[str], tokens: list[str]) -> float:
    same = sum(1 for a, b in zip(template, tokens) if a == b and a not in _MASK_NAMES)
    return same / len(tokens) if tokens else 1.0


class Miner:
    """Clusters error messages into templates; `templates()` gives them, most frequent first."""

    def __init__(self, max_templates: int = 1000) -> None:
        self.max_templates = max_templates
        self.dropped = 0  # records whose template was evicted
        self.evicted = 0
        self._buckets: dict[tuple[str, ...], list[_Cluster]] = {}
        self._lru: OrderedDict[int, tuple[tuple[str, ...], _Cluster]] = OrderedDict()

    def add(self, message: str, evidence: Evidence, host: str | None = None, unit: str | None = None) -> None:
        """Count one error message (with where it was) into its template."""
        if len(message) > _MAX_CHARS:
            message = message[:_MAX_CHARS].rsplit(None, 1)[0]  # no half token at the cut
        toks = tokens(message)[:_MAX_TOKENS] or [""]
        key = (str(len(toks)), *(WILD if any(c.isdigit() for c in t) else t for t in toks[:_DEPTH]))
        bucket = self._buckets.setdefault(key, [])
        cluster = self._best(bucket, toks)
        if cluster is None:
            cluster = _Cluster(toks)
            bucket.append(cluster)
        elif cluster.tokens != toks:
            cluster.tokens = [_generalize(a, b) for a, b in zip(cluster.tokens, toks)]
        self._touch(key, cluster)
        self._count(cluster, evidence, host, unit)

    def _best(self, bucket: list[_Cluster], tokens: list[str]) -> _Cluster | None:
        best, score = None, _SIMILARITY
        for c in bucket:
            s = _similarity(c.tokens, tokens)
            if s >= score and (best is None or s > score):
                best, score = c, s
        return best

    def _touch(self, key: tuple[str, ...], cluster: _Cluster) -> None:
        self._lru[id(cluster)] = (key, cluster)
        self._lru.move_to_end(id(cluster))
        while len(self._lru) > self.max_templates:
            _, (old_key, old) = self._lru.popitem(last=False)
            self._buckets[old_key].remove(old)
            if not self._buckets[old_key]:
                del self._buckets[old_key]
            self.dropped += old.count
            self.evicted += 1

    @staticmethod
    def _count(c: _Cluster, evidence: Evidence, host: str | None, unit: str | None) -> None:
        c.count += 1
        ts = evidence.ts
        if ts is not None:
            c.first = ts if c.first is None or ts < c.first else c.first
            c.last = ts if c.last is None or ts > c.last else c.last
        if host and len(c.hosts) < MAX_NAMES:
            c.hosts.add(host)
        if unit and len(c.units) < MAX_NAMES:
            c.units.add(unit)
        if len(c.examples) < MAX_EXAMPLES:
            c.examples.append(evidence)

    def templates(self) -> list[ErrorTemplate]:
        """Every template, most frequent first (ties by id, so the order is stable too)."""
        merged: dict[str, ErrorTemplate] = {}
        for _, c in self._lru.values():
            text = " ".join(c.tokens)
            t = ErrorTemplate(template_id(text), text, c.count, c.first, c.last, tuple(sorted(c.hosts)),
                              tuple(sorted(c.units)), tuple(c.examples))
            # Two buckets may end at the same text (a wildcard where the other has a digit token).
            merged[t.id] = _merge(merged[t.id], t) if t.id in merged else t
        return sorted(merged.values(), key=lambda t: (-t.count, t.id))


def _merge(a: ErrorTemplate, b: ErrorTemplate) -> ErrorTemplate:
    firsts = [x for x in (a.first_seen, b.first_seen) if x is not None]
    lasts = [x for x in (a.last_seen, b.last_seen) if x is not None]
    return ErrorTemplate(a.id, a.template, a.count + b.count, min(firsts, default=None), max(lasts, default=None),
                         tuple(sorted({*a.hosts, *b.hosts}))[:MAX_NAMES], tuple(sorted({*a.units, *b.units}))[:MAX_NAMES],
                         (a.examples + b.examples)[:MAX_EXAMPLES])
