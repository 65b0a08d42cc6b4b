#!/usr/bin/env python3
"""Issue 13's table in one run: `logsleuth scan` as the README installs it beside grep and ripgrep.

    python bench/bench_fast.py [--repeat 3] [--compare-rules REV] [--logsleuth PATH] [--skip tree,gz]

Rows (median of --repeat runs each, start-up included, page cache warm):

* 200 MB `journalctl -o short-iso`: `LC_ALL=C grep -c -E -f`, `rg -c --no-unicode -f` (same
  patterns: the rules' regexes as POSIX ERE, bench/ere.py), `logsleuth scan` with its defaults
  (`-j 0`: a worker per core) and with `-j 1` / `-j 2`;
* the same with the rules of git revision REV (`--compare-rules`, e.g. the 77-rule library of
  c3b3d42), so a wider rule library's cost is measured in the same run;
* 100 MB `journalctl -o json`: grep vs logsleuth;
* a one-line file with a warm compile cache (start-up cost);
* the 200 MB file gzipped: `zcat | grep` vs `logsleuth scan FILE.gz`;
* 10,000 files of 20 KB: `grep -r` vs `logsleuth scan DIR`.

Peak RSS is the measured process's own (`/usr/bin/time -f %M`). Ratios are to grep (LC_ALL=C)
and to ripgrep of the same input. Then issue 13's targets are checked and printed PASS/FAIL.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import GREP_C, REPO, rule_regexes, scan_summary, write_patterns  # noqa: E402
from gen_corpus import OUT, ensure_corpus  # noqa: E402
from timing import Result, count_lines, run, table  # noqa: E402


def gz_of(path: Path) -> Path:
    dest = path.with_name(path.name + ".gz")
    if not dest.exists():
        with path.open("rb") as src, gzip.open(dest, "wb", compresslevel=6) as out:
            shutil.copyfileobj(src, out, 1 << 22)
    return dest


def tree_of(path: Path, files: int = 10_000, size: int = 20_000) -> Path:
    """`files` files of about `size` bytes cut at newlines from `path`, 100 per directory."""
    dest = OUT / f"tree{files // 1000}k"
    if (dest / "done").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as f:
        for i in range(files):
            data = f.read(size)
            data += f.readline()
            sub = dest / f"d{i // 100:03d}"
            sub.mkdir(exist_ok=True)
            (sub / f"runner-{i:05d}.log").write_bytes(data)
    (dest / "done").write_text("")
    return dest


def rules_at(rev: str) -> Path:
    """The rules/ folder of git revision `rev`, extracted once into bench/out/."""
    dest = OUT / f"rules-{rev}"
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "rules"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=1"], input=archive, check=True)
    return dest


def usable_patterns(ere: Path) -> tuple[Path, int]:
    """The patterns both GNU grep and ripgrep accept (one file for both, so they race on the same
    set); each is tried alone, so one that a tool rejects drops out instead of failing the row."""
    kept = []
    for pat in ere.read_text(encoding="utf-8").splitlines():
        one = OUT / "one-pattern.ere"
        one.write_text(pat + "\n", encoding="utf-8")
        tools = [["grep", "-E", "-f", str(one), "/dev/null"]]
        if shutil.which("rg"):
            tools.append(["rg", "--no-unicode", "-f", str(one), "/dev/null"])
        if all(subprocess.run(t, capture_output=True, env=GREP_C).returncode in (0, 1) for t in tools):
            kept.append(pat)
    out = OUT / "patterns-grep-rg.ere"
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out, len(kept)


def scan(name: str, logsleuth: str, target: Path, repeat: int, *extra: str) -> Result:
    res = run(name, [logsleuth, "scan", str(target), "--format", "json", "--fail-on", "none", *extra],
              repeat=repeat, ok_codes=(0, 3))
    scan_summary(res)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare-rules", metavar="REV", help="also scan with the rules of this git revision")
    ap.add_argument("--skip", default="", help="comma-separated: json, gz, tree, one")
    ap.add_argument("--logsleuth", default=shutil.which("logsleuth") or str(Path(sys.executable).with_name("logsleuth")))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    ls, rep = args.logsleuth, args.repeat

    corpus = ensure_corpus(200)
    size, lines = corpus.stat().st_size, count_lines(corpus)
    regexes, source = rule_regexes(ls)
    ere, _json, skipped = write_patterns(regexes)
    ere, usable = usable_patterns(ere)
    print(f"corpus {corpus.name}: {size / 1e6:.1f} MB, {lines:,} lines; {usable} of {len(regexes)} regexes as "
          f"patterns both grep and rg accept ({source})")
    have_rg = shutil.which("rg") is not None
    rg = lambda name, *target: run(name, ["rg", "-c", "--no-unicode", "-f", str(ere), *map(str, target)],  # noqa: E731
                                   repeat=rep, ok_codes=(0, 1)) if have_rg else Result(name, error="rg not installed")
    grep = lambda name, *argv: run(name, ["grep", "-c", "-E", "-f", str(ere), *map(str, argv)],  # noqa: E731
                                   repeat=rep, ok_codes=(0, 1), env=GREP_C)
    sections: list[tuple[str, int, int, list[Result]]] = []

    main_rows = [grep("LC_ALL=C grep -c -E -f", corpus), rg("rg -c --no-unicode -f", corpus),
                 scan("logsleuth scan (defaults)", ls, corpus, rep),
                 scan("logsleuth scan -j 1", ls, corpus, rep, "-j", "1"),
                 scan("logsleuth scan -j 2", ls, corpus, rep, "-j", "2")]
    if args.compare_rules:
        old = rules_at(args.compare_rules)
        for j in ("1", "2"):
            main_rows.append(scan(f"logsleuth scan -j {j}, rules of {args.compare_rules}", ls, corpus, rep,
                                  "-j", j, "--no-builtin", "--rules", str(old)))
    sections.append(("200 MB short-iso", size, lines, main_rows))

    if "json" not in skip:
        jcorpus = ensure_corpus(100, as_json=True)
        jsize = jcorpus.stat().st_size
        sections.append(("100 MB json", jsize, count_lines(jcorpus),
                         [grep("LC_ALL=C grep -c -E -f", jcorpus), rg("rg -c --no-unicode -f", jcorpus),
                          scan("logsleuth scan (defaults)", ls, jcorpus, rep)]))
    if "one" not in skip:
        one = OUT / "one-line.log"
        one.write_text(corpus.open().readline())
        scan("warm the cache", ls, one, 1)
        sections.append(("one line, warm cache", one.stat().st_size, 1,
                         [grep("LC_ALL=C grep -c -E -f", one), scan("logsleuth scan (defaults)", ls, one, rep)]))
    if "gz" not in skip:
        gz = gz_of(corpus)
        zgrep = run("zcat | LC_ALL=C grep -c -E -f", ["bash", "-c", f'zcat "$0" | grep -c -E -f "{ere}"', str(gz)],
                    repeat=rep, ok_codes=(0, 1), env=GREP_C)
        sections.append(("200 MB short-iso .gz", size, lines,
                         [zgrep, scan("logsleuth scan (defaults)", ls, gz, rep)]))
    if "tree" not in skip:
        tree = tree_of(corpus)
        tsize = sum(p.stat().st_size for p in tree.rglob("*.log"))
        sections.append(("10,000 files of 20 KB", tsize, 0,
                         [run("LC_ALL=C grep -r -c -E -f", ["grep", "-r", "-c", "-E", "-f", str(ere), str(tree)],
                              repeat=rep, ok_codes=(0, 1), env=GREP_C, stdout_to_devnull=True),
                          rg("rg -c --no-unicode -f", tree),
                          scan("logsleuth scan (defaults)", ls, tree, rep)]))

    for title, nbytes, nlines, rows in sections:
        print(f"\n## {title}")
        for r in rows:
            if r.name.startswith(("rg", "LC_ALL", "zcat")) and r.ok:
                r.note, r.stdout = "", ""  # per-file counts: not worth a column
        print(table(rows, nbytes, max(nlines, 1), baseline=rows[0].name))
        rg_row = next((r for r in rows if r.name.startswith("rg") and r.ok), None)
        for r in rows:
            if r.name.startswith("logsleuth") and r.ok and rg_row is not None:
                print(f"  {r.name}: {r.wall / rg_row.wall:.2f}x ripgrep")
    print()
    print("\n".join(verdicts({t: rows for t, _, _, rows in sections})))
    return 0


def verdicts(sections: dict[str, list[Result]]) -> list[str]:
    out: list[str] = []

    def row(section: str, prefix: str) -> Result | None:
        return next((r for r in sections.get(section, []) if r.name.startswith(prefix) and r.ok), None)

    def check(label: str, got: Result | None, base: Result | None, factor: float) -> None:
        if got is None or base is None:
            out.append(f"n/a   {label}: a row did not run")
            return
        ratio = got.wall / base.wall
        out.append(f"{'PASS' if ratio <= factor else 'FAIL'}  {label}: {ratio:.2f}x (target <= {factor}x)")

    main = "200 MB short-iso"
    check("scan <= 0.8x LC_ALL=C grep", row(main, "logsleuth scan (defaults)"), row(main, "LC_ALL=C grep"), 0.8)
    check("scan <= 1.0x ripgrep", row(main, "logsleuth scan (defaults)"), row(main, "rg"), 1.0)
    check("json 100 MB <= 1.2x grep", row("100 MB json", "logsleuth"), row("100 MB json", "LC_ALL=C grep"), 1.2)
    one = row("one line, warm cache", "logsleuth")
    if one is not None:
        out.append(f"{'PASS' if one.wall < 0.08 else 'FAIL'}  one-line scan < 80 ms warm: {one.wall * 1000:.0f} ms")
    check(".gz <= 1.2x zcat | grep", row("200 MB short-iso .gz", "logsleuth"), row("200 MB short-iso .gz", "zcat"), 1.2)
    check("10,000 files <= 1.5x grep -r", row("10,000 files of 20 KB", "logsleuth"), row("10,000 files of 20 KB", "LC_ALL=C grep"), 1.5)
    peak = max((r.rss_kib for rows in sections.values() for r in rows if r.name.startswith("logsleuth") and r.ok), default=0)
    out.append(f"{'PASS' if peak < 100 * 1024 else 'FAIL'}  peak RSS < 100 MB: {peak / 1024:.0f} MiB")
    old = [r for r in sections.get(main, []) if ", rules of " in r.name and r.ok]
    for r in old:
        new = row(main, r.name.split(",")[0])
        if new is not None:
            out.append(f"{'PASS' if new.wall <= 1.10 * r.wall else 'FAIL'}  today's rules vs {r.name.split('rules of ')[1]} "
                       f"({r.name.split(',')[0]}): {new.wall / r.wall:.2f}x (issue 9: < 1.10x)")
    return out


if __name__ == "__main__":
    sys.exit(main())
