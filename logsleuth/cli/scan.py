"""`logsleuth parse` and `logsleuth scan`: read inputs, run the pipeline, write reports and set the exit status."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import tzinfo
from typing import Any, Sequence

import click

from logsleuth.errors import Diagnostics, LogsleuthError

from logsleuth.cli.app import (EXIT_EMPTY, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_UNEXPLAINED, announce, cli, input_options,
                               input_status, load_rules, quiet_broken_pipe, read_options, report_diagnostics,
                               rule_options)


@cli.command()
@click.argument("inputs", nargs=-1)
@input_options
def parse(inputs: tuple[str, ...], input_format: str | None, year: int | None, tz: str | None,
          include: tuple[str, ...], exclude: tuple[str, ...], verbose: int) -> None:
    """Print the normalized events of INPUTS as NDJSON (default: stdin)."""
    from logsleuth.read import inputs as inputs_mod
    from logsleuth.model import record_dict

    opts = read_options(input_format, year, tz, include, exclude)
    diag = Diagnostics()
    out = sys.stdout
    try:
        for inp in inputs_mod.expand(list(inputs) or ["-"], opts, diag):
            opened = inputs_mod.open_input(inp, opts, diag)
            if opened is None:
                continue
            if verbose:
                announce(opened)
            for record in inputs_mod.records(opened):
                out.write(_ndjson(record_dict(record)))
                if inp.name == "<stdin>":
                    out.flush()
        out.flush()
    except BrokenPipeError:
        quiet_broken_pipe()  # the reader (`| head`) has what it wanted
    report_diagnostics(diag)
    sys.exit(input_status(diag))


def _ndjson(obj: dict[str, Any]) -> str:
    """One JSON line; orjson (the `fast` extra) when installed, which is ~3x faster here."""
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":")) + "\n"


try:
    import orjson as _orjson

    def _ndjson(obj: dict[str, Any]) -> str:  # noqa: F811 - the fast variant of the same function
        return _orjson.dumps(obj, default=str, option=_orjson.OPT_APPEND_NEWLINE).decode()
except ImportError:  # pragma: no cover - depends on the extras installed
    pass


# --- scan -----------------------------------------------------------------------------------------

_FAIL_ON = ["info", "minor", "major", "critical", "blocker", "none"]


def _report_specs(values: Sequence[str]) -> list[tuple[str, str]]:
    from logsleuth.report.render import FORMATS

    out = []
    for v in values:
        fmt, sep, path = v.partition("=")
        if not sep or not path or fmt not in FORMATS:
            raise click.BadParameter(f"{v!r}: expected FORMAT=PATH with FORMAT one of {', '.join(FORMATS)}",
                                     param_hint="--report")
        out.append((fmt, path))
    return out


def _use_color(output: str | None) -> bool:
    return output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _write(path: str | None, text: str) -> None:
    if path is None or path == "-":
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`| head`): the exit status still tells what was found.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise LogsleuthError(f"cannot write report: {exc.strerror}", None) from exc


def _moment(text: str | None, tz: tzinfo, hint: str) -> Any:
    """An ISO 8601 date or date-time as an aware datetime, in `tz` when it names no zone."""
    from datetime import datetime

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or time such as 2024-03-10T12:00",
                                 param_hint=hint) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _window(since: str | None, until: str | None, tz: tzinfo) -> dict[str, Any]:
    """--since and --until as ScanOptions keywords; a window that holds no moment is a usage error."""
    start, end = _moment(since, tz, "--since"), _moment(until, tz, "--until")
    if start is not None and end is not None and start >= end:
        raise click.UsageError(f"--since {since} is not before --until {until}: no event can fall in that window "
                               "(events are kept from --since up to, not including, --until)",
                               ctx=click.get_current_context(silent=True))
    return dict(since=start, until=end)


def _live_printer(fmt: str, options: Any) -> Any:
    """The callback that prints one finding when it is first seen: a short alert, or an ndjson line."""
    from logsleuth.model import Report
    from logsleuth.report.render import render

    def show(finding: Any) -> None:
        one = Report(findings=(finding,), rules=(finding.rule,))
        _write(None, render(one, "alert" if fmt == "text" else fmt, options=options))
    return show


def _post_note(markdown: str) -> None:
    from logsleuth.gitlab import note as mrnote

    done = mrnote.post(mrnote.target_from_env(os.environ), markdown)
    click.echo(f"logsleuth: merge-request note {done}", err=True)


def verdict_status(report: Any, options: Any, diag: Diagnostics) -> int:
    """The exit status: the report's verdict (report/verdict.py), then how well the inputs were read."""
    from logsleuth.report.verdict import judge

    kind = judge(report, options.fail_on, options.allow_empty).kind
    if kind == "fail":
        return EXIT_FINDINGS
    status = input_status(diag)
    if status != EXIT_OK:
        return status
    return {"empty": EXIT_EMPTY, "unexplained": EXIT_UNEXPLAINED}.get(kind, EXIT_OK)


@cli.command()
@click.argument("inputs", nargs=-1)
@input_options
@rule_options
@click.option("--format", "fmt", default="text", show_default=True, metavar="FORMAT",
              help="text, markdown, codequality, json, ndjson, junit or sarif.")
@click.option("-o", "--output", metavar="PATH", help="Write the report here instead of stdout.")
@click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH",
              help="Also write a report in FORMAT to PATH (repeatable).")
@click.option("--fail-on", type=click.Choice(_FAIL_ON), default="major", show_default=True,
              help="Exit 1 when an incident of this severity or worse is found (below it: a note).")
@click.option("--allow-empty", is_flag=True, help="Exit 0, not 4, when there were no log entries to check.")
@click.option("--show-unmatched", is_flag=True, help="List the error lines no rule recognised (first 50).")
@click.option("--backend", type=click.Choice(["auto", "hyperscan", "python", "stdlib"]), default="auto",
              show_default=True,
              help="Literal prefilter: hyperscan (Vectorscan), python (pyahocorasick when installed, "
                   "else stdlib) or stdlib (bytes.find only). The `fast` extra installs the first two.")
@click.option("-j", "--jobs", type=click.IntRange(0, 64), default=0, show_default="0: one per core",
              help="Worker processes for big plain files (1: no workers).")
@click.option("--evidence", "evidence_limit", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Evidence lines kept per finding.")
@click.option("--template", metavar="FILE", help="Render the report with this Jinja template.")
@click.option("--template-dir", metavar="DIR", help="Templates here override the built-in ones by name.")
@click.option("--cq-path", metavar="PATH", help="location.path for Code Quality entries.")
@click.option("--no-redact", is_flag=True, help="Keep tokens and passwords in reports (never for MR notes).")
@click.option("-q", "--quiet", is_flag=True, help="Text report: the verdict and one line per incident.")
@click.option("--since", metavar="TIME", help="Only events at or after TIME (ISO 8601, e.g. 2024-03-10 or "
              "2024-03-10T12:00; zone --tz unless given).")
@click.option("--until", metavar="TIME", help="Only events before TIME.")
@click.option("--mr-note", is_flag=True,
              help="Post the Markdown report as a note on this pipeline's merge request (always redacted; "
                   "needs LOGSLEUTH_GITLAB_TOKEN).")
@click.option("--live", is_flag=True,
              help="Print each finding as soon as it is seen (for `journalctl -f`), the report at the end.")
def scan(inputs: tuple[str, ...], input_format: str | None, year: int | None, tz: str | None,
         include: tuple[str, ...], exclude: tuple[str, ...], verbose: int, rule_dirs: tuple[str, ...],
         no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...], fmt: str, output: str | None,
         reports: tuple[str, ...], fail_on: str, allow_empty: bool, show_unmatched: bool, backend: str, jobs: int, evidence_limit: int, template: str | None,
         template_dir: str | None, cq_path: str | None, no_redact: bool, quiet: bool, since: str | None,
         until: str | None, mr_note: bool, live: bool) -> None:
    """Scan INPUTS (default: stdin) for known failures and report them."""
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.report.options import RenderOptions
    from logsleuth.report.render import FORMATS, render

    if fmt not in FORMATS and template is None:
        raise click.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    if live and fmt not in ("text", "ndjson"):
        raise click.BadParameter("--live prints text or ndjson", param_hint="--format")
    specs = _report_specs(reports)
    opts = read_options(input_format, year, tz, include, exclude)
    window = _window(since, until, opts.tz)
    selected = load_rules(rule_dirs, no_builtin, only, skip)
    diag = Diagnostics()

    base = RenderOptions(template_dir=template_dir, cq_path=cq_path, redact=not no_redact,
                         verbosity=-1 if quiet else min(verbose, 1), fail_on=fail_on, allow_empty=allow_empty,
                         show_unmatched=show_unmatched)
    main_options = dataclasses.replace(base, color=_use_color(output), template=template)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    scan_options = ScanOptions(opts, backend, evidence_limit, jobs, live, **window,
                               unexplained_samples=50 if show_unmatched else 5)
    report = analyze(list(inputs) or ["-"], selected, scan_options,
                     diag, announce if verbose else None, _live_printer(fmt, main_options) if live else None)
    _write(output, render(report, fmt, options=main_options))
    for rfmt, path in specs:
        _write(path, render(report, rfmt, options=base))
    report_diagnostics(diag)
    if mr_note:
        _post_note(render(report, "markdown", options=dataclasses.replace(base, redact=True)))
    if diag.failed_inputs:
        sys.exit(EXIT_ERROR)
    sys.exit(verdict_status(report, base, diag))
