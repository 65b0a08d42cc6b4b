"""`logsleuth baseline write` and scan's `--baseline`, `--fail-on-new`, `--fail-on-unrecognised` options.

The scan options are declared here and read back from the click context (`gate_options`), so
`scan`'s signature does not grow: scan calls `apply` on its report and `gate` on its exit status.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from logsleuth.errors import Diagnostics, Location, LogsleuthError
from logsleuth.findings import baseline
from logsleuth.model import Report

from logsleuth.cli.app import (EXIT_FINDINGS, EXIT_OK, EXIT_UNEXPLAINED, cli, input_options, load_rules, read_options,
                               report_diagnostics, rule_options)
from logsleuth.cli.output import write_atomic

_KEY = "logsleuth.baseline"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_KEY, {})[param.name] = value


def gate_options(func: Any) -> Any:
    """scan's options for baselines and unrecognised errors (kept in ctx.meta, not parameters)."""
    for opt in reversed([
        click.option("--baseline", "baseline_file", metavar="FILE", expose_value=False, callback=_remember,
                     help="Mark each incident, finding and unrecognised-error template new or known against "
                          "FILE (written by `logsleuth baseline write`)."),
        click.option("--fail-on-new", is_flag=True, expose_value=False, callback=_remember,
                     help="With --baseline: judge only what is new (--fail-on still sets the severity)."),
        click.option("--report-unrecognised", is_flag=True, expose_value=False, callback=_remember,
                     help="Also put the unrecognised-error templates (as info) into Code Quality, JUnit and SARIF."),
        click.option("--fail-on-unrecognised", type=click.IntRange(0), metavar="N", expose_value=False,
                     callback=_remember,
                     help="Exit 1 when more than N distinct unrecognised-error templates appear "
                          "(with --fail-on-new: new ones)."),
    ]):
        func = opt(func)
    return func


def _settings() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_KEY, {})) if ctx is not None else {}


def apply(report: Report) -> Report:
    """`report` marked against `--baseline` when given. Raises LogsleuthError for an unreadable baseline."""
    path = _settings().get("baseline_file")
    return report if not path else baseline.mark(report, baseline.load(path))


def check_usage() -> None:
    """Usage errors before the scan runs, and a baseline that cannot be read. Raises LogsleuthError."""
    settings = _settings()
    if settings.get("fail_on_new") and not settings.get("baseline_file"):
        raise click.UsageError("--fail-on-new needs --baseline FILE")
    if settings.get("baseline_file"):
        baseline.load(settings["baseline_file"])


def for_format(report: Report, fmt: str) -> Report:
    """The report a format renders: with --report-unrecognised, the CI artifacts list the templates too."""
    from logsleuth.report.unrecognised import CI_FORMATS, as_findings

    return as_findings(report) if fmt in CI_FORMATS and _settings().get("report_unrecognised") else report


def judged(report: Report) -> Report:
    """What the exit status judges: with --fail-on-new, only the part the baseline did not know."""
    return baseline.only_new(report) if _settings().get("fail_on_new") else report


def gate(report: Report, status: int) -> int:
    """`status` raised to 1 when --fail-on-unrecognised N is exceeded (judged on `judged(report)`)."""
    limit = _settings().get("fail_on_unrecognised")
    if limit is None or status == EXIT_FINDINGS:
        return status
    templates = len(judged(report).unexplained.templates)
    if templates > limit:
        return EXIT_FINDINGS
    # Under the limit, unexplained lines alone no longer fail: the gate was set on purpose.
    return EXIT_OK if status == EXIT_UNEXPLAINED else status


# --- baseline write ----------------------------------------------------------------------------


@cli.group("baseline")
def baseline_group() -> None:
    """Baselines: what a scan found, to tell new failures from known ones later (`scan --baseline`)."""


@baseline_group.command("write")
@click.argument("file")
@click.argument("inputs", nargs=-1)
@click.option("--from", "from_report", metavar="REPORT.json", help="Take the scan from this JSON report "
              "(`scan --format json`) instead of scanning INPUTS.")
@input_options
@rule_options
def baseline_write(file: str, inputs: tuple[str, ...], from_report: str | None, input_format: str | None,
                   year: int | None, tz: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
                   verbose: int, rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...],
                   skip: tuple[str, ...]) -> None:
    """Write FILE: the fingerprints and template ids of a scan of INPUTS (or of --from REPORT.json)."""
    if from_report and inputs:
        raise click.UsageError("give INPUTS or --from REPORT.json, not both")
    if from_report:
        doc = _from_json(from_report)
    else:
        from logsleuth.pipeline import ScanOptions, analyze

        diag = Diagnostics()
        opts = read_options(input_format, year, tz, include, exclude)
        report = analyze(list(inputs) or ["-"], load_rules(rule_dirs, no_builtin, only, skip), ScanOptions(opts), diag)
        report_diagnostics(diag)
        from logsleuth.report.redact import redact_report

        doc = baseline.build(redact_report(report))  # committed to the repository: no secret in a template
    try:
        write_atomic(file, baseline.dumps(doc))
    except OSError as exc:
        raise LogsleuthError(f"cannot write baseline: {exc.strerror}", Location(file)) from None
    click.echo(f"baseline: {len(doc['incidents'])} incident(s), {len(doc['findings'])} finding(s), "
               f"{len(doc['templates'])} template(s) written to {file}", err=True)
    sys.exit(EXIT_OK)


def _from_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise LogsleuthError(f"cannot read report: {exc.strerror}", Location(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise LogsleuthError(f"not a JSON report: {exc}", Location(path)) from None
    if not isinstance(data, dict) or "incidents" not in data or "findings" not in data:
        raise LogsleuthError("not a logsleuth JSON report (no incidents/findings)", Location(path))
    try:
        return _doc_of(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise LogsleuthError(f"not a logsleuth JSON report: missing or wrong {exc}", Location(path)) from None


def _doc_of(data: dict[str, Any]) -> dict[str, Any]:
    doc = baseline.build(Report(findings=(), rules=(), version=str(data.get("logsleuth_version", ""))))
    for i in data.get("incidents", []):
        doc["incidents"][i["fingerprint"]] = {"rule_id": i["rule_id"], "count": sum(f["count"] for f in i["facts"]),
                                              "first_seen": i["first_seen"], "last_seen": i["last_seen"]}
    for f in data.get("findings", []):
        doc["findings"][f["fingerprint"]] = {"rule_id": f["rule_id"], "count": f["count"],
                                             "first_seen": f["first_seen"], "last_seen": f["last_seen"]}
    for t in data.get("unrecognised", {}).get("templates", []):
        doc["templates"][t["id"]] = {"template": t["template"], "count": t["count"],
                                     "first_seen": t["first_seen"], "last_seen": t["last_seen"]}
    doc["written_at"] = data.get("generated_at")
    for section in ("incidents", "findings", "templates"):
        doc[section] = dict(sorted(doc[section].items()))
    return doc


