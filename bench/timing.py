"""Whole-process timing for the benchmark scripts: wall time, peak RSS of that one child, a table."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

PYTHON = sys.executable
# A child's ru_maxrss also counts the memory of the (v)forked Python parent before exec, so
# small commands would all show the benchmark's own ~25 MiB. /usr/bin/time forks from a tiny
# process and reports the real peak of the measured command (%M, KiB).
_TIME_OUT = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False).name
_TIME = ["/usr/bin/time", "-o", _TIME_OUT, "-f", "%M"] if os.path.exists("/usr/bin/time") else []


def _peak_rss(fallback_kib: int) -> int:
    if not _TIME:
        return fallback_kib
    text = Path(_TIME_OUT).read_text().strip().splitlines()
    return int(text[-1]) if text and text[-1].isdigit() else fallback_kib


@dataclass
class Result:
    name: str
    walls: list[float] = field(default_factory=list)
    rss_kib: int = 0
    rc: int = 0
    stdout: str = ""
    error: str = ""
    scale: float = 1.0  # wall times are multiplied by this (extrapolation from a slice)
    note: str = ""
    findings: list = field(default_factory=list)  # scan rows: what was found, to compare backends

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) * self.scale if self.walls else float("nan")

    @property
    def ok(self) -> bool:
        return bool(self.walls) and not self.error


def run(name: str, argv: Sequence[str], repeat: int = 1, ok_codes: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None, stdout_to_devnull: bool = False) -> Result:
    """Run `argv` `repeat` times; wall time per run, max RSS over runs (os.wait4: this child only)."""
    res = Result(name)
    for _ in range(repeat):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sink = subprocess.DEVNULL if stdout_to_devnull else out
            start = time.perf_counter()
            proc = subprocess.Popen([*_TIME, *argv], stdout=sink, stderr=err, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            res.walls.append(time.perf_counter() - start)
            proc.returncode = os.waitstatus_to_exitcode(status)
            res.rc, res.rss_kib = proc.returncode, max(res.rss_kib, _peak_rss(usage.ru_maxrss))
            out.seek(0)
            err.seek(0)
            res.stdout = out.read().decode("utf-8", "replace")
            if res.rc not in ok_codes:
                lines = err.read().decode("utf-8", "replace").strip().splitlines() or [""]
                res.error = f"exit {res.rc}: {lines[-1]}"  # a traceback's last line names the error
                res.walls.clear()
                return res
    return res


def python(name: str, code: str, args: Sequence[str], repeat: int = 1) -> Result:
    """Run a Python snippet in a fresh interpreter (start-up included, like every other row)."""
    return run(name, [PYTHON, "-c", code, *args], repeat=repeat)


def table(results: Sequence[Result], size: int, lines: int, baseline: str | None) -> str:
    base = next((r.wall for r in results if r.name == baseline and r.ok), None)
    rows = [("approach", "wall s", "MB/s", "lines/s", f"x {baseline}" if baseline else "", "peak MiB", "output")]
    for r in results:
        if not r.ok:
            rows.append((r.name, "-", "-", "-", "-", "-", (r.error or "not run")[:90]))
            continue
        ratio = f"{r.wall / base:.2f}" if base else "-"
        rows.append((r.name, f"{r.wall:.3f}", f"{size / 1e6 / r.wall:,.1f}", f"{lines / r.wall / 1e6:.2f} M",
                     ratio, f"{r.rss_kib / 1024:.0f}", (r.note + " " + r.stdout.strip().replace("\n", " "))[:90]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    fmt = lambda row: " | ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(rows[0]), "-+-".join("-" * w for w in widths), *map(fmt, rows[1:])])


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 22), b""))


def slice_of(path: Path, mb: int) -> Path:
    """The first `mb` MB of `path`, cut at a newline, cached beside it."""
    dest = path.with_name(f"{path.stem}.slice{mb}mb{path.suffix}")
    if not dest.exists():
        with path.open("rb") as f:
            data = f.read(mb * 1_000_000)
        dest.write_bytes(data[: data.rfind(b"\n") + 1])
    return dest
