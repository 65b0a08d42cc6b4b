"""GitLab at the edge: a pipeline's report grouped by failed job, each incident with the trace section it failed in.

The job-trace reader already knows the innermost open CI section of every entry
(`prepare_executor`, `get_sources`, `step_script`, `after_script`, `upload_artifacts_on_failure`,
…); this maps each incident's first evidence line back to its job and that section.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from logsleuth.errors import Diagnostics
from logsleuth.gitlab.pipeline import Job
from logsleuth.model import Report
from logsleuth.read import inputs
from logsleuth.report.verdict import incidents_of


# A job name or log line must not move the cursor or retitle the terminal it is printed on.
_TERM_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x9b]")


def term(value: str) -> str:
    return _TERM_UNSAFE.sub("?", value)


@dataclass(frozen=True)
class Attributed:
    """One incident of a job: what, where in the trace, in which section."""

    rule_id: str
    severity: str
    title: str
    message: str
    line: int
    section: str | None
    count: int


@dataclass(frozen=True)
class JobReport:
    job: Job
    trace: str
    incidents: tuple[Attributed, ...]


def sections_by_line(path: str, read: inputs.ReadOptions) -> dict[int, str | None]:
    """Each entry's first line in the trace -> its section."""
    diag = Diagnostics()
    out: dict[int, str | None] = {}
    for inp in inputs.expand([path], read, diag):
        opened = inputs.open_input(inp, read, diag)
        if opened is not None:
            out.update((r.origin.line, r.section) for r in inputs.records(opened))
    return out


def group_by_job(report: Report, saved: list[tuple[Job, str]], read: inputs.ReadOptions) -> list[JobReport]:
    """Every failed job, in GitLab's order, with the incidents whose root was seen in its trace."""
    by_path: dict[str, list[Attributed]] = {path: [] for _, path in saved}
    sections = {path: sections_by_line(path, read) for _, path in saved}
    for inc in incidents_of(report):
        root = inc.root
        first = root.evidence[0] if root.evidence else None
        if first is None or first.path not in by_path:
            continue
        by_path[first.path].append(Attributed(root.rule_id, inc.severity, root.title, root.message, first.line,
                                              sections[first.path].get(first.line), root.count))
    return [JobReport(job, path, tuple(by_path[path])) for job, path in saved]


def places(groups: list[JobReport]) -> tuple[tuple[str, int, str], ...]:
    """(trace path, line, "job NAME (stage S, #ID), section X") for each incident's first evidence line."""
    out = []
    for g in groups:
        for a in g.incidents:
            where = f"section {a.section}" if a.section else "outside any section"
            out.append((g.trace, a.line, f"job {g.job.name} (stage {g.job.stage}, #{g.job.id}), {where}"))
    return tuple(out)


def render_text(groups: list[JobReport], pipeline: int) -> str:
    """A terminal report: one block per failed job."""
    total = sum(len(g.incidents) for g in groups)
    lines = [f"logsleuth: pipeline {pipeline}: {len(groups)} failed job{'s' if len(groups) != 1 else ''}, "
             f"{total} incident{'s' if total != 1 else ''}"]
    for g in groups:
        job = g.job
        reason = f", {job.failure_reason}" if job.failure_reason else ""
        lines.append("")
        lines.append(f"job {term(job.name)} (stage {term(job.stage)}, #{job.id}{reason}) {term(job.web_url)}")
        if not g.incidents:
            lines.append("  no known failure found in its trace")
        for a in g.incidents:
            where = f"in section {term(a.section)}" if a.section else "outside any section"
            lines.append(f"  [{a.severity.upper()}] {term(a.title)} ({a.rule_id}) {where}, trace line {a.line}")
            lines.append(f"    {term(a.message)}")
    return "\n".join(lines) + "\n"


def render_json(groups: list[JobReport], pipeline: int) -> str:
    """The same, as one JSON object."""
    data: dict[str, Any] = {"pipeline": pipeline, "jobs": [
        {"id": g.job.id, "name": g.job.name, "stage": g.job.stage, "web_url": g.job.web_url,
         "failure_reason": g.job.failure_reason, "pipeline_id": g.job.pipeline_id,
         "incidents": [{"rule_id": a.rule_id, "severity": a.severity, "title": a.title, "message": a.message,
                        "section": a.section, "line": a.line, "count": a.count} for a in g.incidents]}
        for g in groups]}
    return json.dumps(data, indent=2) + "\n"
