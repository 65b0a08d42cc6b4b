"""Describe rules to people and tools: the catalogue (`rules list`), one rule (`rules show`), `explain`."""
from __future__ import annotations

import json
from typing import Any, Sequence

from logsleuth.ruleset.predicates import explain as explain_expression
from logsleuth.authoring.lint import regexes_of
from logsleuth.model import SEVERITIES
from logsleuth.ruleset.loader import Rule
from logsleuth.authoring.examples import findings_for, parse_lines
from logsleuth.read.escapes import escaped_forms, message_variant, strip_escaped_ansi
from logsleuth.read.text import clean_bytes

_REGEX_FLAGS = (("i", 2), ("m", 8), ("s", 16), ("x", 64))


def rule_dict(rule: Rule) -> dict[str, Any]:
    """The machine-readable description of a rule (also what bench/ reads to build grep patterns)."""
    info = rule.info
    return {
        "id": info.id, "title": info.title, "severity": info.severity, "category": info.category,
        "input": rule.input,  # `logs`, or `config`: a rule over config.toml records (read/config_toml.py)
        "tags": list(info.tags), "match": rule.expr.text.strip(), "message": rule.message,
        "literals": sorted(lit.decode("utf-8", "replace") for lit in rule.expr.literals or ()),
        "regexes": [{"pattern": rx.pattern, "flags": "".join(c for c, bit in _REGEX_FLAGS if rx.flags & bit)}
                    for rx in regexes_of(rule)],
        "retryable": info.retryable, "generic": info.generic, "outcome": info.outcome,
        "supersedes": list(rule.supersedes),
        "correlated": rule.correlation is not None, "references": list(info.references),
        "examples": len(rule.examples_match) + len(rule.examples_no_match), "source": info.source,
    }


def _sorted(rules: Sequence[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: (r.info.category, -SEVERITIES.index(r.info.severity), r.id))


def render(rules: Sequence[Rule], fmt: str) -> str:
    """The catalogue of `rules` as text, JSON or Markdown (docs/rules.md is this, generated)."""
    ordered = _sorted(rules)
    if fmt == "json":
        return json.dumps({"rules": [rule_dict(r) for r in ordered]}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        from logsleuth.report.render import render_template

        return render_template("catalogue.md.j2", rules=[rule_dict(r) for r in ordered])
    width = max((len(r.id) for r in ordered), default=10)
    return "".join(f"{r.id:{width}}  {r.info.severity:8}  {r.info.category:20}  {r.info.title}\n" for r in ordered)


def show(rule: Rule) -> str:
    d = rule_dict(rule)
    parts = [f"{d['id']}: {d['title']}", f"severity: {d['severity']}   category: {d['category']}   "
             f"retryable: {'yes' if d['retryable'] else 'no'}", f"source: {d['source']}", "",
             "match:", *(f"  {line}" for line in rule.expr.text.strip().splitlines()),
             f"literals: {', '.join(d['literals']) or '(none: runs on every event)'}", ""]
    for title, text in (("diagnosis", rule.info.diagnosis), ("fix", rule.info.fix), ("why", rule.info.why)):
        if text.strip():
            parts += [f"{title}:", *(f"  {line}" for line in text.strip().splitlines()), ""]
    if rule.info.references:
        parts += ["references:", *(f"  {u}" for u in rule.info.references), ""]
    return "\n".join(parts)


def explain(rule: Rule, text: str, input_format: str | None = None) -> tuple[str, bool]:
    """Why one log line does or does not fire `rule`; returns the explanation and whether it fired."""
    raw = text.encode("utf-8")
    fmt, reason, records = parse_lines([text], input_format, "<line>")
    lits = sorted(rule.expr.literals or ())
    # Where the engine looks: the cleaned line (colour codes written as text removed too), for
    # each literal as written or as a JSON string writes it, and a wrapped entry as joined.
    texts = [strip_escaped_ansi(clean_bytes(raw)).lower()]
    texts += [rec.message.encode("utf-8", "replace").lower() for rec in records if rec.origin.span > 1]
    found = [lit for lit in lits if any(form in t for form in (lit, *escaped_forms(lit)) for t in texts)]
    out = [f"line: {text}", f"format: {fmt.name} ({reason})"]
    if lits:
        out.append("prefilter literals: " + ", ".join(
            f"{'+' if lit in found else '-'}{lit.decode('utf-8', 'replace')!r}" for lit in lits))
        out.append("prefilter: " + ("candidate" if found else "skipped: no literal on the line"))
    else:
        out.append("prefilter: none (the rule runs on every event)")
    if not records:
        out.append("no event: the format treats this line as a marker or continuation")
    for rec in records:
        out.append(f"message: {rec.message}")
        variant = message_variant(rec)
        if variant is not None:
            out.append(f"decoded (message tests try it too): {variant}")
        for depth, src, value in explain_expression(rule.expr, rec):
            out.append(f"{'  ' * depth}{'TRUE ' if value else 'FALSE'}  {' '.join(src.split())}")
    findings = findings_for([rule], records)
    if findings:
        out.append(f"fires: {findings[0].message}")
        if findings[0].variables:
            out.append("captures: " + ", ".join(f"{k}={v!r}" for k, v in findings[0].variables.items()))
    elif rule.correlation is not None:
        out.append("does not fire on this line alone (the rule is correlated: it needs more events)")
    else:
        out.append("does not fire")
    return "\n".join(out) + "\n\n", bool(findings)
