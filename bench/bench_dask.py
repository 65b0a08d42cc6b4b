#!/usr/bin/env python3
"""Issue 18's row: `logsleuth scan --dask` with 1 and 2 Dask workers beside the local `-j 1` scan
of the same ~1 GB tree (bench_batch.py's mixed tree: rotated syslogs, .gz, .zst, .tar.gz; 4 hosts).

    python bench/bench_dask.py [--gb 1] [--workers 1,2] [--s3]

Each scan is the real command (start-up and rule loading included) against a LocalCluster started
beforehand (worker processes, one thread each: a cluster exists before a scan). Throughput is the
bytes the scan read (decompressed, from its JSON report) per second of wall time. Every cluster
report is checked against the local one (JSON without `generated_at`). With --s3 the tree is also
uploaded to a moto S3 server on 127.0.0.1 and scanned as s3://bench/tree/ with the most workers.
Needs the `dask` extra (and moto[server] for --s3).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import build  # noqa: E402
from gen_corpus import ensure_corpus  # noqa: E402

LOGSLEUTH = [sys.executable, "-m", "logsleuth"]


def scan(args: list[str], env: dict[str, str] | None = None) -> tuple[float, dict[str, Any]]:
    """Seconds of one `logsleuth scan ... --format json` and its report (without generated_at)."""
    start = time.perf_counter()
    proc = subprocess.run([*LOGSLEUTH, "scan", *args, "--format", "json", "--fail-on", "none", "--no-progress"],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    took = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"scan {args} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    report.pop("generated_at", None)
    return took, report


def read_bytes(report: dict[str, Any]) -> int:
    return sum(i.get("bytes", 0) for i in report["inputs"])


def row(name: str, took: float, size: int, base: float | None, same: bool | None) -> str:
    ratio = f"{base / took:5.2f}x" if base else "    - "
    check = "" if same is None else ("  identical" if same else "  DIFFERENT")
    return f"{name:<28} {took:7.1f} s  {size / took / 1e6:7.1f} MB/s  {ratio}{check}"


def upload(tree: Path) -> tuple[Any, dict[str, str]]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                      aws_secret_access_key="bench", region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and p.name != "done"):
        s3.upload_file(str(path), "bench", f"tree/{path.relative_to(tree).as_posix()}")
    return server, env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--s3", action="store_true", help="also scan the tree from a local S3 server (moto)")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    tree = build(ensure_corpus(200), args.gb)
    took, local = scan([str(tree), "-j", "1"])
    size = read_bytes(local)
    print(f"tree {tree}: {size / 1e9:.2f} GB read, {len(local['inputs'])} inputs, {os.cpu_count()} CPUs")
    print(row("local -j 1", took, size, None, None))
    counts = [int(n) for n in args.workers.split(",")]
    server, env = upload(tree) if args.s3 else (None, {})
    os.environ.update(env)  # the workers' S3 endpoint and keys (they inherit the environment)
    for n in counts:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as cluster, Client(cluster) as client:
            t, report = scan(["--dask", cluster.scheduler_address, str(tree)])
            print(row(f"--dask, {n} worker{'s' if n > 1 else ''}", t, size, took, report == local))
            if args.s3 and n == max(counts):
                t, report = scan(["--dask", cluster.scheduler_address, "s3://bench/tree/"], env)
                shown = json.loads(json.dumps(report).replace("s3://bench/tree", str(tree)))
                print(row(f"--dask s3://, {n} workers", t, size, took, shown == local))
            client.close()
    if server is not None:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
