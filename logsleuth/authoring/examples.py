"""Rules prove themselves: run each rule's own examples through the real pipeline stages.

Used by `logsleuth rules test`, by `rules lint` and by the test suite (one pytest id per rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from logsleuth.read import formats
from logsleuth.findings.aggregate import Aggregator
from logsleuth.findings.correlate import Correlator
from logsleuth.match.engine import Engine
from logsleuth.model import Finding, Record
from logsleuth.ruleset.loader import Example, Rule
from logsleuth.errors import LogsleuthError
from logsleuth.read.formats import Format, ParseContext


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    kind: str  # "match" or "no-match"
    example: Example
    ok: bool
    detail: str


def parse_lines(texts: Sequence[str], format_name: str | None, name: str) -> tuple[Format, str, list[Record]]:
    """Records of a few given lines, in the named format or the one detected; the format and why.

    Raises LogsleuthError for an unknown format name.
    """
    lines = [line.encode("utf-8") for text in texts for line in text.split("\n")]
    if format_name is None:
        fmt, reason = formats.detect(lines[:50])
    elif format_name in formats.FORMATS:
        fmt, reason = formats.get(format_name), "forced"
    else:
        raise LogsleuthError(f"unknown format {format_name!r}; known: {', '.join(sorted(formats.FORMATS))}")
    return fmt, reason, list(fmt.parse(lines, ParseContext(name)))


def example_records(example: Example, name: str = "<example>") -> list[Record]:
    """Parse an example's lines in its own format, or the one detected from them."""
    return parse_lines(example.lines, example.format, name)[2]


def findings_for(rules: Sequence[Rule] | Engine, records: list[Record]) -> list[Finding]:
    """What `rules` find in `records`: the engine, correlation and aggregation stages, without inputs."""
    engine = rules if isinstance(rules, Engine) else Engine(rules, "python")
    corr = Correlator()
    agg = Aggregator()
    for m in corr.run(engine.match_records(records)):
        agg.add(m)
    for m in corr.finish():
        agg.add(m)
    return agg.findings()


def check_example(rule: Rule, example: Example, expect: bool) -> ExampleResult:
    kind = "match" if expect else "no-match"
    try:
        records = example_records(example)
    except LogsleuthError as exc:
        return ExampleResult(rule.id, kind, example, False, exc.message)
    found = findings_for([rule], records)
    if not expect:
        detail = "" if not found else f"fired unexpectedly: {found[0].message}"
        return ExampleResult(rule.id, kind, example, not found, detail)
    if not found:
        return ExampleResult(rule.id, kind, example, False, "did not fire")
    variables = found[0].variables
    wrong = {k: v for k, v in example.captures.items() if variables.get(k) != v}
    if wrong:
        got = ", ".join(f"{k}={variables.get(k)!r} (want {v!r})" for k, v in wrong.items())
        return ExampleResult(rule.id, kind, example, False, f"wrong captures: {got}")
    return ExampleResult(rule.id, kind, example, True, "")


def run_examples(rule: Rule) -> Iterator[ExampleResult]:
    """Every example of `rule`, checked."""
    for ex in rule.examples_match:
        yield check_example(rule, ex, True)
    for ex in rule.examples_no_match:
        yield check_example(rule, ex, False)
