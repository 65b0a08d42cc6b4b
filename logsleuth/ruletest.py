"""Rules prove themselves: run each rule's own examples through the real pipeline stages.

Used by `logsleuth rules test`, by `rules lint` and by the test suite (one pytest id per rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from logsleuth import sources
from logsleuth.aggregate import Aggregator
from logsleuth.correlate import Correlator
from logsleuth.engine import Engine
from logsleuth.model import Finding, Record
from logsleuth.rules import Example, Rule
from logsleuth.sources import ParseContext


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    kind: str  # "match" or "no-match"
    example: Example
    ok: bool
    detail: str


def example_records(example: Example, name: str = "<example>") -> list[Record]:
    """Parse an example's lines in its own format, or the one detected from them."""
    lines = [line.encode("utf-8") for text in example.lines for line in text.split("\n")]
    fmt = sources.get(example.format) if example.format else sources.detect(lines[:50])[0]
    return list(fmt.parse(lines, ParseContext(name)))


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
    except KeyError:
        return ExampleResult(rule.id, kind, example, False, f"unknown format {example.format!r}")
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
