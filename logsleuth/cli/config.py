"""`logsleuth config check`: a runner's config.toml checked by the `input: config` rules, reported like a scan.

The same records `scan` makes of a config.toml input (read/config_toml.py) go through the same
engine, correlation and reporters; this command adds the default paths, the caret under a syntax
error on stderr, and `--no-files` for checking a config away from the host its files live on.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from datetime import datetime, timezone
from typing import Any, Sequence

import click

from logsleuth.errors import Diagnostics, InputError, Location

from logsleuth.cli.app import EXIT_ERROR, cli, load_rules, report_diagnostics, rule_options
from logsleuth.cli.scan import _FAIL_ON, _report_specs, _use_color, _write, verdict_status

DEFAULT_PATHS = ("/etc/gitlab-runner/config.toml", "~/.gitlab-runner/config.toml")


@cli.group()
def config() -> None:
    """Check a gitlab-runner config.toml before it breaks the runner."""


def _default_path() -> str:
    for path in DEFAULT_PATHS:
        if os.path.exists(os.path.expanduser(path)):
            return os.path.expanduser(path)
    raise click.UsageError(f"no config.toml at {' or '.join(DEFAULT_PATHS)}; name one: logsleuth config check PATH",
                           ctx=click.get_current_context(silent=True))


def _read(path: str, diag: Diagnostics) -> str | None:
    """The file's text (size-capped), or None with the problem in `diag`."""
    from logsleuth.read import config_toml

    if os.path.exists(path) and not os.path.isfile(path):  # a directory, FIFO or device: never opened
        diag.input_error(InputError("not a regular file", Location(path)))
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(config_toml.MAX_BYTES + 1)
    except FileNotFoundError:
        diag.input_error(InputError("no such file or directory", Location(path)))
        return None
    except OSError as exc:
        diag.input_error(InputError(f"cannot read: {exc.strerror or exc}", Location(path)))
        return None
    if len(data) > config_toml.MAX_BYTES:
        diag.input_error(InputError(f"larger than {config_toml.MAX_BYTES >> 20} MiB: not a config.toml", Location(path)))
        return None
    return data.decode("utf-8", "replace")


def check_files(paths: Sequence[str], rules: Sequence[Any], diag: Diagnostics, files: bool = True,
                evidence_limit: int = 5) -> Any:
    """The Report of `rules` over the config files at `paths`; syntax errors are also echoed with a caret."""
    from logsleuth import __version__
    from logsleuth.findings.collect import Collector
    from logsleuth.findings.correlate import Correlator
    from logsleuth.match.engine import Engine
    from logsleuth.model import InputSummary, Report
    from logsleuth.read import config_toml

    engine, correlator, collector = Engine(rules), Correlator(), Collector(evidence_limit)
    inputs = []
    for path in paths:
        text = _read(path, diag)
        if text is None:
            continue
        records = config_toml.records(text, path, check_files=files)
        _show_syntax_errors(path, text, records)
        collector.add(correlator.run(collector.signals(engine.match_records(records))))
        inputs.append(InputSummary(path, config_toml.NAME, "config check", text.count("\n") + 1, len(text),
                                   events=len(records)))
    collector.add(correlator.finish())
    findings, incidents, unexplained = collector.result()
    return Report(findings=tuple(findings), rules=tuple(r.info for r in rules), inputs=tuple(inputs),
                  errors=tuple(str(e) for e in diag.input_errors), version=__version__,
                  generated_at=datetime.now(timezone.utc).replace(microsecond=0), incidents=tuple(incidents),
                  unexplained=unexplained)


def _show_syntax_errors(path: str, text: str, records: Sequence[Any]) -> None:
    """`path:line:col: TOML syntax error: ...`, the line and a caret under the column, on stderr."""
    from logsleuth.read import config_toml

    for rec in records:
        if rec.fields.get("kind") == "syntax":
            col = rec.fields.get("col")
            col = col if isinstance(col, int) else 1
            click.echo(f"logsleuth: {Location(path, rec.origin.line, col)}: TOML syntax error: {rec.fields.get('error')}\n"
                       f"{config_toml.snippet(text, rec.origin.line, col)}", err=True)


@config.command("check")
@click.argument("paths", nargs=-1)
@rule_options
@click.option("--format", "fmt", default="text", show_default=True, metavar="FORMAT",
              help="text, markdown, codequality, json, ndjson, junit or sarif.")
@click.option("-o", "--output", metavar="PATH", help="Write the report here instead of stdout.")
@click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH",
              help="Also write a report in FORMAT to PATH (repeatable).")
@click.option("--fail-on", type=click.Choice(_FAIL_ON), default="major", show_default=True,
              help="Exit 1 when a finding of this severity or worse is found.")
@click.option("--no-files", is_flag=True,
              help="Do not read the certificate files the config names (checking it away from its host, in CI).")
@click.option("--cq-path", metavar="PATH", help="location.path for Code Quality entries.")
@click.option("-q", "--quiet", is_flag=True, help="Text report: the verdict and one line per finding.")
@click.option("-v", "--verbose", count=True, help="More detail: diagnosis, why and references.")
def check(paths: tuple[str, ...], rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...],
          skip: tuple[str, ...], fmt: str, output: str | None, reports: tuple[str, ...], fail_on: str,
          no_files: bool, cq_path: str | None, quiet: bool, verbose: int) -> None:
    """Check config.toml files (default: /etc/gitlab-runner/config.toml, then ~/.gitlab-runner/config.toml).

    Syntax errors are shown at their line and column; settings are checked by the rules with
    `input: config` (`logsleuth rules list --format json` lists them). Secret values in the file
    are never printed. Exit statuses are the scan's.
    """
    from logsleuth.report.options import RenderOptions
    from logsleuth.report.render import FORMATS, render

    if fmt not in FORMATS:
        raise click.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    specs = _report_specs(reports)
    rules = [r for r in load_rules(rule_dirs, no_builtin, only, skip) if r.input == "config"]
    if not rules:
        raise click.UsageError("no config rules selected (rules with `input: config`): check --only/--skip/--rules")
    diag = Diagnostics()
    report = check_files(list(paths) or [_default_path()], rules, diag, files=not no_files)
    base = RenderOptions(cq_path=cq_path, redact=True, verbosity=-1 if quiet else min(verbose, 1), fail_on=fail_on)
    _write(output, render(report, fmt, options=dataclasses.replace(base, color=_use_color(output))))
    for rfmt, path in specs:
        _write(path, render(report, rfmt, options=base))
    report_diagnostics(diag)
    if diag.failed_inputs:
        sys.exit(EXIT_ERROR)
    sys.exit(verdict_status(report, base, diag))
