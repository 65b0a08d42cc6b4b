#!/usr/bin/env python3
"""`logsleuth scan` end to end with the bundled rules, per backend, beside `grep -E` and a naive loop.

    python bench/bench_scan.py [--mb 200] [--repeat 3] [--slice-mb 20] [--logsleuth PATH]

On a generated `journalctl -o short-iso` corpus (bench/out/, made on first use) it times, in one run:

* `wc -l` (the I/O floor);
* `grep -E -c -f patterns.ere` over the same rules' regexes (exported with
  `logsleuth rules list --format json` and translated to POSIX ERE by bench/ere.py);
* `logsleuth scan FILE --format json --fail-on none --backend B` for B in hyperscan, python;
* a naive every-regex-on-every-line Python loop, run on the first --slice-mb MB only and
  extrapolated linearly to the whole corpus (the table says so), plus grep on the same slice so
  the two matched-line counts can be compared.

Each row: wall time (median of --repeat runs; start-up, imports and rule compilation included),
MB/s, lines/s, ratio to grep -E, peak RSS of the process. Then the issue's targets are checked.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ere import Untranslatable, to_ere  # noqa: E402
from gen_corpus import OUT, ensure_corpus  # noqa: E402
from timing import Result, count_lines, python, run, slice_of, table  # noqa: E402

# grep's default UTF-8 locale and the byte locale. With this many patterns GNU grep is ~20x
# slower in C.UTF-8 (its multibyte DFA); logsleuth matches with ASCII semantics, so LC_ALL=C
# is the like-for-like (and strictest) baseline; both are shown.
GREP_UTF8 = {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
GREP_C = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
BASELINE = "grep -E -c -f (LC_ALL=C)"
REPO = Path(__file__).resolve().parent.parent

NAIVE = """
import json, re, sys
flag_of = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
regexes = []
for pattern, flags in json.load(open(sys.argv[1])):
    f = re.ASCII
    for ch in flags:
        f |= flag_of[ch]
    regexes.append(re.compile(pattern, f))
matched = 0
with open(sys.argv[2], encoding="utf-8", errors="replace") as lines:
    for line in lines:
        hit = False
        for rx in regexes:  # every regex on every line
            if rx.search(line):
                hit = True
        matched += hit
print(matched, "lines matched")
"""


def rule_regexes(logsleuth: str) -> tuple[list[tuple[str, str]], str]:
    """(pattern, flags) of every bundled rule, from `rules list --format json`, else from the YAML."""
    res = run("rules list", [logsleuth, "rules", "list", "--format", "json"])
    if res.ok:
        data = json.loads(res.stdout)
        items = data["rules"] if isinstance(data, dict) else data
        items = [item for item in items if item.get("input", "logs") == "logs"]  # config.toml rules read no log lines
        out = [(rx["pattern"], _flags(rx.get("flags", ""))) for item in items for rx in item.get("regexes", [])]
        return out, f"{len(items)} rules from `logsleuth rules list --format json`"
    return _scrape_yaml(), f"`rules list` unavailable ({res.error}); regexes scraped from rules/**/*.yaml"


def _flags(value: object) -> str:
    if isinstance(value, str):
        return "".join(ch for ch in value.lower() if ch in "imsx")
    names = {"ignorecase": "i", "multiline": "m", "dotall": "s", "verbose": "x"}
    return "".join(names.get(str(v).lower(), str(v).lower()[:1]) for v in value)  # type: ignore[attr-defined]


_DSL_REGEX = re.compile(r"~\s*/((?:[^/\\\n]|\\.)+)/([imsx]*)")


def _scrape_yaml() -> list[tuple[str, str]]:
    out = []
    for path in sorted((REPO / "rules").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        out += [(m.group(1).replace("\\/", "/"), m.group(2)) for m in _DSL_REGEX.finditer(text)]
    return out


# A rule bounds a repeat ({0,512}) for Python's backtracking engine, whose search time the bound
# keeps linear on hostile lines; grep and rg are linear without it, and a big bound blows up grep's
# DFA (measured: 394 MiB and 4x the time). They get the unbounded repeat the bound stands in for.
_BIG_BOUND = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")


def _unbounded(ere: str) -> str:
    def repl(m: re.Match[str]) -> str:
        low, high = int(m.group(1)), int(m.group(2))
        if high < 32:
            return m.group(0)
        return "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
    return _BIG_BOUND.sub(repl, ere)


def write_patterns(regexes: list[tuple[str, str]]) -> tuple[Path, Path, list[str]]:
    """patterns.ere for grep and regexes.json for the naive loop; returns skipped patterns."""
    ere, kept, skipped = [], [], []
    for pattern, flags in regexes:
        try:
            ere.append(_unbounded(to_ere(pattern, "i" in flags)))
            kept.append((pattern, flags))
        except Untranslatable as exc:
            skipped.append(f"{pattern!r}: {exc}")
    OUT.mkdir(parents=True, exist_ok=True)
    ere_path, json_path = OUT / "patterns.ere", OUT / "regexes.json"
    ere_path.write_text("\n".join(ere) + "\n", encoding="utf-8")
    json_path.write_text(json.dumps(kept), encoding="utf-8")
    return ere_path, json_path, skipped


def scan_summary(res: Result) -> None:
    """Replace the JSON report by a one-line summary; keep (rule, fingerprint, count) to compare backends."""
    if res.ok:
        findings = json.loads(res.stdout).get("findings", [])
        res.note = f"{len(findings)} findings, {sum(f.get('count', 0) for f in findings):,} events"
        res.stdout = ""
        res.findings = sorted((f.get("rule_id"), f.get("fingerprint"), f.get("count")) for f in findings)


def scan_available(logsleuth: str) -> bool:
    return run("scan --help", [logsleuth, "scan", "--help"]).ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--slice-mb", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--with-aho", metavar="DIR", help="also time the python backend with pyahocorasick "
                    "importable from DIR (e.g. after `pip install --target DIR pyahocorasick`)")
    ap.add_argument("--logsleuth", default=shutil.which("logsleuth") or str(Path(sys.executable).with_name("logsleuth")))
    args = ap.parse_args()

    corpus = ensure_corpus(args.mb)
    part = slice_of(corpus, args.slice_mb)
    size, lines = corpus.stat().st_size, count_lines(corpus)
    regexes, source = rule_regexes(args.logsleuth)
    ere, regex_json, skipped = write_patterns(regexes)
    print(f"corpus {corpus.name}: {size / 1e6:.1f} MB, {lines:,} lines; {len(regexes)} regexes ({source})")
    for s in skipped:
        print(f"  left out of grep and the naive loop (no ERE form): {s}")

    grep = ["grep", "-E", "-c", "-f", str(ere), str(corpus)]
    results = [run("wc -l", ["wc", "-l", str(corpus)], repeat=args.repeat),
               run(BASELINE, grep, repeat=args.repeat, ok_codes=(0, 1), env=GREP_C),
               run("grep -E -c -f (C.UTF-8)", grep, repeat=args.repeat, ok_codes=(0, 1), env=GREP_UTF8)]
    results[0].stdout = results[0].stdout.split()[0] if results[0].ok else ""
    results[1].note = results[2].note = "lines matched:"
    results += scan_rows(args.logsleuth, corpus, args.repeat, args.with_aho)
    results += naive_rows(part, size, ere, regex_json)
    print(table(results, size, lines, baseline=BASELINE))
    print()
    print("\n".join(verdicts({r.name: r for r in results})))
    return 0


def scan_rows(logsleuth: str, corpus: Path, repeat: int, aho_dir: str | None) -> list[Result]:
    # -j 1: one core; -j 2: the file is split into ranges matched by two forked workers.
    variants = [(b, j, None) for b in ("hyperscan", "python", "stdlib") for j in (1, 2)]
    if aho_dir:  # the python backend picks pyahocorasick up when it is importable
        variants.append(("python", 1, {**os.environ, "PYTHONPATH": aho_dir}))
    have_scan = scan_available(logsleuth)
    out = []
    for backend, jobs, env in variants:
        name = f"logsleuth scan --backend {backend} -j {jobs}" + (" +pyahocorasick" if env else "")
        if not have_scan:
            out.append(Result(name, error="`logsleuth scan` does not exist yet"))
            continue
        res = run(name, [logsleuth, "scan", str(corpus), "--format", "json", "--fail-on", "none",
                         "--backend", backend, "-j", str(jobs)], repeat=repeat, env=env)
        scan_summary(res)
        out.append(res)
    return out


def naive_rows(part: Path, size: int, ere: Path, regex_json: Path) -> list[Result]:
    """Naive loop and grep on the same slice, both extrapolated to the corpus size (x scale)."""
    scale = size / part.stat().st_size
    note = f"slice x{scale:.1f}, lines matched in slice:"
    grep_slice = run("grep -E -c, LC_ALL=C (slice, extrap.)", ["grep", "-E", "-c", "-f", str(ere), str(part)],
                     ok_codes=(0, 1), env=GREP_C)
    naive = python("naive loop (slice, extrapolated)", NAIVE, [str(regex_json), str(part)])
    for res in (grep_slice, naive):
        res.scale, res.note = scale, note
    return [grep_slice, naive]


def verdicts(rows: dict[str, Result]) -> list[str]:
    grep, grep_utf8 = rows[BASELINE], rows["grep -E -c -f (C.UTF-8)"]
    fast, py = rows["logsleuth scan --backend hyperscan -j 2"], rows["logsleuth scan --backend python -j 2"]
    fast1, py1 = rows["logsleuth scan --backend hyperscan -j 1"], rows["logsleuth scan --backend python -j 1"]
    std, std1 = rows["logsleuth scan --backend stdlib -j 2"], rows["logsleuth scan --backend stdlib -j 1"]
    naive = rows["naive loop (slice, extrapolated)"]
    out = []

    def check(label: str, ok: bool, detail: str) -> None:
        out.append(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")

    if not (grep.ok and fast.ok and py.ok):
        return ["targets not checked: grep or a scan backend did not run"]
    def vs(r: Result) -> str:
        utf8 = f", {r.wall / grep_utf8.wall:.2f}x grep in C.UTF-8" if grep_utf8.ok else ""
        return f"{r.wall / grep.wall:.2f}x grep LC_ALL=C{utf8}"

    check("hyperscan backend (2 workers) no slower than grep -E", fast.wall <= grep.wall, vs(fast))
    check("hyperscan backend (1 core) no slower than grep -E", fast1.wall <= grep.wall, vs(fast1))
    check("python backend (2 workers) within 8x of grep -E", py.wall <= 8 * grep.wall, vs(py))
    check("python backend (1 core) within 8x of grep -E", py1.wall <= 8 * grep.wall, vs(py1))
    if std.ok and std1.ok:  # the stdlib-only scanner, for installs without pyahocorasick
        check("stdlib backend (2 workers) within 8x of grep -E", std.wall <= 8 * grep.wall, vs(std))
        check("stdlib backend (1 core) within 8x of grep -E", std1.wall <= 8 * grep.wall, vs(std1))
    if naive.ok:
        # The naive loop is one process: compare it with the one-core runs.
        for name, r in (("python", py1), ("stdlib", std1)):
            if r.ok:
                check(f"{name} backend (1 core) >= 10x faster than the naive loop", naive.wall >= 10 * r.wall,
                      f"{naive.wall / r.wall:.1f}x faster")
    for r in (fast, py, fast1, py1, std, std1):
        check(f"{r.name} peak RSS < 200 MB", r.rss_kib * 1024 < 200e6, f"{r.rss_kib / 1024:.0f} MiB")
    scans = [r for name, r in rows.items() if name.startswith("logsleuth scan") and r.ok]
    check("every backend reports identical findings (rule, fingerprint, count)",
          all(r.findings == scans[0].findings for r in scans), f"{len(scans[0].findings)} findings")
    return out


if __name__ == "__main__":
    sys.exit(main())
