"""The command line's shared parts: the `logsleuth` group, common options, exit statuses, the error boundary.

The cli/ package is the only code that prints or exits; its modules register commands on `cli`.
"""
from __future__ import annotations

import os
import re
import sys
from datetime import tzinfo, timezone
from typing import Any, Iterable, NoReturn, Sequence

import click

from logsleuth import __version__
from logsleuth.errors import Diagnostics, LogsleuthError

# Exit statuses, documented in the README.
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2, 3
# 4: nothing to check (no log entries; `--allow-empty` makes it 0); 5: no known failure, but error
# lines no rule recognised (not with `--fail-on none`).
EXIT_EMPTY, EXIT_UNEXPLAINED = 4, 5


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
        # Not a parameter of each command: read_options picks it up from the click context.
        click.option("--encoding", metavar="NAME", expose_value=False, callback=_encoding,
                     help="Read inputs as text in this encoding (e.g. latin-1, utf-16le); default: UTF-8, "
                          "or UTF-16 when a byte-order mark says so."),
        click.option("--max-inflate", metavar="SIZE", expose_value=False, callback=_size,
                     help="A compressed input may inflate past SIZE (default 1G) only while it stays "
                          "under 100x its compressed size; beyond, it is read in part (a decompression bomb)."),
        click.option("--max-decompressed", metavar="SIZE", expose_value=False, callback=_size,
                     help="A compressed input is read in part past SIZE of output, whatever its ratio "
                          "(default 64G)."),
    ]):
        func = opt(func)
    return func


def _encoding(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        import codecs

        try:
            codecs.getincrementaldecoder(value)
        except LookupError:
            raise click.BadParameter(f"unknown encoding {value!r}", param_hint="--encoding") from None
        ctx.meta["logsleuth.encoding"] = value


_SIZE = re.compile(r"(\d+)([KMG]?)i?B?", re.IGNORECASE)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`--max-inflate` / `--max-decompressed`: a size such as 512M or 2G, kept in ctx.meta under the option's name."""
    if value is not None:
        m = _SIZE.fullmatch(value.strip())
        if not m or int(m.group(1)) == 0:
            raise click.BadParameter(f"{value!r} is not a size such as 512M or 2G", param_hint=param.opts[0])
        ctx.meta[f"logsleuth.{param.name}"] = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def read_options(input_format: str | None, year: int | None, tz: str | None,
                 include: Sequence[str], exclude: Sequence[str]) -> Any:
    from logsleuth.read import formats
    from logsleuth.read.inputs import ReadOptions

    if input_format and input_format not in formats.FORMATS:
        names = ", ".join(sorted(formats.FORMATS))
        raise click.BadParameter(f"unknown format {input_format!r}; known: {names}", param_hint="--input-format")
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    extra: dict[str, Any] = {"encoding": meta.get("logsleuth.encoding")}
    if "logsleuth.max_inflate" in meta or "logsleuth.max_decompressed" in meta:
        from logsleuth.read.decompress import Budget

        bounds = {"floor": meta.get("logsleuth.max_inflate"), "limit": meta.get("logsleuth.max_decompressed")}
        extra["budget"] = Budget(**{k: v for k, v in bounds.items() if v is not None})
    return ReadOptions(input_format=input_format, year=year, tz=_tz(tz),
                       include=tuple(include), exclude=tuple(exclude), **extra)


def report_diagnostics(diag: Diagnostics) -> None:
    for w in diag.warnings:
        click.echo(f"logsleuth: warning: {w}", err=True)
    for e in diag.input_errors:
        click.echo(f"logsleuth: {'warning' if e.partial else 'error'}: {e}", err=True)
    if diag.truncated_lines:
        click.echo(f"logsleuth: warning: {diag.truncated_lines} over-long line(s) truncated for matching", err=True)


def announce(opened: Any) -> None:
    """`-v`: which format an input was read as, and why."""
    year = opened.ctx.state.get("clock.how")  # formats without years: where the year comes from
    click.echo(f"logsleuth: {opened.name}: format {opened.format.name} ({opened.reason})"
               + (f"; year {year}" if year else ""), err=True)


def interrupt_on_signals() -> None:
    """SIGINT and SIGTERM end the input, not the run: the pipeline reports what was read (once; a
    second signal during the report is ignored, so it is never cut into a traceback)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def input_status(diag: Diagnostics) -> int:
    if diag.failed_inputs:
        return EXIT_ERROR
    return EXIT_PARTIAL if diag.partial else EXIT_OK


# A first word shaped like a command name (no `/`, no `.`): when no such file exists it is a typo.
_COMMAND_WORD = re.compile(r"\w[\w-]*")


def close_matches(word: str, choices: Iterable[str]) -> list[str]:
    """The choices `word` is probably a typo of, closest first."""
    import difflib

    return difflib.get_close_matches(word, sorted(set(choices)), n=3, cutoff=0.6)


def _did_you_mean(close: Sequence[str]) -> str:
    return " or ".join(f"{c!r}" for c in close)


# The module of cli/ that defines each command, imported only when that command is looked up
# (click's "lazily loading subcommands"): `logsleuth --version`, `--help` and `parse` then load no
# rule engine, and a scan none of the other commands. tests/test_cli_startup.py checks this table
# against the commands the modules register.
COMMAND_MODULES: dict[str, str] = {
    "baseline": "baseline", "config": "config", "doctor": "doctor", "explain": "rules", "formats": "rules",
    "gitlab": "gitlab", "journal": "journal", "parse": "scan", "rules": "rules", "scan": "scan",
}


class DefaultToScan(click.Group):
    """`journalctl -u gitlab-runner | logsleuth` (no command, input on a pipe) means `logsleuth scan -`,
    and `logsleuth PATH ...` means `logsleuth scan PATH ...`.

    A first word that is neither a command nor an existing path, and looks like a command name
    (`scna`), is a usage error with the commands it is close to, not a scan of a missing file.
    Commands are imported on first lookup (COMMAND_MODULES).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            from importlib import import_module

            import_module(f"logsleuth.cli.{COMMAND_MODULES[cmd_name]}")  # its decorators register it here
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        if not args and not sys.stdin.isatty():
            args = ["scan", "-"]
        elif args and args[0] not in names and args[0] not in ("--help", "-h", "--version"):
            first = args[0]
            if _COMMAND_WORD.fullmatch(first) and not os.path.lexists(first):
                raise click.UsageError(self._no_such_command(first, names), ctx=ctx)
            args = ["scan", *args]
        return super().parse_args(ctx, args)

    def _no_such_command(self, word: str, names: Sequence[str]) -> str:
        close = close_matches(word, names)
        if close:
            return f"No such command {word!r}. Did you mean {_did_you_mean(close)}?"
        return (f"No such command {word!r}, and no file or directory {word!r} to scan. "
                f"Commands: {', '.join(names)}.")


@click.group(cls=DefaultToScan, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logsleuth")
def cli() -> None:
    """Explain why a GitLab runner stopped working, from its logs.

    Reads journalctl output (any -o mode), journal files, gitlab-runner logs, CI job traces,
    syslog files, directories and archives; recognises known failure signatures; says what
    happened, why, and how to fix it.
    """


# --- rules ----------------------------------------------------------------------------------------

def _no_cache(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ["LOGSLEUTH_NO_CACHE"] = "1"  # read by ruleset.cache when the rules load


def rule_options(func: Any) -> Any:
    """Options that choose which rules run."""
    for opt in reversed([
        click.option("--rules", "rule_dirs", multiple=True, metavar="DIR",
                     help="Also load rules from DIR (repeatable; LOGSLEUTH_RULES adds more)."),
        click.option("--no-builtin", is_flag=True, help="Do not load the bundled rules."),
        click.option("--only", multiple=True, metavar="ID|TAG|CATEGORY", help="Run only these rules (repeatable, comma-separated)."),
        click.option("--skip", multiple=True, metavar="ID|TAG|CATEGORY", help="Do not run these rules (repeatable, comma-separated)."),
        click.option("--no-cache", is_flag=True, expose_value=False, callback=_no_cache,
                     help="Compile the rules afresh: neither read nor write the compile cache "
                          "($LOGSLEUTH_CACHE_DIR, else $XDG_CACHE_HOME/logsleuth)."),
    ]):
        func = opt(func)
    return func


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def check_selection(rules: Sequence[Any], only: Sequence[str], skip: Sequence[str]) -> None:
    """A usage error naming each --only/--skip value that is no rule's id, tag or category, with close matches.

    The names are those `ruleset.select` compares (`selection_names`).
    """
    from logsleuth.ruleset.loader import selection_names

    known = {name for r in rules for name in selection_names(r)}
    problems = []
    for option, values in (("--only", only), ("--skip", skip)):
        for value in _split(values):
            if value in known:
                continue
            close = close_matches(value, known)
            hint = f"; did you mean {', '.join(close)}?" if close else " (`logsleuth rules list` shows them)"
            problems.append(f"{option} {value}: no rule id, tag or category {value!r}{hint}")
    if problems:
        raise click.UsageError("\n".join(dict.fromkeys(problems)), ctx=click.get_current_context(silent=True))


def load_rules(rule_dirs: Sequence[str], no_builtin: bool, only: Sequence[str] = (), skip: Sequence[str] = (),
               select: bool = True) -> list[Any]:
    """The rules from the bundled set, `rule_dirs` and LOGSLEUTH_RULES, chosen by --only/--skip.

    --only/--skip values that name nothing are a usage error. With `select` false they are only
    checked, and every loaded rule is returned (commands that look rules up by id).
    """
    from logsleuth import ruleset

    loaded = ruleset.load([*rule_dirs, *ruleset.env_rule_dirs()], builtin=not no_builtin)
    check_selection(loaded, only, skip)
    if not select:
        return loaded
    selected = ruleset.select(loaded, _split(only), _split(skip))
    if not selected:
        raise LogsleuthError("no rules selected: check --only/--skip/--rules/--no-builtin")
    return selected


def main() -> NoReturn:
    """Console entry point: user errors print `path:line:col: message` and exit 2; a closed pipe exits quietly.

    Everything written to stderr goes through the redactor: messages quote paths, URLs and log text.
    """
    from logsleuth.cli.output import RedactedStream

    sys.stderr = RedactedStream(sys.stderr)
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
        quiet_broken_pipe()
    sys.exit(EXIT_OK)


def quiet_broken_pipe() -> NoReturn:
    # Python flushes stdout at exit and would print a second error; point it at devnull first.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_OK)
