"""Findings stage: error lines that no rule explained, counted and grouped so that silence is never an all-clear.

The pipeline adds one extra probe to the engine: a message with a failure word (`error`, `fatal`,
`panic`, `failed`, `denied`, `refused`, `unable`, ...) as a whole word. Its words are literals, so
on the raw-block fast path the scanner finds them with the rules' literals and only those lines
are parsed. A record it accepts that no rule matched is *unexplained*: counted, its first few
lines kept for the report (`--show-unmatched`), and its message mined into a template
(templates.py). A `debug` record is not a failure whatever its words; `info` still counts, because
readers give the runner's prefix-less lines level info, and a Go panic is one of them.
Summaries that say nothing went wrong (`0 errors`, `failed=0`, `error_reporting`) do not count.
"""
from __future__ import annotations

import dataclasses

from logsleuth.findings.aggregate import evidence_of
from logsleuth.findings.templates import MAX_TEXT, Miner
from logsleuth.match.engine import SIGNAL, Hit, Probe
from logsleuth.model import Evidence, RuleInfo, Unexplained
from logsleuth.ruleset.expr import Expression
from logsleuth.ruleset import compiled
from logsleuth.ruleset.loader import Rule

# Whole words only (so `errors=0` and `error_reporting` are not failures); `failed` not in a
# zero count (`failed=0`, `0 failed`); `error:`-style prefixes and Go panics count. No `timeout`
# or `timed out`: containerd logs `timeout=1s` on every shim cleanup (2,600 lines per 20 MB of a
# busy host, each literal hit a line parsed: +70% scan time), and a timeout retried is routine
# (`rsync ... timed out ..., retrying`); the timeouts that matter have rules (`i/o timeout`,
# `context deadline exceeded`) or say `error`/`failed` too.
_EXPRESSION = (r"message ~ /(?i)\b(?:error|fatal|panic|exception|traceback|segfault|denied|refused|unable"
               r"|cannot|killed|(?<!\b0 )failed(?![=:] ?0\b)|failure)\b/")
_INFO = RuleInfo(id="(unexplained)", title="Error lines no rule recognised", severity="info", category="unexplained")
_QUIET = frozenset({"debug"})


def probe() -> Probe:
    """The engine probe that finds candidate error lines."""
    expr = compiled.cached("expr", [("<unexplained>", _EXPRESSION)], _compile)
    return Probe(Rule(_INFO, expr, ""), SIGNAL, expr)


def _compile() -> Expression:
    from logsleuth.ruleset import dsl  # lark: only when the compiled-rules cache has no entry

    return dsl.compile(_EXPRESSION)


class UnexplainedCounter:
    """Counts the records that only the error probe accepted; keeps the first `limit` and mines templates."""

    def __init__(self, limit: int = 5, max_templates: int = 1000) -> None:
        self.limit = limit
        self.count = 0
        self._samples: list[Evidence] = []
        self.miner = Miner(max_templates)

    def observe(self, hit: Hit) -> None:
        rec = hit.record
        if rec.level in _QUIET:
            return
        self.count += 1
        sample = evidence_of(hit)
        sample = dataclasses.replace(sample, text=sample.text[:MAX_TEXT], context=())
        if len(self._samples) < self.limit:
            self._samples.append(sample)
        self.miner.add(rec.message, sample, rec.host, rec.unit or rec.ident)

    def result(self) -> Unexplained:
        return Unexplained(self.count, tuple(self._samples), tuple(self.miner.templates()), self.miner.dropped)
