#!/usr/bin/env python3
"""Issue 16's batch row in one run: a ~1 GB (uncompressed) tree of mixed files, `logsleuth scan -j 1`
and `-j 2`, the speed-up, and peak RSS of the parent and of each worker, beside
`zstdcat -f | grep -E -f` (zcat -f that also reads .zst) over the same tree with the rules' regexes.

    python bench/bench_batch.py [--gb 1] [--repeat 3] [--logsleuth PATH]

The tree (bench/out/batch-<gb>gb/, built once from the 200 MB corpus): 4 hosts, each with rotated
syslogs `syslog`, `syslog.1`, `syslog.N.gz` and `syslog-YYYYMMDD.zst`, plus one `.tar.gz` of members
per host; files of about 8 MB, so every one is a worker's (below parallel.py's 32 MB split size).
Peak RSS per process is VmHWM from /proc, sampled every 250 ms while the scan runs. Each row is
the median wall time of --repeat runs (this 2-core VM's runs of one command vary by 20%), with the
CPU time of that run and the highest peaks of all of them.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fast import usable_patterns  # noqa: E402
from bench_scan import GREP_C, rule_regexes, write_patterns  # noqa: E402
from gen_corpus import OUT, ensure_corpus  # noqa: E402

PIECE = 8 << 20
HOSTS = ("ci-runner-01", "ci-runner-02", "ci-runner-03", "build-07")


def _pieces(corpus: Path, total: int):  # type: ignore[no-untyped-def]
    done = 0
    while done < total:
        with corpus.open("rb") as f:
            while done < total:
                data = f.read(PIECE)
                if not data:
                    break
                data += f.readline()
                done += len(data)
                yield data


def build(corpus: Path, gb: float) -> Path:
    dest = OUT / f"batch-{gb:g}gb"
    if (dest / "done").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    pieces = _pieces(corpus, int(gb * 1e9))
    kinds = ("plain", "gz", "zst", "tar")
    n = 0
    for data in pieces:
        host = dest / HOSTS[n % len(HOSTS)]
        host.mkdir(parents=True, exist_ok=True)
        kind, k = kinds[(n // len(HOSTS)) % len(kinds)], n // len(HOSTS)
        if kind == "plain":
            (host / ("syslog" if k == 0 else f"syslog.{k}")).write_bytes(data)
        elif kind == "gz":
            (host / f"syslog.{k}.gz").write_bytes(gzip.compress(data, 6, mtime=0))
        elif kind == "zst":
            out = subprocess.run(["zstd", "-q", "-3", "-c"], input=data, capture_output=True, check=True).stdout
            (host / f"syslog-2026{1101 + k:04d}.zst").write_bytes(out)
        else:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                half = data.rfind(b"\n", 0, len(data) // 2) + 1
                for i, part in enumerate((data[:half], data[half:])):
                    info = tarfile.TarInfo(f"var/log/job-{k}-{i}.log")
                    info.size = len(part)
                    tar.addfile(info, io.BytesIO(part))
            (host / f"archive-{k}.tar.gz").write_bytes(buf.getvalue())
        n += 1
    (dest / "done").write_text("")
    return dest


def _tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return pids


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(argv: list[str], repeat: int = 1) -> tuple[float, list[int], int, float]:
    """The median of `repeat` runs: wall time, peak RSS (KiB) of each process of the tree in pid
    order (the highest over the runs), the exit status, and the CPU seconds of the whole tree
    (workers included: they are waited for by the parent) in the median run."""
    runs = sorted((_measure_once(argv) for _ in range(max(repeat, 1))), key=lambda r: r[0])
    wall, _peaks, rc, cpu = runs[len(runs) // 2]
    width = max(len(r[1]) for r in runs)
    peaks = [max((sorted(r[1].items())[i][1] for r in runs if len(r[1]) > i), default=0) for i in range(width)]
    return wall, peaks, rc, cpu


def _measure_once(argv: list[str]) -> tuple[float, dict[int, int], int, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        for p in _tree_pids(proc.pid):
            peaks[p] = max(peaks.get(p, 0), _hwm(p))
        time.sleep(0.25)  # VmHWM is a high-water mark: a sample before exit is enough, and polling
        # /proc often takes CPU from the scan it measures (2 cores, both busy with -j 2)
    wall = time.perf_counter() - start
    return wall, peaks, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--logsleuth", default=shutil.which("logsleuth") or str(Path(sys.executable).with_name("logsleuth")))
    args = ap.parse_args()
    tree = build(ensure_corpus(200), args.gb)
    files = sorted(p for p in tree.rglob("*") if p.is_file() and p.name != "done")
    size = int(args.gb * 1e9)
    ere, _json, _skipped = write_patterns(rule_regexes(args.logsleuth)[0])
    ere, _usable = usable_patterns(ere)  # the patterns grep accepts
    print(f"tree: {tree} — {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB on disk, "
          f"{size / 1e6:.0f} MB of log text")
    load = os.getloadavg()[0]
    rows = []
    shell = (f"find {tree} -type f ! -name done -print0 | sort -z | xargs -0 zstdcat -f | "
             f"grep -c -E -f {ere}")
    wall, _peaks, rc, cpu = measure(["env", *(f"{k}={v}" for k, v in GREP_C.items() if k == "LC_ALL"), "sh", "-c", shell],
                                    args.repeat)
    rows.append(("zstdcat -f | grep -E -f", wall, rc, "", "", cpu))
    results = {}
    # `-j 1` inflates compressed files in a thread (read/prefetch.py), so it already uses part of a
    # second core: the one-core baseline is `-j 1` pinned to one CPU.
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    runs = [("1cpu", pin, 1)] if pin else []
    runs += [(1, [], 1), (2, [], 2)]
    for key, prefix, jobs in runs:
        wall, peaks, rc, cpu = measure([*prefix, args.logsleuth, "scan", str(tree), "-j", str(jobs), "--format",
                                        "json", "--fail-on", "none", "--no-progress"], args.repeat)
        parent = max(peaks[:1] or [0])  # taskset execs logsleuth: the same pid
        workers = peaks[1:]
        results[key] = wall
        label = f"logsleuth scan -j {jobs}" + (" on one CPU" if prefix else "")
        rows.append((label, wall, rc, f"{parent / 1024:.0f}", ", ".join(f"{w / 1024:.0f}" for w in workers) or "-", cpu))
    print(f"median of {args.repeat} runs each")
    print(f"{'command':28} {'wall s':>8} {'CPU s':>7} {'MB/s':>7} {'exit':>4}  {'parent MiB':>10}  workers' peak MiB")
    for name, wall, rc, parent, workers, cpu in rows:
        print(f"{name:28} {wall:8.1f} {cpu:7.1f} {size / 1e6 / wall:7.0f} {rc:4d}  {parent:>10}  {workers}")
    # On a machine other work shares, -j 2 cannot be faster than the idle CPU it gets: say how busy it was.
    print(f"load average before the runs: {load:.2f} on {os.cpu_count()} CPUs")
    base = results.get("1cpu", results[1])
    speedup = base / results[2]
    worker_peak = max((float(w) for r in rows[1:] for w in r[4].split(", ") if w not in ("", "-")), default=0.0)
    print(f"speed-up -j 2 / one CPU: {speedup:.2f}x (target >= 1.8x: {'PASS' if speedup >= 1.8 else 'FAIL'}); "
          f"-j 2 / -j 1: {results[1] / results[2]:.2f}x; "
          f"peak RSS per worker {worker_peak:.0f} MiB (target < 150: {'PASS' if worker_peak < 150 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
