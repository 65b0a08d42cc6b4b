"""Findings stage: error lines that no rule explained, counted so that silence is never an all-clear.

The pipeline adds one extra probe to the engine: a message with a failure word (`error`, `fatal`,
`panic`, `failed`, `exception`, ...) as a whole word. A record it accepts that no rule matched is
*unexplained*: counted, and its first few lines kept for the report (`--show-unmatched`).
Summaries that say nothing went wrong (`0 errors`, `failed=0`, `error_reporting`) do not count.
"""
from __future__ import annotations

import dataclasses

from logsleuth.findings.aggregate import evidence_of
from logsleuth.match.engine import SIGNAL, Hit, Probe
from logsleuth.model import Evidence, RuleInfo, Unexplained
from logsleuth.ruleset import dsl
from logsleuth.ruleset.loader import Rule

MAX_TEXT = 500
# Whole words only (so `errors=0` and `error_reporting` are not failures); `failed` not in a
# zero count (`failed=0`, `0 failed`); `error:`-style prefixes and Go panics count.
_EXPRESSION = (r"message ~ /(?i)\b(?:error|fatal|panic|exception|traceback|segfault"
               r"|(?<!\b0 )failed(?![=:] ?0\b)|failure)\b/")
_INFO = RuleInfo(id="(unexplained)", title="Error lines no rule recognised", severity="info", category="unexplained")


def probe() -> Probe:
    """The engine probe that finds candidate error lines."""
    expr = dsl.compile(_EXPRESSION)
    return Probe(Rule(_INFO, expr, ""), SIGNAL, expr)


class UnexplainedCounter:
    """Counts the records that only the error probe accepted; keeps the first `limit` of them."""

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.count = 0
        self._samples: list[Evidence] = []

    def observe(self, hit: Hit) -> None:
        self.count += 1
        if len(self._samples) < self.limit:
            sample = evidence_of(hit)
            self._samples.append(dataclasses.replace(sample, text=sample.text[:MAX_TEXT]))

    def result(self) -> Unexplained:
        return Unexplained(self.count, tuple(self._samples))
