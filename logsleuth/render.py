"""Report rendering (last stage): one typed Report in, text for a terminal, an MR note or a CI tool out.

Every format is a Jinja template (`templates/<format>.<ext>.j2`). Templates only loop and
branch; everything derived (fingerprints, locations, fences, levels, counts) is computed here
in a small view model, so a custom template gets the same values as the built-in one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import types
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

import jinja2
import jinja2.sandbox
import markupsafe

from logsleuth import __version__
from logsleuth.errors import Location, LogsleuthError
from logsleuth.model import SEVERITIES, Evidence, Finding, Report, RuleInfo
from logsleuth.redact import redact_report

FORMATS: tuple[str, ...] = ("text", "markdown", "codequality", "json", "ndjson", "junit", "sarif")
TEMPLATE_NAMES: dict[str, str] = {
    "text": "text.txt.j2",
    "markdown": "markdown.md.j2",
    "codequality": "codequality.json.j2",
    "json": "json.json.j2",
    "ndjson": "ndjson.ndjson.j2",
    "junit": "junit.xml.j2",
    "sarif": "sarif.json.j2",
}
# Version of logsleuth's own JSON/NDJSON shape (logsleuth/schemas/report.schema.json).
SCHEMA_VERSION = "1"
_NORMAL_EVIDENCE = 3
_UTC = timezone.utc
# SARIF has four levels; blocker..major all mean "the job failed because of this".
_SARIF_LEVELS = {"blocker": "error", "critical": "error", "major": "error", "minor": "warning", "info": "note"}


@dataclass(frozen=True)
class RenderOptions:
    """How to render: chosen by the CLI from flags, TTY and environment."""

    color: bool = False
    verbosity: int = 0
    template: str | None = None
    template_dir: str | None = None
    cq_path: str | None = None
    redact: bool = True
    max_chars: int = 990_000


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


def render(report: Report, fmt: str, *, options: RenderOptions) -> str:
    """The report in format `fmt`. Raises LogsleuthError for an unknown format or a broken template.

    With options.template set, `fmt` may be any name: the template file defines the format.
    """
    if fmt not in FORMATS and options.template is None:
        raise LogsleuthError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    if options.redact:
        report = redact_report(report)
    template = _load_template(fmt, options)
    findings = _finding_views(report, options)
    if fmt == "markdown":
        return _render_capped(template, report, findings, options)
    text = _run(template, _context(report, findings, options))
    if fmt == "codequality":
        _check_codequality(text, template.filename or template.name or fmt)
    return text


# --- templates -----------------------------------------------------------------------------


def _settings() -> dict[str, Any]:
    # Autoescape stays off: Markdown must not be HTML-escaped wholesale; each format escapes
    # exactly what it needs through the filters below (|tojson, |xml_text, |md_cell, ...).
    return {
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "autoescape": False,
    }


@lru_cache(maxsize=8)
def _environment(search_dir: str | None, sandboxed: bool) -> jinja2.Environment:
    # PackageLoader("logsleuth", "templates") fails for editable installs, where templates/
    # is mapped to the package logsleuth.templates (setup.cfg package_dir).
    package = jinja2.PackageLoader("logsleuth.templates", "")
    loader: jinja2.BaseLoader = package
    if search_dir is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(search_dir), package])
    cls = jinja2.sandbox.SandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(loader=loader, **_settings())
    env.filters.update(_FILTERS)
    env.globals["style"] = _style
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one built-in template by name (the rule catalogue uses this)."""
    return _run(_environment(None, False).get_template(name), context)


def _load_template(fmt: str, options: RenderOptions) -> jinja2.Template:
    if options.template is not None:
        directory, name = os.path.split(os.path.abspath(options.template))
        env = _environment(directory, True)
    else:
        name = TEMPLATE_NAMES[fmt]
        custom = options.template_dir
        env = _environment(os.path.abspath(custom) if custom else None, custom is not None)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(exc, exc.filename or exc.name or name, exc.lineno) from None
    except jinja2.TemplateNotFound:
        raise LogsleuthError(f"template not found: {options.template or name}") from None
    except OSError as exc:
        raise LogsleuthError(f"cannot read template: {exc}", Location(options.template or name)) from None


def _run(template: jinja2.Template, context: dict[str, Any]) -> str:
    # Custom templates are user code: a type error or a bad index in one is the user's
    # mistake to fix, reported at its template line, not a logsleuth traceback.
    try:
        return template.render(context)
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        filename = template.filename or template.name or "<template>"
        raise _template_error(exc, filename, _template_line(exc, filename)) from None


def _template_line(exc: BaseException, filename: str) -> int | None:
    # Jinja rewrites tracebacks so that frames of compiled templates carry the template's
    # file name and source line; the innermost such frame is where the error happened.
    line = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _template_error(exc: BaseException, filename: str, line: int | None) -> LogsleuthError:
    message = getattr(exc, "message", None) or str(exc)
    kind = "template syntax error" if isinstance(exc, jinja2.TemplateSyntaxError) else "template error"
    return LogsleuthError(f"{kind}: {message}", Location(filename, line))


# --- filters -------------------------------------------------------------------------------

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
         "cyan": "36"}
_SEVERITY_STYLE = {"blocker": "red bold", "critical": "red bold", "major": "red", "minor": "yellow", "info": "cyan"}
# XML 1.0 forbids most C0 controls even as character references; logs do contain them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TERM_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x9b]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")
_BACKTICKS = re.compile(r"`+")


@jinja2.pass_context
def _style(ctx: jinja2.runtime.Context, text: object, names: str) -> str:
    """`style(text, "red bold")` wraps text in ANSI codes when colour is on; `names` may be a severity."""
    value = str(text)
    if not ctx.get("color"):
        return value
    codes = ";".join(_ANSI[n] for n in _SEVERITY_STYLE.get(names, names).split() if n in _ANSI)
    return f"\x1b[{codes}m{value}\x1b[0m" if codes else value


def _xml_text(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(markupsafe.escape(str(value))))


def _xml_attr(value: object) -> str:
    # Newlines and tabs in attributes are normalized to spaces by XML parsers unless encoded.
    text = _xml_text(value)
    return text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _term(value: object) -> str:
    # A log line must not be able to move the cursor or retitle the terminal it is printed on.
    return _TERM_UNSAFE.sub("?", str(value))


def _md_text(value: object) -> str:
    """Inline Markdown text: every character GFM could read as markup is backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\r", "").replace("\n", "<br>")


def _md_cell(value: object) -> str:
    """A table cell of rule-authored Markdown (title, id, category): only what breaks the table is escaped.

    GFM splits cells on `|` even inside code spans, and `\\|` is the escape it honours there.
    """
    return str(value).replace("|", "\\|").replace("\r", "").replace("\n", " ")


def _html(value: object) -> str:
    # Inside <details>/<summary> GitLab treats the line as an HTML block: no Markdown escapes.
    return str(markupsafe.escape(str(value))).replace("\n", " ")


def _indent_lines(value: object, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in str(value).splitlines())


# Filters take whatever a template passes them (jinja2 is untyped there), hence `...`.
_FILTERS: dict[str, Callable[..., object]] = {
    "xml_text": _xml_text,
    "xml_attr": _xml_attr,
    "term": _term,
    "md_text": _md_text,
    "md_cell": _md_cell,
    "html": _html,
    "indent_lines": _indent_lines,
    "iso": lambda ts: iso_utc(ts),  # defined further down
}


# --- view model ----------------------------------------------------------------------------


def iso_utc(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`; naive timestamps are taken as UTC so output never depends on the host's zone."""
    if ts is None:
        return None
    aware = ts.replace(tzinfo=_UTC) if ts.tzinfo is None else ts.astimezone(_UTC)
    return aware.isoformat().replace("+00:00", "Z")


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


def _finding_views(report: Report, options: RenderOptions) -> tuple[FindingView, ...]:
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


def _context(
    report: Report, findings: tuple[FindingView, ...], options: RenderOptions, omitted: int = 0
) -> dict[str, Any]:
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


# --- format-specific checks ----------------------------------------------------------------


def _render_capped(
    template: jinja2.Template, report: Report, findings: tuple[FindingView, ...], options: RenderOptions
) -> str:
    """Markdown capped at max_chars: as many whole findings as fit, then a truncation line."""
    text = _run(template, _context(report, findings, options))
    if len(text) <= options.max_chars:
        return text
    low, high, best = 0, len(findings) - 1, None
    while low <= high:  # largest prefix of findings that fits
        mid = (low + high) // 2
        candidate = _run(template, _context(report, findings[:mid], options, len(findings) - mid))
        if len(candidate) <= options.max_chars:
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if best is not None:
        return best
    notice = "\n\n**Report truncated at the size limit of a GitLab note.**\n"
    return text[: max(0, options.max_chars - len(notice))] + notice


_CQ_SEVERITIES = frozenset(SEVERITIES)


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


def _check_codequality(text: str, filename: str) -> None:
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

