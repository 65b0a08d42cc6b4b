"""What mining unrecognised errors into templates costs: the same scan with and without it, in one run.

Three variants of `analyze()` on the 200 MB short-iso corpus, in-process so that rule loading is
paid once, alternated round by round so that a busy machine slows each of them alike:

  no-probe   ScanOptions(unexplained=False): no error probe at all (the scan before issue 15's count)
  count      the error probe and its count, the miner switched off (Miner.add a no-op)
  mine       the default: the probe, the count and the Drain templates

    python bench/bench_mining.py [--corpus PATH] [--repeat 3] [-j 1]

Each runs on the corpus as generated (its failures are all known to a rule: nothing reaches the
miner) and on a copy with `--inject` unrecognised error lines per thousand (default 10, i.e. 1%:
fixtures/unrecognised/shapes.txt with varying values), written once to bench/out/.
The target (issue 15): `mine` under 15% over `count`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from logsleuth import ruleset  # noqa: E402
from logsleuth.findings import templates  # noqa: E402
from logsleuth.model import Report  # noqa: E402
from logsleuth.pipeline import ScanOptions, analyze  # noqa: E402

CORPUS = ROOT / "bench" / "out" / "corpus-short-iso-200mb-seed1.log"


def _variants(rules: list[Any], jobs: int) -> dict[str, Callable[[str], Report]]:
    real_add = templates.Miner.add

    def run(path: str, unexplained: bool, mine: bool) -> Report:
        templates.Miner.add = real_add if mine else (lambda self, *a, **k: None)  # type: ignore[method-assign]
        try:
            return analyze([path], rules, ScanOptions(jobs=jobs, unexplained=unexplained))
        finally:
            templates.Miner.add = real_add  # type: ignore[method-assign]

    return {"no-probe": lambda p: run(p, False, False), "count": lambda p: run(p, True, False),
            "mine": lambda p: run(p, True, True)}


def injected(corpus: Path, per_mille: int) -> Path:
    """`corpus` with `per_mille` unrecognised runner error lines per 1000 lines (deterministic; made once)."""
    out = corpus.with_name(f"{corpus.stem}.unrecognised{per_mille}{corpus.suffix}")
    if out.exists() and out.stat().st_mtime >= corpus.stat().st_mtime:
        return out
    import random

    rnd = random.Random(1)
    shapes = [l for l in (ROOT / "fixtures" / "unrecognised" / "shapes.txt").read_text().splitlines()
              if l and not l.startswith("#")]
    holes: dict[str, Callable[[], str]] = {
        "{n}": lambda: str(rnd.randint(1, 99999)), "{ip}": lambda: ".".join(str(rnd.randint(1, 254)) for _ in range(4)),
        "{port}": lambda: str(rnd.randint(1024, 65535)), "{id}": lambda: "%08x" % rnd.getrandbits(32),
        "{path}": lambda: "/builds/group/app-%d" % rnd.randint(1, 9), "{dur}": lambda: rnd.choice(["30s", "1m0s"]),
        "{hex}": lambda: "%016x" % rnd.getrandbits(64)}
    every = max(1, 1000 // per_mille)
    with corpus.open("rb") as src, out.open("wb") as dst:
        for i, line in enumerate(src):
            dst.write(line)
            if i % every == every - 1:
                text = rnd.choice(shapes)
                for hole, value in holes.items():
                    while hole in text:
                        text = text.replace(hole, value(), 1)
                stamp = line.split(b" ", 1)[0]  # the neighbour's time keeps the file in order
                dst.write(stamp + b" ci-runner-01 gitlab-runner[812]: " + text.encode() + b"\n")
    return out


def measure(corpus: str, rules: list[Any], jobs: int, repeat: int) -> None:
    variants = _variants(rules, jobs)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    last: dict[str, Report] = {}
    for _ in range(repeat):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            last[name] = fn(corpus)
            walls[name].append(time.perf_counter() - t0)
    size = Path(corpus).stat().st_size / 1e6
    print(f"{corpus} ({size:.0f} MB), {len(rules)} rules, -j {jobs}, median of {repeat}")
    base = statistics.median(walls["count"])
    for name, w in walls.items():
        med = statistics.median(w)
        print(f"  {name:9s} {med:6.2f} s  ({', '.join(f'{x:.2f}' for x in w)})  {100 * (med / base - 1):+5.1f}% vs count")
    u = last["mine"].unexplained
    print(f"  unexplained lines: {u.count}, templates: {len(u.templates)}, dropped: {u.dropped}; "
          f"findings equal across variants: {len({len(r.findings) for r in last.values()}) == 1}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--inject", type=int, default=10, metavar="PER_MILLE",
                    help="Also scan a copy with this many unrecognised error lines per 1000 (0: no copy).")
    args = ap.parse_args()
    if not Path(args.corpus).exists():
        print(f"{args.corpus}: missing; python bench/gen_corpus.py makes it", file=sys.stderr)
        return 2
    rules = ruleset.load()
    measure(args.corpus, rules, args.jobs, args.repeat)
    if args.inject:
        measure(str(injected(Path(args.corpus), args.inject)), rules, args.jobs, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
