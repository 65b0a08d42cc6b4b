"""The year of `short` / RFC 3164 entries, which carry none: --year, journalctl's header, the file's
mtime (walking back over New Year), then today; impossible dates warned about once per input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from logsleuth.errors import Diagnostics
from logsleuth.read import inputs

CMD = [sys.executable, "-m", "logsleuth"]
UTC = timezone.utc


def write(path: Path, text: str, mtime: str | None = None) -> Path:
    path.write_text(text)
    if mtime:
        stamp = datetime.fromisoformat(mtime).replace(tzinfo=UTC).timestamp()
        os.utime(path, (stamp, stamp))
    return path


def years(path: Path | str, year: int | None = None) -> tuple[list[str | None], str, list[str]]:
    """The entries' UTC timestamps, where the year came from, and the input's warnings."""
    opts = inputs.ReadOptions(year=year)
    diag = Diagnostics()
    [inp] = list(inputs.expand([str(path)], opts, diag))
    opened = inputs.open_input(inp, opts, diag)
    assert opened is not None
    stamps = [r.ts.isoformat()[:19] if r.ts else None for r in inputs.records(opened)]
    return stamps, opened.ctx.state.get("clock.how", ""), opened.ctx.state.get("warnings", [])


SHORT = "Mar 10 12:00:00 ci1 gitlab-runner[812]: Checking for jobs... received\n"
HEADER = "-- Logs begin at Wed 2016-11-30 08:49:56 CET, end at Thu 2017-01-02 10:00:00 CET. --\n"


def test_year_option_comes_first(tmp_path: Path) -> None:
    path = write(tmp_path / "a.log", HEADER + SHORT, mtime="2019-05-01T00:00:00")
    assert years(path, year=2021)[:2] == (["2021-03-10T12:00:00"], "from --year")


def test_journalctl_header_comes_before_the_mtime(tmp_path: Path) -> None:
    text = HEADER + "Nov 30 09:00:00 ci1 kernel: one\nDec 31 23:59:59 ci1 kernel: two\nJan 02 10:00:00 ci1 kernel: three\n"
    path = write(tmp_path / "b.log", text, mtime="2019-05-01T00:00:00")
    stamps, how, _ = years(path)
    assert stamps == ["2016-11-30T09:00:00", "2016-12-31T23:59:59", "2017-01-02T10:00:00"]
    assert "header" in how


def test_the_mtime_comes_before_today(tmp_path: Path) -> None:
    path = write(tmp_path / "c.log", SHORT, mtime="2019-05-01T00:00:00")
    stamps, how, _ = years(path)
    assert stamps == ["2019-03-10T12:00:00"] and how == "from the file's mtime (2019-05-01)"


def test_today_when_nothing_else_tells() -> None:
    proc = subprocess.run([*CMD, "parse", "-v", "-"], input=SHORT, capture_output=True, text=True, timeout=60)
    now = datetime.now(UTC)
    want = now.year if (3, 10) <= (now.month, now.day + 1) else now.year - 1
    assert json.loads(proc.stdout)["ts"] == f"{want}-03-10T12:00:00Z"
    assert "year of today (no --year, header or file time)" in proc.stderr


def test_a_december_to_january_rotated_set(tmp_path: Path) -> None:
    # syslog.2.gz-style rotation by logrotate on Jan 1: the older file spans New Year's Eve.
    older = write(tmp_path / "syslog.1", "Dec 30 08:00:00 ci1 app[1]: a\nDec 31 23:59:00 ci1 app[1]: b\n"
                                         "Jan  1 00:04:00 ci1 app[1]: c\n", mtime="2024-01-01T00:05:00")
    newer = write(tmp_path / "syslog", "Jan  1 00:06:00 ci1 app[1]: d\nFeb 29 10:00:00 ci1 app[1]: e\n",
                  mtime="2024-03-01T00:00:00")
    assert years(older)[0] == ["2023-12-30T08:00:00", "2023-12-31T23:59:00", "2024-01-01T00:04:00"]
    assert years(newer)[0] == ["2024-01-01T00:06:00", "2024-02-29T10:00:00"]  # 2024 is a leap year
    # A file last written in January whose entries all are December's is last year's.
    dec = write(tmp_path / "kern.log.1", "Dec 31 10:00:00 ci1 kernel: x\n", mtime="2024-01-02T00:00:00")
    assert years(dec)[0] == ["2023-12-31T10:00:00"]
    # `scan --since/--until` over last year's archive keeps those events (they were dated this year before).
    proc = subprocess.run([*CMD, "parse", "-v", str(older), str(newer)], capture_output=True, text=True, timeout=60)
    assert [r["ts"][:4] for r in map(json.loads, proc.stdout.splitlines())] == ["2023", "2023", "2024", "2024", "2024"]
    assert proc.stderr.count("year from the file's mtime") == 2


def test_an_impossible_date_is_warned_about_once_per_input(tmp_path: Path) -> None:
    text = "Feb 28 10:00:00 ci1 app[1]: fine\nFeb 29 10:00:00 ci1 app[1]: not in 2023\nFeb 29 11:00:00 ci1 app[1]: again\n"
    path = write(tmp_path / "d.log", text, mtime="2023-03-05T00:00:00")
    stamps, _, warnings = years(path)
    assert stamps == ["2023-02-28T10:00:00", None, None]  # the entries are kept, without a time
    assert warnings == ["Feb 29 10:00:00 is no date in 2023 (year from the file's mtime (2023-03-05)): "
                        "such entries carry no time; set --year"]
    proc = subprocess.run([*CMD, "scan", str(path), "--fail-on", "none", "-q"], capture_output=True, text=True,
                          timeout=60)
    assert proc.stderr.count("is no date in 2023") == 1 and f"{path}: Feb 29" in proc.stderr


@pytest.mark.parametrize("year", [1492, 99999])
def test_a_year_out_of_range_is_warned_about(tmp_path: Path, year: int) -> None:
    path = write(tmp_path / "e.log", SHORT)
    stamps, _, warnings = years(path, year=year)
    assert warnings and warnings[0].startswith(f"--year {year} is out of range")
    assert stamps == (["1492-03-10T12:00:00"] if year == 1492 else [None])
