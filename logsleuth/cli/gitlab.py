"""`logsleuth gitlab pipeline`: explain a pipeline's failed jobs from their traces (GitLab at the command line's edge)."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from logsleuth.errors import Diagnostics

from logsleuth.cli.app import EXIT_ERROR, cli, load_rules, read_options, report_diagnostics, rule_options
from logsleuth.cli.mrnote import make_client, note_mode, note_options, post_note
from logsleuth.cli.scan import _report_specs, _write, verdict_status


# --- logsleuth gitlab pipeline --------------------------------------------------------------------


@cli.group("gitlab")
def gitlab_group() -> None:
    """Work with GitLab: explain a pipeline's failed jobs from their traces."""


@gitlab_group.command("pipeline")
@click.option("--url", metavar="URL", help="GitLab (https://gitlab.example.com) or its API base (default: $CI_API_V4_URL).")
@click.option("--project", metavar="ID|PATH", help="Project id or path (default: $CI_PROJECT_ID).")
@click.option("--pipeline", "pipeline_id", type=click.IntRange(1), metavar="ID",
              help="Pipeline id (default: $CI_PIPELINE_ID).")
@click.option("--traces-dir", metavar="DIR", default="logsleuth-traces", show_default=True,
              help="Save the fetched traces here, one file per job (they are the reports' evidence paths).")
@rule_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Printed report, grouped by job.")
@click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH",
              help="Also write a report in FORMAT (codequality, junit, markdown, sarif, json ...) to PATH.")
@click.option("--fail-on", type=click.Choice(["info", "minor", "major", "critical", "blocker", "none"]),
              default="major", show_default=True, help="Exit 1 when an incident of this severity or worse is found.")
@click.option("--cq-path", metavar="PATH", help="location.path for Code Quality entries.")
@note_options
def pipeline_command(url: str | None, project: str | None, pipeline_id: int | None, traces_dir: str,
                     rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...],
                     fmt: str, reports: tuple[str, ...], fail_on: str, cq_path: str | None, mr_note: str,
                     mr_note_dry_run: bool, token_type: str, ca_file: str | None) -> None:
    """Fetch the traces of a pipeline's failed jobs (child pipelines too) and explain each failure."""
    from logsleuth.gitlab import pipeline as gl_pipeline

    project = project or os.environ.get("CI_PROJECT_ID")
    pipeline_id = pipeline_id or _int_env("CI_PIPELINE_ID")
    if not project or not pipeline_id:
        raise click.UsageError("give --project and --pipeline (or run in GitLab CI, where CI_PROJECT_ID and "
                               "CI_PIPELINE_ID are set)")
    specs = _report_specs(reports)
    mr_note = note_mode(mr_note)[0]
    selected = load_rules(rule_dirs, no_builtin, only, skip)
    client = make_client(os.environ, token_type, ca_file, url)
    jobs = gl_pipeline.failed_jobs(client, project, pipeline_id)
    diag = Diagnostics()
    saved = gl_pipeline.save_traces(client, jobs, traces_dir, diag)
    sys.exit(_explain(saved, selected, fmt, specs, fail_on, cq_path, pipeline_id,
                      (mr_note, mr_note_dry_run, token_type, ca_file), diag))


def _explain(saved: list[tuple[Any, str]], selected: list[Any], fmt: str, specs: list[tuple[str, str]],
             fail_on: str, cq_path: str | None, pipeline_id: int, note: tuple[str, bool, str, str | None],
             diag: Diagnostics) -> int:
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.report.options import RenderOptions
    from logsleuth.report.redact import redact_report
    from logsleuth.report.render import render
    from logsleuth.gitlab.report import group_by_job, places, render_json, render_text

    read = read_options("job-trace", None, None, (), ())
    # No failed job is a clean verdict, not "nothing to check": the note then says the failures are gone.
    report = analyze([path for _, path in saved], selected, ScanOptions(read, jobs=1), diag)
    groups = group_by_job(redact_report(report), saved, read)
    options = RenderOptions(cq_path=cq_path, fail_on=fail_on, allow_empty=not saved,
                            job_names=tuple((path, job.name) for job, path in saved), places=places(groups))
    _write(None, render_json(groups, pipeline_id) if fmt == "json" else render_text(groups, pipeline_id))
    for rfmt, path in specs:
        _write(path, render(report, rfmt, options=options))
    report_diagnostics(diag)
    if not post_note(report, options, *note):
        return EXIT_ERROR
    return int(verdict_status(report, options, diag))


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else None

