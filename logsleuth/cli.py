"""The command line: click commands that compose the pipeline stages; the only module that prints or exits."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import tzinfo, timezone
from typing import Any, NoReturn, Sequence

import click

from logsleuth import __version__
from logsleuth.errors import Diagnostics, LogsleuthError

# Exit statuses, documented in the README.
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2, 3


def _tz(value: str | None) -> tzinfo:
    if not value or value.upper() in ("UTC", "Z"):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {value!r}", param_hint="--tz") from exc


def input_options(func: Any) -> Any:
    """Options shared by every command that reads logs."""
    for opt in reversed([
        click.option("--input-format", "input_format", metavar="NAME",
                     help="Force the input format instead of detecting it (see `logsleuth formats`)."),
        click.option("--year", type=int, help="Year for timestamps that carry none (default: this year)."),
        click.option("--tz", "tz", metavar="ZONE", help="Zone for timestamps that carry none (default: UTC)."),
        click.option("--include", multiple=True, metavar="GLOB", help="In directories, read only matching files."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="In directories, skip matching files."),
        click.option("-v", "--verbose", count=True, help="Say which format was detected and why; more detail."),
    ]):
        func = opt(func)
    return func


def read_options(input_format: str | None, year: int | None, tz: str | None,
                 include: Sequence[str], exclude: Sequence[str]) -> Any:
    from logsleuth import sources
    from logsleuth.inputs import ReadOptions

    if input_format and input_format not in sources.FORMATS:
        names = ", ".join(sorted(sources.FORMATS))
        raise click.BadParameter(f"unknown format {input_format!r}; known: {names}", param_hint="--input-format")
    return ReadOptions(input_format=input_format, year=year, tz=_tz(tz),
                       include=tuple(include), exclude=tuple(exclude))


def report_diagnostics(diag: Diagnostics) -> None:
    for w in diag.warnings:
        click.echo(f"logsleuth: warning: {w}", err=True)
    for e in diag.input_errors:
        click.echo(f"logsleuth: {'warning' if e.partial else 'error'}: {e}", err=True)
    if diag.truncated_lines:
        click.echo(f"logsleuth: warning: {diag.truncated_lines} over-long line(s) truncated for matching", err=True)


def announce(opened: Any) -> None:
    """`-v`: which format an input was read as, and why."""
    click.echo(f"logsleuth: {opened.name}: format {opened.format.name} ({opened.reason})", err=True)


def input_status(diag: Diagnostics) -> int:
    if diag.failed_inputs:
        return EXIT_ERROR
    return EXIT_PARTIAL if diag.partial else EXIT_OK


class DefaultToScan(click.Group):
    """`journalctl -u gitlab-runner | logsleuth` (no command, input on a pipe) means `logsleuth scan -`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not sys.stdin.isatty():
            args = ["scan", "-"]
        elif args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["scan", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToScan, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logsleuth")
def cli() -> None:
    """Explain why a GitLab runner stopped working, from its logs.

    Reads journalctl output (any -o mode), journal files, gitlab-runner logs, CI job traces,
    syslog files, directories and archives; recognises known failure signatures; says what
    happened, why, and how to fix it.
    """


@cli.command()
@click.argument("inputs", nargs=-1)
@input_options
def parse(inputs: tuple[str, ...], input_format: str | None, year: int | None, tz: str | None,
          include: tuple[str, ...], exclude: tuple[str, ...], verbose: int) -> None:
    """Print the normalized events of INPUTS as NDJSON (default: stdin)."""
    from logsleuth import inputs as inputs_mod
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
        _quiet_broken_pipe()  # the reader (`| head`) has what it wanted
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


def main() -> NoReturn:
    """Console entry point: user errors print `path:line:col: message` and exit 2; a closed pipe exits quietly."""
    try:
        cli.main(standalone_mode=False)
    except LogsleuthError as exc:
        click.echo(f"logsleuth: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.Abort:
        sys.exit(130)
    except BrokenPipeError:
        _quiet_broken_pipe()
    sys.exit(EXIT_OK)


def _quiet_broken_pipe() -> NoReturn:
    # Python flushes stdout at exit and would print a second error; point it at devnull first.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_OK)


# --- rules ----------------------------------------------------------------------------------------

def rule_options(func: Any) -> Any:
    """Options that choose which rules run."""
    for opt in reversed([
        click.option("--rules", "rule_dirs", multiple=True, metavar="DIR",
                     help="Also load rules from DIR (repeatable; LOGSLEUTH_RULES adds more)."),
        click.option("--no-builtin", is_flag=True, help="Do not load the bundled rules."),
        click.option("--only", multiple=True, metavar="ID|TAG|CATEGORY", help="Run only these rules (repeatable, comma-separated)."),
        click.option("--skip", multiple=True, metavar="ID|TAG|CATEGORY", help="Do not run these rules (repeatable, comma-separated)."),
    ]):
        func = opt(func)
    return func


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def load_rules(rule_dirs: Sequence[str], no_builtin: bool, only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Any]:
    from logsleuth import rules as rules_mod

    loaded = rules_mod.load([*rule_dirs, *rules_mod.env_rule_dirs()], builtin=not no_builtin)
    selected = rules_mod.select(loaded, _split(only), _split(skip))
    if not selected:
        raise LogsleuthError("no rules selected: check --only/--skip/--rules/--no-builtin")
    return selected


# --- scan -----------------------------------------------------------------------------------------

_FAIL_ON = ["info", "minor", "major", "critical", "blocker", "none"]


def _report_specs(values: Sequence[str]) -> list[tuple[str, str]]:
    from logsleuth.render import FORMATS

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


def _live_printer(fmt: str, options: Any) -> Any:
    """The callback that prints one finding when it is first seen: a short alert, or an ndjson line."""
    from logsleuth.model import Report
    from logsleuth.render import render

    def show(finding: Any) -> None:
        one = Report(findings=(finding,), rules=(finding.rule,))
        _write(None, render(one, "alert" if fmt == "text" else fmt, options=options))
    return show


def _post_note(markdown: str) -> None:
    from logsleuth import mrnote

    done = mrnote.post(mrnote.target_from_env(os.environ), markdown)
    click.echo(f"logsleuth: merge-request note {done}", err=True)


def fails(report: Any, fail_on: str) -> bool:
    """Whether a finding at or above `fail_on` exists (`none` never fails)."""
    from logsleuth.model import SEVERITIES

    if fail_on == "none":
        return False
    floor = SEVERITIES.index(fail_on)
    return any(SEVERITIES.index(f.severity) >= floor for f in report.findings)


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
              help="Exit 1 when a finding of this severity or worse is found.")
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
@click.option("-q", "--quiet", is_flag=True, help="Text report: summary only.")
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
         reports: tuple[str, ...], fail_on: str, backend: str, jobs: int, evidence_limit: int, template: str | None,
         template_dir: str | None, cq_path: str | None, no_redact: bool, quiet: bool, since: str | None,
         until: str | None, mr_note: bool, live: bool) -> None:
    """Scan INPUTS (default: stdin) for known failures and report them."""
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.render import FORMATS, RenderOptions, render

    if fmt not in FORMATS and template is None:
        raise click.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    if live and fmt not in ("text", "ndjson"):
        raise click.BadParameter("--live prints text or ndjson", param_hint="--format")
    specs = _report_specs(reports)
    opts = read_options(input_format, year, tz, include, exclude)
    selected = load_rules(rule_dirs, no_builtin, only, skip)
    diag = Diagnostics()

    base = RenderOptions(template_dir=template_dir, cq_path=cq_path, redact=not no_redact,
                         verbosity=-1 if quiet else min(verbose, 1))
    main_options = dataclasses.replace(base, color=_use_color(output), template=template)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    window = dict(since=_moment(since, opts.tz, "--since"), until=_moment(until, opts.tz, "--until"))
    report = analyze(list(inputs) or ["-"], selected, ScanOptions(opts, backend, evidence_limit, jobs, live, **window),
                     diag, announce if verbose else None, _live_printer(fmt, main_options) if live else None)
    _write(output, render(report, fmt, options=main_options))
    for rfmt, path in specs:
        _write(path, render(report, rfmt, options=base))
    report_diagnostics(diag)
    if mr_note:
        _post_note(render(report, "markdown", options=dataclasses.replace(base, redact=True)))
    if diag.failed_inputs:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if fails(report, fail_on) else input_status(diag))


# The rule commands live in their own module; importing it registers them on `cli`.
from logsleuth import cli_rules  # noqa: E402,F401
