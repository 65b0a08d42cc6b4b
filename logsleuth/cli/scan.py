"""`logsleuth parse` and `logsleuth scan`: read inputs, run the pipeline, write reports and set the exit status."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import tzinfo
from typing import Any, Callable, Sequence

import click

from logsleuth.errors import Diagnostics, Location, LogsleuthError

from logsleuth.cli.app import (EXIT_EMPTY, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_PARTIAL, EXIT_UNEXPLAINED, announce, cli, input_options,
                               interrupt_on_signals,
                               input_status, load_rules, quiet_broken_pipe, read_options, report_diagnostics,
                               rule_options)
from logsleuth.cli.mrnote import note_mode, note_options, post_note
from logsleuth.cli import baseline as baseline_cli
from logsleuth.cli import progress


@cli.command()
@click.argument("inputs", nargs=-1)
@input_options
@click.option("--no-redact", is_flag=True, help="Print tokens and passwords as they are in the logs.")
def parse(inputs: tuple[str, ...], input_format: str | None, year: int | None, tz: str | None,
          include: tuple[str, ...], exclude: tuple[str, ...], verbose: int, no_redact: bool) -> None:
    """Print the normalized events of INPUTS as NDJSON (default: stdin), secrets masked."""
    from logsleuth.read import inputs as inputs_mod
    from logsleuth.model import record_dict
    from logsleuth.report.redact import Redactor, redact_record

    opts = read_options(input_format, year, tz, include, exclude)
    diag = Diagnostics()
    out = sys.stdout
    ndjson = _ndjson_encoder()
    try:
        for inp in inputs_mod.expand(list(inputs) or ["-"], opts, diag):
            opened = inputs_mod.open_input(inp, opts, diag)
            if opened is None:
                continue
            if verbose:
                announce(opened)
            redactor = None if no_redact else Redactor()  # per input: a PEM block never spans two
            for record in _records(inputs_mod, opened, inp.kind == "stdin"):
                shown = record_dict(record)
                out.write(ndjson(shown if redactor is None else redact_record(shown, redactor)))
                if inp.name == "<stdin>":
                    out.flush()
            for warning in opened.ctx.state.pop("warnings", ()):  # once per input (read/formats/clock.py)
                diag.warn(warning, Location(opened.name))
        out.flush()
    except BrokenPipeError:
        quiet_broken_pipe()  # the reader (`| head`) has what it wanted
    report_diagnostics(diag)
    sys.exit(input_status(diag))


def _records(inputs_mod: Any, opened: Any, stdin: bool) -> Any:
    """An input's records; from a pipe, each as soon as the input pauses (read/follow.py)."""
    import stat

    if stdin and opened.records is None and not stat.S_ISREG(os.fstat(0).st_mode):
        from logsleuth.read import follow

        return follow.records(opened, 0)
    return inputs_mod.records(opened)


def _stdin_stream(inputs: Sequence[str]) -> bool:
    """Whether stdin is read and is a pipe or terminal (`journalctl -f | logsleuth scan -`): then the
    matcher holds no entry back for more input (Engine's live mode), so an interrupt loses none."""
    import stat

    return (not inputs or "-" in inputs) and not stat.S_ISREG(os.fstat(0).st_mode)


def _ndjson(obj: dict[str, Any]) -> str:
    """One JSON line, with the standard library."""
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":")) + "\n"


def _ndjson_encoder() -> Callable[[dict[str, Any]], str]:
    """`_ndjson`, or orjson's equivalent when installed (~3x faster here); imported by `parse`
    only, not by every command that loads this module."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - depends on the extras installed
        return _ndjson

    def fast(obj: dict[str, Any]) -> str:
        # str(): without orjson installed, mypy sees its functions as Any.
        return str(orjson.dumps(obj, default=str, option=orjson.OPT_APPEND_NEWLINE).decode())
    return fast


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
    from logsleuth.cli.output import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise LogsleuthError(f"cannot write report {path}: {exc.strerror}", None) from exc


def _moment(text: str | None, tz: tzinfo, now: Any, hint: str) -> Any:
    """A time expression as journalctl takes it (read/timeexpr.py), in `tz` when it names no zone."""
    from logsleuth.read.timeexpr import parse_time

    if text is None:
        return None
    try:
        return parse_time(text, tz, now)
    except LogsleuthError as exc:
        raise click.BadParameter(exc.message, param_hint=hint) from None


def time_window(since: str | None, until: str | None, tz: tzinfo) -> dict[str, Any]:
    """--since and --until as ScanOptions keywords; a window that holds no moment is a usage error."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)  # one `now` for both, so `-1h` .. `now` is exactly an hour
    start, end = _moment(since, tz, now, "--since"), _moment(until, tz, now, "--until")
    if start is not None and end is not None and start >= end:
        raise click.UsageError(f"--since {since} is not before --until {until}: no event can fall in that window "
                               "(events are kept from --since up to, not including, --until)",
                               ctx=click.get_current_context(silent=True))
    return dict(since=start, until=end)


def window_zone(tz_option: str | None, opts: Any) -> tzinfo:
    """The zone of --since/--until expressions that name none: --tz, else the local one (as journalctl)."""
    from logsleuth.read.timeexpr import local_zone

    return opts.tz if tz_option else local_zone()


class _LivePrinter:
    """The callback that prints one finding when it is first seen: a short alert, or an ndjson line."""

    def __init__(self, fmt: str, options: Any) -> None:
        from logsleuth.report.redact import Redactor

        self.fmt = "alert" if fmt == "text" else fmt
        # One redactor for the whole run: the alerts are one log read in order, so a secret (or a
        # PEM block) seen in one alert stays masked in every later one.
        self.redactor = Redactor(stream=True) if options.redact else None
        self.options = dataclasses.replace(options, redact=False)

    def __call__(self, finding: Any) -> None:
        from logsleuth.model import Report
        from logsleuth.report.redact import redact_report
        from logsleuth.report.render import render

        one = Report(findings=(finding,), rules=(finding.rule,))
        if self.redactor is not None:
            one = redact_report(one, self.redactor)
        _write(None, render(one, self.fmt, options=self.options))

    def seal(self, report: Any) -> Any:
        """The final report, masked with every secret the alerts masked (live evidence has no context lines)."""
        from logsleuth.report.redact import redact_report

        return report if self.redactor is None else redact_report(report, self.redactor.fork())


def _live_printer(fmt: str, options: Any) -> Any:
    """The callback that prints one finding when it is first seen; `.seal(report)` for the report at the end."""
    return _LivePrinter(fmt, options)


def _on_dask(address: str, inputs: Sequence[str], rules: Any, options: Any, diag: Diagnostics,
             on_open: Any, on_finding: Any) -> Any:
    """`scan --dask`: the same scan, matched on a Dask cluster (pipeline.analyze_dask)."""
    from logsleuth.pipeline import analyze_dask

    if not inputs or "-" in inputs:
        raise click.UsageError("--dask reads files and objects, not stdin: name the paths or URLs to scan")
    if options.live:
        raise click.UsageError("--dask scans what is stored; --live follows a stream on this machine")
    return analyze_dask(list(inputs), rules, address, options, diag, on_open=on_open, on_finding=on_finding)


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
              help="text, markdown, codequality, json, ndjson, junit, sarif or html.")
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
              help="Worker processes for files, archive members and big plain files (1: no workers).")
@click.option("--evidence", "evidence_limit", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Evidence lines kept per finding.")
@click.option("--template", metavar="FILE", help="Render the report with this Jinja template.")
@click.option("--template-dir", metavar="DIR", help="Templates here override the built-in ones by name.")
@click.option("--cq-path", metavar="PATH", help="location.path for Code Quality entries.")
@click.option("--no-redact", is_flag=True, help="Keep tokens and passwords in reports (never for MR notes).")
@click.option("-q", "--quiet", is_flag=True, help="Text report: the verdict and one line per incident.")
@click.option("--no-progress", is_flag=True,
              help="No progress line on stderr (it is shown only when stderr is a terminal, without -q).")
@click.option("--since", metavar="TIME", help="Only events at or after TIME, as journalctl takes it: "
              "2024-03-10 14:00, ISO 8601, today, yesterday, now, -2h, '2 hours ago' (zone: --tz, else local).")
@click.option("--until", metavar="TIME", help="Only events before TIME.")
@note_options
@click.option("--live", is_flag=True,
              help="Print each finding as soon as it is seen (for `journalctl -f`), the report at the end.")
@click.option("--dask", "dask_scheduler", metavar="ADDRESS",
              help="Match on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); INPUTS may be "
                   "fsspec URLs (s3://bucket/prefix/, gs://, abfs://). Needs the `dask` extra.")
@baseline_cli.gate_options
def scan(inputs: tuple[str, ...], input_format: str | None, year: int | None, tz: str | None,
         include: tuple[str, ...], exclude: tuple[str, ...], verbose: int, rule_dirs: tuple[str, ...],
         no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...], fmt: str, output: str | None,
         reports: tuple[str, ...], fail_on: str, allow_empty: bool, show_unmatched: bool, backend: str, jobs: int, evidence_limit: int, template: str | None,
         template_dir: str | None, cq_path: str | None, no_redact: bool, quiet: bool, since: str | None,
         until: str | None, mr_note: str, mr_note_dry_run: bool, token_type: str, ca_file: str | None,
         live: bool, no_progress: bool = False, dask_scheduler: str | None = None) -> None:
    """Scan INPUTS (default: stdin) for known failures and report them."""
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.report.options import RenderOptions
    from logsleuth.report.render import FORMATS, render

    if fmt not in FORMATS and template is None:
        raise click.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    if live and fmt not in ("text", "ndjson"):
        raise click.BadParameter("--live prints text or ndjson", param_hint="--format")
    specs = _report_specs(reports)
    mr_note, inputs = note_mode(mr_note, inputs)
    opts = read_options(input_format, year, tz, include, exclude)
    # The zone (read/timeexpr.py) is looked up only when a window is given: most scans have none.
    window = time_window(since, until, window_zone(tz, opts)) if since is not None or until is not None \
        else dict(since=None, until=None)
    selected = load_rules(rule_dirs, no_builtin, only, skip)
    diag = Diagnostics()

    base = RenderOptions(template_dir=template_dir, cq_path=cq_path, redact=not no_redact,
                         verbosity=-1 if quiet else min(verbose, 1), fail_on=fail_on, allow_empty=allow_empty,
                         show_unmatched=show_unmatched)
    main_options = dataclasses.replace(base, color=_use_color(output), template=template)
    # The CPUs this process may run on (a container's or taskset's share), not the machine's.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = jobs or min(cpus, 8)
    scan_options = ScanOptions(opts, backend, evidence_limit, jobs, live or _stdin_stream(inputs), **window,
                               unexplained_samples=50 if show_unmatched else 5)
    baseline_cli.check_usage()  # a bad --baseline fails before the scan, not after it
    interrupt_on_signals()  # Ctrl-C / SIGTERM on a followed stream: the report of what was read
    printer = _live_printer(fmt, main_options) if live else None
    bar = progress.start(inputs, include, exclude) if progress.wanted(sys.stderr, quiet, no_progress, live) else None
    on_open, on_finding = progress.hooks(bar, announce if verbose else None, printer)
    try:
        if dask_scheduler is not None:
            report = _on_dask(dask_scheduler, inputs, selected, scan_options, diag, on_open, on_finding)
        else:
            report = analyze(list(inputs) or ["-"], selected, scan_options, diag, on_open, on_finding)
    finally:
        if bar is not None:
            bar.close()
    if printer is not None:
        report = printer.seal(report)
    report = baseline_cli.apply(report)
    _write(output, render(baseline_cli.for_format(report, fmt), fmt, options=main_options))
    for rfmt, path in specs:
        _write(path, render(baseline_cli.for_format(report, rfmt), rfmt, options=base))
    report_diagnostics(diag)
    if not post_note(report, base, mr_note, mr_note_dry_run, token_type, ca_file):
        sys.exit(EXIT_ERROR)  # --mr-note=required: the reports are written, the note is not
    if diag.failed_inputs:
        sys.exit(EXIT_ERROR)
    if not scan_options.live and any(w.startswith("interrupted:") for w in diag.warnings):
        sys.exit(EXIT_PARTIAL)  # Ctrl-C in a batch scan (not a stream): what was found is reported, not all
    sys.exit(baseline_cli.gate(report, verdict_status(baseline_cli.judged(report), base, diag)))
