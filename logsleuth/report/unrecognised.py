"""Report stage: the "Unrecognised errors" section's values (top templates, the rest counted) and new/known marks.

Every format shows the same capped list, so the text, Markdown and JSON reports agree on what is
shown; `scan --baseline` marks each finding, incident and template *new* or *known* here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from logsleuth.model import ErrorTemplate, Evidence, Finding, Incident, Report, RuleInfo
from logsleuth.report.filters import iso_utc
from logsleuth.report.verdict import incidents_of

TOP = 20  # templates shown; the rest are counted


@dataclass(frozen=True)
class TemplateView:
    """One template as reports show it."""

    id: str
    template: str
    count: int
    first_seen: str | None
    last_seen: str | None
    hosts: tuple[str, ...]
    units: tuple[str, ...]
    examples: tuple[Evidence, ...]
    status: str  # "new" / "known" with a baseline, else ""


@dataclass(frozen=True)
class UnrecognisedView:
    """The section: `shown` (most frequent first), how many more templates, lines and dropped lines."""

    shown: tuple[TemplateView, ...]
    more: int
    more_lines: int
    total: int
    lines: int
    dropped: int
    new: int


def status_of(report: Report) -> Callable[[str], str]:
    """`fingerprint or template id -> "new" | "known"`, or always "" when the scan had no baseline."""
    known = report.known
    if known is None:
        return lambda key: ""
    return lambda key: "known" if key in known else "new"


def _view(t: ErrorTemplate, status: Callable[[str], str]) -> TemplateView:
    return TemplateView(t.id, t.template, t.count, iso_utc(t.first_seen), iso_utc(t.last_seen), t.hosts, t.units,
                        t.examples, status(t.id))


def unrecognised(report: Report, top: int = TOP) -> UnrecognisedView:
    """The section's values for `report`."""
    status = status_of(report)
    templates = report.unexplained.templates
    shown = tuple(_view(t, status) for t in templates[:top])
    return UnrecognisedView(shown, max(0, len(templates) - top), sum(t.count for t in templates[top:]),
                            len(templates), report.unexplained.count, report.unexplained.dropped,
                            sum(1 for t in templates if status(t.id) == "new"))


CI_FORMATS = frozenset({"codequality", "junit", "sarif"})
_RULE_ID = "unrecognised-error"


def as_findings(report: Report, top: int = TOP) -> Report:
    """`report` with its top templates as `info` findings, for the CI artifacts (`--report-unrecognised`).

    Code Quality, JUnit and SARIF have no place for them otherwise, and by default they stay out:
    a merge request's widget should list failures a rule explains, unless the project asks.
    """
    extra = []
    for t in report.unexplained.templates[:top]:
        info = RuleInfo(id=_RULE_ID, title="Error lines no rule recognised", severity="info", category="unrecognised",
                        diagnosis=f"{t.count} line(s) of this shape; no rule knows them.",
                        fix=f"Draft a rule: `logsleuth rules suggest {t.id} --from report.json`.")
        extra.append(Finding(info, t.template, t.id, t.count, t.first_seen, t.last_seen, {"template": t.id}, t.examples))
    if not extra:
        return report
    incidents = (*incidents_of(report), *(Incident((f,), f"unrecognised:{f.fingerprint}") for f in extra))
    return dataclasses.replace(report, findings=(*report.findings, *extra), incidents=incidents,
                               rules=(*report.rules, extra[0].rule))
