"""Report stage: the one verdict every format and the exit status agree on.

`fail`: an incident at or above `--fail-on`; `below`: incidents, all below it; `empty`: nothing to
check (no entries, or journalctl's `-- No entries --` only); `unexplained`: no incident, but error
lines no rule recognised; `clear`: none of these. `--fail-on none` never fails on incidents or on
unexplained lines, but an empty input is still `empty`: nothing was checked at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from logsleuth.model import SEVERITIES, Incident, Report

KINDS = ("fail", "below", "empty", "unexplained", "clear")


@dataclass(frozen=True)
class Verdict:
    kind: str
    fail_on: str
    headline: Incident | None  # the incident the verdict names: the most pressing ongoing one

    @property
    def failed(self) -> bool:
        return self.kind in ("fail", "empty", "unexplained")


def above(severity: str, fail_on: str) -> bool:
    """Whether `severity` reaches `fail_on` (`none`: nothing does)."""
    return fail_on != "none" and SEVERITIES.index(severity) >= SEVERITIES.index(fail_on)


def incidents_of(report: Report) -> tuple[Incident, ...]:
    """The report's incidents; a report built without them (a library caller's, a live alert's)
    has one incident per finding."""
    if report.incidents or not report.findings:
        return report.incidents
    return tuple(Incident((f,), f.fingerprint) for f in report.findings)


def judge(report: Report, fail_on: str = "major", allow_empty: bool = False) -> Verdict:
    """The verdict on `report` at threshold `fail_on`."""
    incidents = incidents_of(report)
    headline = incidents[0] if incidents else None
    if any(above(i.severity, fail_on) for i in incidents):
        kind = "fail"
    elif incidents:
        kind = "below"
    elif report.empty and not allow_empty:
        kind = "empty"
    elif report.unexplained.count and fail_on != "none":
        kind = "unexplained"
    else:
        kind = "clear"
    return Verdict(kind, fail_on, headline)
