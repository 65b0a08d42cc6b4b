"""`rules score`'s corpus, described: counts of cases per category, origin, executor and OS, as Markdown.

The real-world corpus README (fixtures/real/README.md) embeds this table; a test keeps the two in
sync, so the counts a reader sees are the counts the scorer runs on.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Iterable, Sequence

from logsleuth.authoring.score import LONG_LINES, Case, non_blank_lines

BEGIN, END = "<!-- counts: begin (logsleuth.authoring.corpus) -->", "<!-- counts: end -->"


def counts_markdown(corpus: str, cases: Sequence[Case]) -> str:
    """The counts block of the corpus README."""
    lines = {c.file: non_blank_lines(os.path.join(corpus, c.file)) for c in cases}
    positives = [c for c in cases if c.categories]
    long_pos = sum(1 for c in positives if lines[c.file] >= LONG_LINES)
    out = [BEGIN, "",
           f"{len(cases)} excerpts: {len(positives)} positive ({long_pos} with {LONG_LINES}+ non-blank lines), "
           f"{len(cases) - len(positives)} negative.", ""]
    per_cat: Counter[str] = Counter(cat for c in cases for cat in c.categories)
    long_cat: Counter[str] = Counter(cat for c in positives if lines[c.file] >= LONG_LINES for cat in c.categories)
    out += ["| category | cases | long |", "| --- | ---: | ---: |"]
    out += [f"| `{cat}` | {n} | {long_cat[cat]} |" for cat, n in sorted(per_cat.items())]
    out += [f"| none (negative) | {len(cases) - len(positives)} | "
            f"{sum(1 for c in cases if not c.categories and lines[c.file] >= LONG_LINES)} |"]
    for key in ("origin", "executor", "os"):
        out += ["", _inline(key, (c.meta.get(key, "unknown") for c in cases))]
    return "\n".join(out + ["", END])


def _inline(key: str, values: Iterable[str]) -> str:
    counts = Counter(values)
    return f"By {key}: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) + "."


def replace_counts(readme: str, block: str) -> str:
    """`readme` with its counts block replaced by `block`."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + block + readme[end:]


def main(argv: Sequence[str]) -> int:
    """`python -m logsleuth.authoring.corpus CORPUS`: rewrite CORPUS/README.md's counts block."""
    import argparse

    from logsleuth.authoring.score import load_labels

    ap = argparse.ArgumentParser(prog="python -m logsleuth.authoring.corpus",
                                 description="Rewrite CORPUS/README.md's counts block from CORPUS/labels.yaml.")
    ap.add_argument("corpus", nargs="?", default=os.path.join("fixtures", "real"))
    corpus = ap.parse_args(argv).corpus
    path = os.path.join(corpus, "README.md")
    try:
        with open(path, encoding="utf-8") as fh:
            readme = fh.read()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(replace_counts(readme, counts_markdown(corpus, load_labels(corpus))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
