#!/usr/bin/env python3
"""`logsleuth parse` throughput on generated corpora, beside `wc -l` and a bare Python line loop.

    python bench/bench_parse.py [--mb 100] [--repeat 3] [--logsleuth PATH]

For a short-iso corpus and a `journalctl -o json` corpus (both `--mb` MB, generated into
bench/out/ on first use), prints wall time (median of --repeat runs, start-up included), MB/s,
lines/s, the ratio to the bare Python loop and the child's peak RSS. Output of `parse` goes
to /dev/null.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_corpus import ensure_corpus  # noqa: E402
from timing import count_lines, python, run, table  # noqa: E402

LINE_LOOP = """
import sys
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        n += 1
print(n)
"""


def bench(corpus: Path, logsleuth: str, repeat: int) -> str:
    size, lines = corpus.stat().st_size, count_lines(corpus)
    results = [
        run("wc -l", ["wc", "-l", str(corpus)], repeat=repeat),
        python("python: for line in open(rb)", LINE_LOOP, [str(corpus)], repeat=repeat),
        run("logsleuth parse", [logsleuth, "parse", str(corpus)], repeat=repeat, stdout_to_devnull=True),
    ]
    head = f"{corpus.name}: {size / 1e6:.1f} MB, {lines:,} lines ({size / lines:.0f} B/line)"
    return head + "\n" + table(results, size, lines, baseline="python: for line in open(rb)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--logsleuth", default=shutil.which("logsleuth") or str(Path(sys.executable).with_name("logsleuth")))
    args = ap.parse_args()
    for as_json in (False, True):
        print(bench(ensure_corpus(args.mb, as_json), args.logsleuth, args.repeat), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
