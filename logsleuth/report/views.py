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
from functools import lru_cache
from typing import Any, Callable

from logsleuth import __version__
from logsleuth.errors import Location, LogsleuthError
from logsleuth.report.filters import iso_utc, md_escape
from logsleuth.model import SEVERITIES, Evidence, Finding, Incident, Report, RuleInfo
from logsleuth.report.verdict import above, incidents_of, judge

from logsleuth.report.options import RenderOptions
from logsleuth.report.summary import summarize
from logsleuth.report.unrecognised import status_of, unrecognised

# Version of logsleuth's own JSON/NDJSON shape (logsleuth/schemas/report.schema.json).
SCHEMA_VERSION = "1"
# SARIF tool.driver.informationUri: where people learn about the tool.
PROJECT_URL = "https://pypi.org/project/logsleuth/"
_NORMAL_EVIDENCE = 3
# SARIF has four levels; blocker..major all mean "the job failed because of this".
_SARIF_LEVELS = {"blocker": "error", "critical": "error", "major": "error", "minor": "warning", "info": "note"}
_BACKTICKS = re.compile(r"`+")
_CQ_SEVERITIES = frozenset(SEVERITIES)
# Code Climate's category vocabulary (its spec's "categories"); a runner that cannot work is a bug risk
# unless it is about credentials and trust, or about resources running out.
_CODECLIMATE_CATEGORIES = {
    "auth-token": "Security", "tls-x509": "Security", "proxy": "Compatibility", "config-toml": "Compatibility",
    "oom-kill": "Performance", "disk-full": "Performance", "resource-exhaustion": "Performance",
    "job-timeout": "Performance",
}
# SARIF artifact locations are relative URIs resolved against these bases (originalUriBaseIds):
# the project directory for logs inside it, the file system root for the rest (/var/log/...).
PROJECT_BASE, ROOT_BASE = "PROJECTROOT", "ROOT"


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
    sarif_base: str | None = None  # the uriBaseId sarif_uri is relative to; None for stdin
    job: str = ""  # the CI job whose trace this is, when known (`gitlab pipeline`)
    place: str = ""  # where the first evidence line was in CI terms (job and section), when known
    diagnosis: str = ""  # the rule's diagnosis and fix with this finding's captured values filled in
    fix: str = ""
    md_diagnosis: str = ""  # the same for Markdown: values outside code spans escaped for GitLab
    md_fix: str = ""


@dataclass(frozen=True, eq=False)
class IncidentView:
    """An Incident for templates: its root and supporting facts as FindingViews, status, threshold."""

    incident: Incident
    root: FindingView
    facts: tuple[FindingView, ...]  # the supporting facts, root excluded
    rule: RuleInfo
    rule_id: str
    title: str
    message: str
    category: str
    severity: str
    status: str
    recovered_at: str | None
    first_seen: str | None
    last_seen: str | None
    count: int
    fingerprint: str
    cq_fingerprint: str
    sarif_level: str
    above: bool  # at or above --fail-on: a failure, not a note
    cq_categories: tuple[str, ...] = ("Bug Risk",)
    cq_body: str = ""  # Code Quality `content.body`: the diagnosis and the fix, Markdown
    line_hash: str = ""  # SARIF partialFingerprints.primaryLocationLineHash


@dataclass(frozen=True)
class RuleView:
    """One evaluated rule for JUnit: failed when it is the root of an incident at or above --fail-on.

    `noted` are the incidents it fired in otherwise (below the threshold, or as a supporting fact).
    """

    rule: RuleInfo
    findings: tuple[FindingView, ...]
    failed: bool
    failure_message: str
    sarif_level: str
    incidents: tuple[IncidentView, ...] = ()
    noted: tuple[IncidentView, ...] = ()


# --- findings ------------------------------------------------------------------------------

# `{host}` or `{host|the GitLab host}` in a rule's diagnosis or fix; not `${VAR}` (shell) or `{{x}}`.
ADVICE_PLACEHOLDER = re.compile(r"(?<![$\w{])\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([^{}\n]*))?\}(?!\})")
# A captured value goes into Markdown and shell commands: only characters that can do neither
# harm there (no backtick, `@` mention, `$`, quote, pipe, angle bracket or whitespace).
_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9._:/\[\]=+,%#~-]")


def fill_advice(text: str, variables: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its captured value, else its fallback, else NAME."""
    def value(m: re.Match[str]) -> str:
        got = variables.get(m.group(1))
        if got:
            cleaned = _UNSAFE_VALUE.sub("", got)[:200]
            if cleaned:
                return cleaned
        return m.group(2) if m.group(2) is not None else m.group(1).upper()
    return ADVICE_PLACEHOLDER.sub(value, text) if "{" in text else text


_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def fill_advice_markdown(text: str, variables: Mapping[str, str]) -> str:
    """fill_advice for a Markdown note: a value inside a code span or fence stays as it is (code is
    literal), one in running text is escaped, so `:fire:` or `%v1` from a log stays text in GitLab."""
    if "{" not in text:
        return text
    out, fence = [], ""
    for line in text.split("\n"):
        marker = _FENCE_LINE.match(line)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)[:3]
            out.append(line)
            continue
        out.append(fill_advice(line, variables) if fence else _fill_line(line, variables))
    return "\n".join(out)


def _fill_line(line: str, variables: Mapping[str, str]) -> str:
    def value(m: re.Match[str]) -> str:
        filled = fill_advice(m.group(0), variables)
        in_code = line.count("`", 0, m.start()) % 2 == 1
        return filled if in_code or filled == m.group(0) else md_escape(filled)
    return ADVICE_PLACEHOLDER.sub(value, line)


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


def _project_dir() -> str:
    return os.path.abspath(os.environ.get("CI_PROJECT_DIR") or os.getcwd())


def _sarif_location(path: str) -> tuple[str, str | None]:
    """A result's artifact URI and its uriBaseId: relative to the project, else to `/`; stdin is `stdin`.

    GitHub code scanning rejects results without a location, and GitLab's SARIF ingestion fails a
    scan when most lack one, so even stdin gets one.
    """
    if path.startswith("<"):
        return "stdin", None
    outer = os.path.abspath(path.partition("!")[0])  # an archive member: the archive is the artifact
    relative = os.path.relpath(outer, _project_dir())
    if relative.startswith(".."):
        return urllib.parse.quote(outer.replace(os.sep, "/").lstrip("/")), ROOT_BASE
    return urllib.parse.quote(relative.replace(os.sep, "/")), PROJECT_BASE


def sarif_bases() -> dict[str, dict[str, str]]:
    """SARIF originalUriBaseIds: where the relative artifact URIs are rooted."""
    project = urllib.parse.quote(_project_dir().replace(os.sep, "/").rstrip("/"))
    return {PROJECT_BASE: {"uri": f"file://{project}/"}, ROOT_BASE: {"uri": "file:///"}}


def _cq_fingerprint(fingerprint: str, job: str) -> str:
    # GitLab keys Code Quality entries by fingerprint and compares them with the target branch's
    # report: the rule and its normalized captures (`fingerprint`) and the CI job where known, but
    # never the log's path, so renaming a log file does not mark every finding new.
    return hashlib.sha256(f"{fingerprint}\0{job}".encode()).hexdigest()


@lru_cache(maxsize=4)
def _lookup(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


@lru_cache(maxsize=4)
def _lookup_places(places: tuple[tuple[str, int, str], ...]) -> dict[tuple[str, int], str]:
    return {(path, line): label for path, line, label in places}


@lru_cache(maxsize=256)
def _locations(path: str, options: RenderOptions, cwd: str, project: str | None) -> tuple[str, str, str | None]:
    """Code Quality path and SARIF location of `path`: the same for every finding of one log, and
    each costs an abspath and a relpath (`cwd` and `project` are in the key, as the answer depends
    on them)."""
    return (_project_path(path, options), *_sarif_location(path))


@lru_cache(maxsize=1024)
def _advice(diagnosis: str, fix: str, values: tuple[tuple[str, str], ...]) -> tuple[str, str, str, str]:
    """A rule's diagnosis and fix filled with one finding's values, plain and for Markdown: the
    incidents of one failure share them (a fact of 162 incidents is often the same rule and values)."""
    variables = dict(values)
    return (fill_advice(diagnosis, variables), fill_advice(fix, variables),
            fill_advice_markdown(diagnosis, variables), fill_advice_markdown(fix, variables))


def _finding_view(f: Finding, options: RenderOptions, rule_index: dict[str, int], fallback: str) -> FindingView:
    shown = f.evidence if options.verbosity >= 1 else f.evidence[:_NORMAL_EVIDENCE]
    first = f.evidence[0] if f.evidence else None
    path = first.path if first else fallback
    cq_path, sarif_uri, sarif_base = _locations(path, options, os.getcwd(), os.environ.get("CI_PROJECT_DIR"))
    job = _lookup(options.job_names).get(path, "")
    place = _lookup_places(options.places).get((path, first.line), "") if first else ""
    diagnosis, fix, md_diagnosis, md_fix = _advice(f.rule.diagnosis, f.rule.fix, tuple(f.variables.items()))
    return FindingView(
        finding=f, rule=f.rule, rule_id=f.rule_id, title=f.title, severity=f.severity,
        category=f.category, message=f.message, count=f.count, fingerprint=f.fingerprint,
        variables=f.variables, evidence=f.evidence,
        first_seen=iso_utc(f.first_seen), last_seen=iso_utc(f.last_seen),
        shown_evidence=shown, more_evidence=len(f.evidence) - len(shown), fence=_fence(shown),
        location=first, cq_path=cq_path, line=max(1, first.line) if first else 1,
        cq_fingerprint=_cq_fingerprint(f.fingerprint, job),
        sarif_level=_SARIF_LEVELS.get(f.severity, "warning"),
        sarif_uri=sarif_uri, sarif_base=sarif_base, job=job, place=place,
        sarif_rule_index=rule_index[f.rule_id],
        diagnosis=diagnosis, fix=fix, md_diagnosis=md_diagnosis, md_fix=md_fix,
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


def incident_views(report: Report, options: RenderOptions) -> tuple[IncidentView, ...]:
    """One view per incident, most pressing first, with unique Code Quality fingerprints."""
    rule_index = {rule_id: i for i, rule_id in enumerate(_rule_table(report))}
    for inc in incidents_of(report):
        for f in inc.facts:
            rule_index.setdefault(f.rule_id, len(rule_index))
    fallback = report.inputs[0].path if report.inputs else "<stdin>"
    out, seen = [], set()
    for inc in incidents_of(report):
        root, *rest = (_finding_view(f, options, rule_index, fallback) for f in inc.facts)
        cq = _cq_fingerprint(inc.fingerprint, root.job)
        while cq in seen:
            cq = hashlib.sha256(f"{cq}\0".encode()).hexdigest()
        seen.add(cq)
        out.append(IncidentView(
            incident=inc, root=root, facts=tuple(rest), rule=root.rule, rule_id=root.rule_id, title=root.title,
            message=root.message, category=root.category, severity=inc.severity, status=inc.status,
            recovered_at=iso_utc(inc.recovered_at), first_seen=iso_utc(inc.first_seen),
            last_seen=iso_utc(inc.last_seen), count=sum(f.count for f in inc.facts), fingerprint=inc.fingerprint,
            cq_fingerprint=cq, sarif_level=_SARIF_LEVELS.get(inc.severity, "warning"),
            above=above(inc.severity, options.fail_on),
            cq_categories=(_CODECLIMATE_CATEGORIES.get(root.category, "Bug Risk"),),
            cq_body=_cq_body(root), line_hash=f"{cq[:16]}:1",
        ))
    return tuple(out)


def _cq_body(root: FindingView) -> str:
    parts = [root.message if not root.diagnosis else root.diagnosis]
    if root.fix:
        parts.append(f"**Fix**\n\n{root.fix}")
    return "\n\n".join(parts)


def _replace(view: FindingView, **changes: Any) -> FindingView:
    fields = {k: getattr(view, k) for k in FindingView.__dataclass_fields__}
    fields.update(changes)
    return FindingView(**fields)


# --- template context ----------------------------------------------------------------------


def _rule_views(report: Report, findings: tuple[FindingView, ...],
                incidents: tuple[IncidentView, ...]) -> tuple[RuleView, ...]:
    by_rule: dict[str, list[FindingView]] = {}
    for v in findings:
        by_rule.setdefault(v.rule_id, []).append(v)
    failing: dict[str, list[IncidentView]] = {}
    noted: dict[str, list[IncidentView]] = {}
    for inc in incidents:
        (failing if inc.above else noted).setdefault(inc.rule_id, []).append(inc)
        for fact in inc.facts:
            if fact.rule_id != inc.rule_id:
                noted.setdefault(fact.rule_id, []).append(inc)
    views = []
    for rule in _rule_table(report).values():
        mine = tuple(failing.get(rule.id, ()))
        message = "; ".join(dict.fromkeys(i.message for i in mine))
        level = _SARIF_LEVELS.get(rule.severity, "warning")
        views.append(RuleView(rule=rule, findings=tuple(by_rule.get(rule.id, ())), failed=bool(mine),
                              failure_message=message, sarif_level=level, incidents=mine,
                              noted=tuple({i.fingerprint: i for i in noted.get(rule.id, ())}.values())))
    return tuple(views)


def _summary(report: Report) -> dict[str, Any]:
    by_severity = report.counts_by_severity()
    worst = next((s for s in reversed(SEVERITIES) if by_severity.get(s)), None)
    incidents = incidents_of(report)
    return {
        "incidents": len(incidents),
        "ongoing": sum(1 for i in incidents if i.status != "recovered"),
        "recovered": sum(1 for i in incidents if i.status == "recovered"),
        "total": len(report.findings),
        "by_severity": by_severity,
        "by_category": report.counts_by_category(),
        "worst": worst,
        "occurrences": sum(f.count for f in report.findings),
    }


def context(
    report: Report, incidents: tuple[IncidentView, ...], options: RenderOptions, omitted: int = 0
) -> dict[str, Any]:
    """The variables every report template sees; the details of the last `omitted` incidents were cut by the size cap."""
    findings = finding_views(report, options)
    rules = _rule_views(report, findings, incidents)
    verdict = judge(report, options.fail_on, options.allow_empty)
    return {
        "report": report,
        "findings": findings,
        "incidents": incidents,
        "ongoing": tuple(i for i in incidents if i.status != "recovered"),
        "recovered": tuple(i for i in incidents if i.status == "recovered"),
        "verdict": verdict,
        "headline": incidents[0] if incidents else None,
        "unexplained": report.unexplained,
        "unrecognised": unrecognised(report),  # templates of those lines (report/unrecognised.py)
        "status_of": status_of(report),  # fingerprint -> "new"/"known" with --baseline, else ""
        "show_unmatched": options.show_unmatched,
        "empty_inputs": tuple(i for i in report.inputs if i.lines == 0 or i.markers_only),
        "rules": rules,
        "failed_rules": sum(1 for r in rules if r.failed),
        "summary": _summary(report),
        "across": summarize(report),  # by category, host and day over every input (report/summary.py)
        "options": options,
        "color": options.color,
        "verbosity": options.verbosity,
        "omitted_findings": omitted,
        "omitted_incidents": omitted,
        "detailed": incidents[: len(incidents) - omitted],  # the incidents whose details fit (Markdown cap)
        "logsleuth_version": report.version or __version__,
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso_utc(report.generated_at),
        "severities": tuple(reversed(SEVERITIES)),
        "sarif_bases": sarif_bases(),
        "project_url": PROJECT_URL,
    }


# --- format-specific limits and checks -----------------------------------------------------


def capped(
    run: Callable[[tuple[IncidentView, ...], int], str], findings: tuple[IncidentView, ...], max_chars: int
) -> str:
    """`run(incidents, omitted)` with the details of as many incidents as fit in max_chars.

    Every incident keeps its table row; the last `omitted` lose their details section.
    """
    text = run(findings, 0)
    if len(text) <= max_chars:
        return text
    low, high, best = 0, len(findings) - 1, None
    while low <= high:  # most incidents with details that fit
        mid = (low + high) // 2
        candidate = run(findings, len(findings) - mid)
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
