"""`logsleuth journal`: scan the systemd journal itself, with journalctl's own option names.

Filters are pushed down to libsystemd (read/journal.py; journalctl -o export without
python-systemd, read/journalctl.py); follow mode prints findings as they fire, and a cursor
file lets the next run start right after the last entry this one processed.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Iterator

import click

from logsleuth.cli.app import (EXIT_EMPTY, EXIT_ERROR, announce, cli, interrupt_on_signals, load_rules,
                               report_diagnostics, rule_options)
from logsleuth.cli.scan import _live_printer, _report_specs, _use_color, _write, time_window, verdict_status
from logsleuth.errors import Diagnostics, InputError, LogsleuthError
from logsleuth.model import Record

_HELP_DEFAULT = ("With no -u, -t or -k: the units that matter to a runner (gitlab-runner, docker, containerd) "
                 "and the kernel.")


def _options(func: Any) -> Any:
    for opt in reversed([
        click.option("-u", "--unit", "units", multiple=True, metavar="UNIT",
                     help="Entries of this unit (repeatable; `gitlab-runner` means gitlab-runner.service; "
                          "also PID 1's messages and coredumps about it, as journalctl)."),
        click.option("-t", "--identifier", "identifiers", multiple=True, metavar="ID",
                     help="Entries with this SYSLOG_IDENTIFIER (repeatable)."),
        click.option("-p", "--priority", metavar="PRIO",
                     help="This priority and more urgent (name or 0-7), or a range such as warning..emerg."),
        click.option("-k", "--dmesg", is_flag=True, help="Kernel messages of the boot (-b, default the last)."),
        click.option("-b", "--boot", metavar="[ID|±N]",
                     help="One boot: 0 (alone: -b) the last, -1 the one before, 1 the first, or a boot id."),
        click.option("-S", "--since", metavar="TIME", help="Entries at or after TIME ('2 hours ago', today, ...)."),
        click.option("-U", "--until", metavar="TIME", help="Entries up to TIME."),
        click.option("-D", "--directory", metavar="DIR", help="Read the journal files in DIR."),
        click.option("--file", "files", multiple=True, metavar="PATH|GLOB", help="Read these journal files."),
        click.option("-m", "--merge", is_flag=True, help="Also other machines' journals (remote, containers)."),
        click.option("-f", "--follow", is_flag=True,
                     help="Keep reading new entries; print each finding as it fires; Ctrl-C ends with the report."),
        click.option("-n", "--lines", type=click.IntRange(0), metavar="N", help="Only the last N entries."),
        click.option("--cursor-file", metavar="PATH",
                     help="Start after the cursor in PATH; keep it there (atomically) as entries are processed."),
        click.option("--reader", type=click.Choice(["auto", "native", "journalctl"]), default="auto",
                     show_default=True, help="native: python-systemd; journalctl: `journalctl -o export`."),
        click.option("--tz", metavar="ZONE", help="Zone of --since/--until times that name none (default: local)."),
        click.option("--format", "fmt", default="text", show_default=True, metavar="FORMAT",
                     help="text, markdown, codequality, json, ndjson, junit or sarif."),
        click.option("--output", metavar="PATH", help="Write the report here instead of stdout."),
        click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH", help="Also write FORMAT to PATH."),
        click.option("--fail-on", type=click.Choice(["info", "minor", "major", "critical", "blocker", "none"]),
                     default="major", show_default=True, help="Exit 1 when an incident this severe is found."),
        click.option("--allow-empty", is_flag=True, help="Exit 0, not 4, when no entry was read."),
        click.option("--live", is_flag=True, help="Print each finding as it fires (implied by -f)."),
        click.option("--no-redact", is_flag=True, help="Keep tokens and passwords in reports."),
        click.option("-q", "--quiet", is_flag=True, help="Text report: the verdict and one line per incident."),
        click.option("-v", "--verbose", count=True, help="Say which reader is used; more detail."),
    ]):
        func = opt(func)
    return func


class _JournalCommand(click.Command):
    """-b as journalctl takes it: alone it means `-b 0`, and `-b -1` is an offset, not an option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        for i, arg in enumerate(args):
            out.append(arg)
            if arg in ("-b", "--boot"):
                nxt = args[i + 1] if i + 1 < len(args) else None
                if nxt is None or (nxt.startswith("-") and not nxt[1:].isdigit()):
                    out.append("0")
        return super().parse_args(ctx, out)


@cli.command(cls=_JournalCommand, help=f"Scan the systemd journal with journalctl's filters, pushed down to libsystemd. {_HELP_DEFAULT}")
@_options
@rule_options
def journal(units: tuple[str, ...], identifiers: tuple[str, ...], priority: str | None, dmesg: bool,
            boot: str | None, since: str | None, until: str | None, directory: str | None, files: tuple[str, ...],
            merge: bool, follow: bool, lines: int | None, cursor_file: str | None, reader: str, tz: str | None,
            fmt: str, output: str | None, reports: tuple[str, ...], fail_on: str, allow_empty: bool, live: bool,
            no_redact: bool, quiet: bool, verbose: int, rule_dirs: tuple[str, ...], no_builtin: bool,
            only: tuple[str, ...], skip: tuple[str, ...]) -> None:
    from logsleuth.pipeline import ScanOptions, analyze_opened
    from logsleuth.read import journal as jr
    from logsleuth.read.cursor import read_cursor
    from logsleuth.read.timeexpr import local_zone
    from logsleuth.report.options import RenderOptions
    from logsleuth.report.render import render

    live = live or follow
    if live and fmt not in ("text", "ndjson"):
        raise click.BadParameter("following prints text or ndjson", param_hint="--format")
    specs = _report_specs(reports)
    zone = _zone(tz) if tz else local_zone()
    window = time_window(since, until, zone)
    try:
        query = jr.JournalQuery(
            units=units, identifiers=identifiers, priorities=jr.priority_values(priority) if priority else (),
            dmesg=dmesg, boot=boot if boot is not None else ("0" if dmesg else None),  # -k implies -b, as journalctl
            since=window["since"], until=window["until"], directory=directory, files=jr.expand_files(files),
            merge=merge, follow=follow, lines=lines,
            after_cursor=read_cursor(cursor_file) if cursor_file else None)
    except LogsleuthError as exc:
        raise click.UsageError(exc.message) from None
    selected = load_rules(rule_dirs, no_builtin, only, skip)
    diag = Diagnostics()
    base = RenderOptions(redact=not no_redact, verbosity=-1 if quiet else min(verbose, 1), fail_on=fail_on,
                         allow_empty=allow_empty)
    main_options = dataclasses.replace(base, color=_use_color(output))
    options = ScanOptions(backend="auto", live=live, jobs=1)
    interrupt_on_signals()
    opened, progress = _open(query, reader, cursor_file, live, diag)
    sources = [(None, opened)] if opened is not None else []
    report = analyze_opened(sources, selected, options, diag, announce if verbose else None,
                            _shown(_live_printer(fmt, main_options), progress) if live else None)
    _finish(progress, diag)
    _write(output, render(report, fmt, options=main_options))
    for rfmt, path in specs:
        _write(path, render(report, rfmt, options=base))
    if opened is not None and opened.lines_read == 0 and not diag.input_errors:
        click.echo("logsleuth: journal: -- No entries --", err=True)
    report_diagnostics(diag)
    if diag.failed_inputs:
        sys.exit(EXIT_ERROR)
    status = verdict_status(report, base, diag)
    sys.exit(EXIT_EMPTY if opened is None else status)


def _zone(name: str) -> Any:
    from logsleuth.cli.app import _tz

    return _tz(name)


def _open(query: Any, reader: str, cursor_file: str | None, live: bool, diag: Diagnostics) -> tuple[Any, Any]:
    """The journal as an opened input whose records come from the chosen reader."""
    from logsleuth.match.engine import _BATCH
    from logsleuth.read import journal as jr
    from logsleuth.read.cursor import Progress
    from logsleuth.read.formats import ParseContext
    from logsleuth.read.formats.journal_file import JOURNAL
    from logsleuth.read.inputs import Opened

    # The matcher pulls records a batch at a time (one when live): the cursor file may name an
    # entry only once the batch holding it has been matched, which cursor.Progress knows from this.
    progress = Progress(cursor_file, 1 if live else _BATCH)
    name = _name(query)
    native = reader == "native" or (reader == "auto" and jr.available())
    if reader == "native" and not jr.available():
        raise click.UsageError("--reader native needs python-systemd: pip install 'logsleuth[journal]'")
    try:
        if native:
            records: Iterator[Record] = jr.native_records(jr.open_native(query, diag), query, name, progress, diag)
            why = "native journal reader (python-systemd), filters pushed down to libsystemd"
        else:
            from logsleuth.read import journalctl

            records = journalctl.records(query, name, progress, diag)
            why = "journalctl -o export " + ("(--reader journalctl)" if reader == "journalctl"
                                             else "(python-systemd is not installed)")
    except InputError as exc:
        diag.input_error(exc)
        return None, progress
    opened = Opened(name, JOURNAL, why, ParseContext(path=name), iter(()))
    opened.records = _counted(opened, records, diag)
    return opened, progress


def _shown(printer: Any, progress: Any) -> Any:
    def show(finding: Any) -> None:
        printer(finding)
        progress.shown()
    return show


def _name(query: Any) -> str:
    if query.files:
        return query.files[0] if len(query.files) == 1 else f"{query.files[0]} (+{len(query.files) - 1})"
    return query.directory or "journal"


def _counted(opened: Any, records: Iterator[Record], diag: Diagnostics) -> Iterator[Record]:
    n = 0
    try:
        for n, record in enumerate(records, 1):
            opened.lines_read = n
            opened.has_content = True
            yield record
    except InputError as exc:
        exc.partial = n > 0
        diag.input_error(exc)


def _finish(progress: Any, diag: Diagnostics) -> None:
    """Remember the cursor at exit: every entry read was processed, unless the scan was interrupted."""
    try:
        if any(w.startswith("interrupted") for w in diag.warnings):
            progress.stop()
        else:
            progress.finish()
    except OSError as exc:
        diag.input_error(InputError(f"cannot write the cursor file: {exc.strerror}", None))

