"""Start-up cost: commands are imported when looked up (cli/app.py COMMAND_MODULES), so `--help`,
`--version` and `parse` load no rule engine, no YAML, no lark, no Jinja and no Vectorscan.

Checked by what a fresh interpreter running the real entry point has in sys.modules at exit;
no timings are asserted (they are in the README's benchmark)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("lark", "yaml", "jinja2", "hyperscan", "ahocorasick", "http.client", "ssl", "multiprocessing",
         "logsleuth.ruleset.loader", "logsleuth.match.engine", "logsleuth.pipeline", "logsleuth.report.render")


def _imported(args: list[str], stdin: str = "", heavy: tuple[str, ...] = HEAVY) -> tuple[int, str, set[str]]:
    """Run `logsleuth ARGS` in a fresh interpreter; its exit status, stdout and which `heavy` modules it imported."""
    names = ",".join(repr(m) for m in heavy)
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: sys.stderr.write('\\nIMPORTED: ' + ' '.join(m for m in ({names},) "
            "if m in sys.modules) + '\\n'))\n"
            f"sys.argv = ['logsleuth', *{args!r}]\n"
            "from logsleuth.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)
    return proc.returncode, proc.stdout, set(proc.stderr.rpartition("IMPORTED:")[2].split())


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["scan", "--help"], ["rules", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    status, out, imported = _imported(args)
    assert status == 0 and out
    assert imported == set()


def test_help_still_lists_every_command_with_its_summary() -> None:
    from logsleuth.cli.app import COMMAND_MODULES

    _, out, _ = _imported(["--help"])
    for name in COMMAND_MODULES:
        assert f"\n  {name} " in out
    assert "Scan INPUTS (default: stdin) for known failures" in out


def test_parse_reads_without_the_rule_engine_or_reports() -> None:
    line = "2024-03-10T14:00:01+0000 build-host gitlab-runner[812]: ERROR: Checking for jobs... forbidden\n"
    status, out, imported = _imported(["parse", "-"], stdin=line)
    assert status == 0 and json.loads(out)["message"] == "ERROR: Checking for jobs... forbidden"
    assert imported == set()


def test_a_scan_imports_no_other_command() -> None:
    line = "2024-03-10T14:00:01+0000 build-host gitlab-runner[812]: ERROR: Checking for jobs... forbidden\n"
    names = ("logsleuth.cli.rules", "logsleuth.cli.gitlab", "logsleuth.cli.journal", "logsleuth.cli.config",
             "logsleuth.cli.doctor", "logsleuth.gitlab.client", "http.client", "ssl")
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: sys.stderr.write('\\nIMPORTED: ' + ' '.join(m for m in {names!r} "
            "if m in sys.modules) + '\\n'))\n"
            "sys.argv = ['logsleuth', 'scan', '-j1', '-']\n"
            "from logsleuth.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], input=line, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 1 and "runner-jobs-forbidden" in proc.stdout
    assert proc.stderr.rpartition("IMPORTED:")[2].split() == []


def test_the_lazy_table_names_every_command_where_it_is_defined() -> None:
    import importlib

    from logsleuth.cli.app import COMMAND_MODULES, cli

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"logsleuth.cli.{module}")
    registered = {name: cmd.callback.__module__.rpartition(".")[2] for name, cmd in cli.commands.items()
                  if cmd.callback is not None}
    assert registered == COMMAND_MODULES


def test_the_token_types_of_the_mr_note_options_are_the_client_s() -> None:
    from logsleuth.cli import mrnote
    from logsleuth.gitlab import client

    assert mrnote.TOKEN_TYPES == client.TOKEN_TYPES


@pytest.mark.parametrize("args, expect", [(["scna"], "Did you mean 'scan'?"), (["no-such-thing"], "Commands: baseline,")])
def test_a_mistyped_command_is_a_usage_error_naming_the_lazy_commands(args: list[str], expect: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "logsleuth", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 2 and expect in proc.stderr


def test_a_path_alone_is_still_a_scan(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    log = Path(tmp_path) / "runner.log"
    log.write_text("2024-03-10T14:00:01+0000 build-host gitlab-runner[812]: ERROR: Checking for jobs... forbidden\n")
    proc = subprocess.run([sys.executable, "-m", "logsleuth", str(log)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 1 and "runner-jobs-forbidden" in proc.stdout


# What a scan of one small plain file has no use for: a process pool (`-j 2` fans out only two or
# more inputs, parallel.py only big files), the inflating and following threads (prefetch.py for
# compressed files, follow.py for pipes), tar archives, the TOML parser (config.toml inputs only)
# and importlib.resources (the bundled rules are a directory). lzma and bz2 are not listed:
# jinja2.bccache imports tempfile, which imports shutil, which imports both.
SCAN_HEAVY = ("multiprocessing", "concurrent.futures", "ctypes", "socket", "select", "queue", "tarfile",
              "tomllib", "zipfile", "importlib.resources", "logsleuth.read.follow", "logsleuth.read.timeexpr")
ONE_LINE = "2024-03-10T14:00:01+0000 build-host gitlab-runner[812]: ERROR: Checking for jobs... forbidden\n"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_one_line_file_scan_imports_no_pool_thread_archive_or_toml_code(tmp_path: os.PathLike[str], fmt: str) -> None:
    from pathlib import Path

    log = Path(tmp_path) / "runner.log"
    log.write_text(ONE_LINE)
    status, out, imported = _imported(["scan", str(log), "-q", "-j", "2", "--format", fmt], heavy=SCAN_HEAVY)
    assert status == 1 and "runner-jobs-forbidden" in out  # scanned and reported, findings and all
    assert imported == set()


def test_the_same_probe_sees_a_pool_and_tarfile_when_a_scan_needs_them(tmp_path: os.PathLike[str]) -> None:
    """Two inputs with `-j 2` fan out to a pool, a tar is opened with tarfile: the check above can fail."""
    import tarfile
    from pathlib import Path

    logs = Path(tmp_path)
    (logs / "a.log").write_text(ONE_LINE)
    member = logs / "syslog"
    member.write_text(ONE_LINE)
    with tarfile.open(logs / "b.tar", "w") as tar:
        tar.add(member, arcname="var/log/syslog")
    member.unlink()
    status, out, imported = _imported(["scan", str(logs / "a.log"), str(logs / "b.tar"), "-q", "-j", "2"],
                                      heavy=SCAN_HEAVY)
    assert status == 1 and "runner-jobs-forbidden" in out
    assert {"multiprocessing", "tarfile"} <= imported
