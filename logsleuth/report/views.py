"""Report rendering (last stage): the view model, i.e. every value a template shows that is computed, not stored.

Templates only loop and branch; fingerprints, locations, fences, levels and counts are derived
here, so a custom template gets the same values as the built-in one. Also here: the Markdown
size cap (whole findings only) and the check that a Code Quality report is one GitLab accepts.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from logsleuth import __version__
from logsleuth.errors import Location, LogsleuthError
from logsleuth.report.filters import iso_utc
from logsleuth.model import SEVERITIES, Evidence, Finding, Report, RuleInfo

from logsleuth.report.options import RenderOptions

# Version of logsleuth's own JSON/NDJSON shape (logsleuth/schemas/report.schema.json).
SCHEMA_VERSION = "1"
_NORMAL_EVIDENCE = 3
# SARIF has four levels; blocker..major all mean "the job failed because of this".
_SARIF_LEVELS = {"blocker": "error", "critical": "error", "major": "error", "minor": "warning", "info": "note"}
_BACKTICKS = re.compile(r"`+")
_CQ_SEVERITIES = frozenset(SEVERITIES)


@dataclass(frozen=True)
class FindingView:
    """A Finding plus the values templates need that are computed, not stored."""

    finding: Finding
    rule: RuleInfo
    rule_id: str
    title: str
    severity: str
    category: str
    message: str
    count: int
    fingerprint: str
    variables: Mapping[str, str]
    evidence: tuple[Evidence, ...]
    first_seen: str | None
    last_seen: str | None
    shown_evidence: tuple[Evidence, ...]
    more_evidence: int
    fence: str
    location: Evidence | None
    cq_path: str
    line: int
    cq_fingerprint: str
    sarif_level: str
    sarif_uri: str | None
    sarif_rule_index: int


@dataclass(frozen=True)
class RuleView:
    """One evaluated rule for JUnit: passed, or failed with the findings it produced."""

    rule: RuleInfo
    findings: tuple[FindingView, ...]
    failed: bool
    failure_message: str
    sarif_level: str


# --- findings ------------------------------------------------------------------------------


def _fence(lines: tuple[Evidence, ...]) -> str:
    longest = max((len(run) for e in lines for run in _BACKTICKS.findall(_evidence_line(e))), default=0)
    return "`" * max(3, longest + 1)


def _evidence_line(ev: Evidence) -> str:
    return f"{ev.path}:{ev.line}: {ev.text}"


def _project_path(path: str, options: RenderOptions) -> str:
    """Code Quality `location.path`: --cq-path, else the log's path relative to the project directory."""
    if options.cq_path:
        return options.cq_path
    if path.startswith("<"):
        return path
    # `archive.tgz!member/file.log`: only the archive itself exists on disk.
    outer, sep, inner = path.partition("!")
    base = os.environ.get("CI_PROJECT_DIR") or os.getcwd()
    relative = os.path.relpath(os.path.abspath(outer), base)
    if relative.startswith(".."):
        relative = outer
    return (relative + sep + inner).replace(os.sep, "/")


def _sarif_uri(path: str) -> str | None:
    if path.startswith("<"):
        return None
    outer = path.partition("!")[0]
    quoted = urllib.parse.quote(outer.replace(os.sep, "/"))
    return "file://" + quoted if os.path.isabs(outer) else quoted


def _cq_fingerprint(finding: Finding, path: str) -> str:
    # GitLab keys Code Quality entries by fingerprint alone across all files of a report;
    # the path makes the same rule firing in two different logs two entries.
    return hashlib.sha256(f"{finding.fingerprint}\0{path}".encode()).hexdigest()


def _finding_view(f: Finding, options: RenderOptions, rule_index: dict[str, int], fallback: str) -> FindingView:
    shown = f.evidence if options.verbosity >= 1 else f.evidence[:_NORMAL_EVIDENCE]
    first = f.evidence[0] if f.evidence else None
    cq_path = _project_path(first.path if first else fallback, options)
    return FindingView(
        finding=f, rule=f.rule, rule_id=f.rule_id, title=f.title, severity=f.severity,
        category=f.category, message=f.message, count=f.count, fingerprint=f.fingerprint,
        variables=f.variables, evidence=f.evidence,
        first_seen=iso_utc(f.first_seen), last_seen=iso_utc(f.last_seen),
        shown_evidence=shown, more_evidence=len(f.evidence) - len(shown), fence=_fence(shown),
        location=first, cq_path=cq_path, line=max(1, first.line) if first else 1,
        cq_fingerprint=_cq_fingerprint(f, cq_path),
        sarif_level=_SARIF_LEVELS.get(f.severity, "warning"),
        sarif_uri=_sarif_uri(first.path) if first else None,
        sarif_rule_index=rule_index[f.rule_id],
    )


def _rule_table(report: Report) -> dict[str, RuleInfo]:
    """The rules evaluated, in report order; a finding whose rule is missing is added at the end."""
    rules = {r.id: r for r in report.rules}
    for f in report.findings:
        rules.setdefault(f.rule_id, f.rule)
    return rules


def finding_views(report: Report, options: RenderOptions) -> tuple[FindingView, ...]:
    """One view per finding of `report`, in report order, with unique Code Quality fingerprints."""
    rule_index = {rule_id: i for i, rule_id in enumerate(_rule_table(report))}
    fallback = report.inputs[0].path if report.inputs else "<stdin>"
    views = [_finding_view(f, options, rule_index, fallback) for f in report.findings]
    return _unique_cq_fingerprints(views)


def _unique_cq_fingerprints(views: list[FindingView]) -> tuple[FindingView, ...]:
    # Duplicate fingerprints overwrite each other in GitLab (add_degradation). Aggregation
    # already merges equal findings; this only guards against two that still collide.
    seen: dict[str, int] = {}
    out = []
    for v in views:
        n = seen.get(v.cq_fingerprint, 0)
        seen[v.cq_fingerprint] = n + 1
        if n:
            extra = hashlib.sha256(f"{v.cq_fingerprint}\0{n}".encode()).hexdigest()
            v = _replace(v, cq_fingerprint=extra)
        out.append(v)
    return tuple(out)


def _replace(view: FindingView, **changes: Any) -> FindingView:
    fields = {k: getattr(view, k) for k in FindingView.__dataclass_fields__}
    fields.update(changes)
    return FindingView(**fields)


# --- template context ----------------------------------------------------------------------


def _rule_views(report: Report, findings: tuple[FindingView, ...]) -> tuple[RuleView, ...]:
    by_rule: dict[str, list[FindingView]] = {}
    for v in findings:
        by_rule.setdefault(v.rule_id, []).append(v)
    views = []
    for rule in _rule_table(report).values():
        fired = tuple(by_rule.get(rule.id, ()))
        message = "; ".join(dict.fromkeys(v.message for v in fired))
        level = _SARIF_LEVELS.get(rule.severity, "warning")
        views.append(RuleView(rule=rule, findings=fired, failed=bool(fired), failure_message=message,
                              sarif_level=level))
    return tuple(views)


def _summary(report: Report) -> dict[str, Any]:
    by_severity = report.counts_by_severity()
    worst = next((s for s in reversed(SEVERITIES) if by_severity.get(s)), None)
    return {
        "total": len(report.findings),
        "by_severity": by_severity,
        "by_category": report.counts_by_category(),
        "worst": worst,
        "occurrences": sum(f.count for f in report.findings),
    }


def context(
    report: Report, findings: tuple[FindingView, ...], options: RenderOptions, omitted: int = 0
) -> dict[str, Any]:
    """The variables every report template sees; `omitted` findings were cut by the size cap."""
    rules = _rule_views(report, findings)
    return {
        "report": report,
        "findings": findings,
        "rules": rules,
        "failed_rules": sum(1 for r in rules if r.failed),
        "summary": _summary(report),
        "options": options,
        "color": options.color,
        "verbosity": options.verbosity,
        "omitted_findings": omitted,
        "logsleuth_version": report.version or __version__,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso_utc(report.generated_at),
        "severities": tuple(reversed(SEVERITIES)),
    }


# --- format-specific limits and checks -----------------------------------------------------


def capped(
    run: Callable[[tuple[FindingView, ...], int], str], findings: tuple[FindingView, ...], max_chars: int
) -> str:
    """`run(shown, omitted)` for as many whole findings as fit in max_chars, then a truncation line."""
    text = run(findings, 0)
    if len(text) <= max_chars:
        return text
    low, high, best = 0, len(findings) - 1, None
    while low <= high:  # largest prefix of findings that fits
        mid = (low + high) // 2
        candidate = run(findings[:mid], len(findings) - mid)
        if len(candidate) <= max_chars:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if best is not None:
        return best
    notice = "\n\n**Report truncated at the size limit of a GitLab note.**\n"
    return text[: max(0, max_chars - len(notice))] + notice


def _codequality_problem(item: object) -> str | None:
    """Why one Code Quality object would be rejected by GitLab's parser, or None when it is valid."""
    if not isinstance(item, dict):
        return "is not an object"
    for key in ("description", "check_name", "fingerprint", "severity"):
        if not isinstance(item.get(key), str) or not item[key]:
            return f"has no string {key!r}"
    if item["severity"] not in _CQ_SEVERITIES:
        return f"has severity {item['severity']!r}, not one of {', '.join(SEVERITIES)}"
    location = item.get("location")
    if not isinstance(location, dict) or not isinstance(location.get("path"), str):
        return "has no location.path"
    lines = location.get("lines")
    begin = lines.get("begin") if isinstance(lines, dict) else None
    if not isinstance(begin, int) or isinstance(begin, bool):
        return "has no integer location.lines.begin"
    return None


def check_codequality(text: str, filename: str) -> None:
    """Refuse a Code Quality report GitLab would not import in full. Raises LogsleuthError."""
    # GitLab stops importing at the first invalid object (CodeClimate#parse_all), so one bad
    # entry would silently hide every later finding: refuse to write such a report at all.
    if text.startswith("\ufeff"):
        raise LogsleuthError("Code Quality report must not start with a byte-order mark", Location(filename))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LogsleuthError(f"Code Quality report is not valid JSON: {exc}", Location(filename)) from None
    if not isinstance(data, list):
        raise LogsleuthError("Code Quality report must be a JSON array", Location(filename))
    fingerprints: set[str] = set()
    for index, item in enumerate(data):
        problem = _codequality_problem(item)
        if problem is None and item["fingerprint"] in fingerprints:
            problem = f"repeats fingerprint {item['fingerprint']}"
        if problem is not None:
            raise LogsleuthError(f"Code Quality entry {index} {problem}", Location(filename))
        fingerprints.add(item["fingerprint"])
