"""`rules score`: how well a rule library does on a labelled corpus of real logs (recall, precision, misses).

A corpus is a folder of log excerpts with a `labels.yaml` naming, for each file, the failure
categories really present in it (`[]` for a negative). Each file is scanned alone with the real
pipeline; a category counts as predicted when any finding names it, whatever its severity (so a
label must list every category the excerpt shows, `job-failed` included when the runner's
"Job failed" verdict is in it).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from logsleuth.errors import Diagnostics, Location, LogsleuthError
from logsleuth.model import SEVERITIES
from logsleuth.pipeline import ScanOptions, analyze
from logsleuth.ruleset import Rule

LABELS = "labels.yaml"
COUNTED = SEVERITIES
# A negative flagged at this severity or above would page someone for nothing.
ALARM = SEVERITIES[SEVERITIES.index("major"):]
LONG_LINES = 20


@dataclass(frozen=True)
class Case:
    """One labelled excerpt."""

    file: str
    categories: frozenset[str]
    meta: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Outcome:
    """What the rules said about one case."""

    case: Case
    predicted: frozenset[str]
    rules: tuple[tuple[str, str, str], ...]  # (rule id, category, severity) of every finding
    lines: int

    @property
    def missed(self) -> frozenset[str]:
        return self.case.categories - self.predicted

    @property
    def extra(self) -> frozenset[str]:
        return self.predicted - self.case.categories

    @property
    def alarm(self) -> bool:
        """A negative with a finding at `major` or above."""
        return not self.case.categories and any(sev in ALARM for _, _, sev in self.rules)


@dataclass(frozen=True)
class Score:
    """Per-category and overall figures over a corpus."""

    outcomes: tuple[Outcome, ...]

    def per_category(self) -> dict[str, tuple[int, int, int]]:
        """category -> (true positives, false negatives, false positives)."""
        tp: Counter[str] = Counter()
        fn: Counter[str] = Counter()
        fp: Counter[str] = Counter()
        for o in self.outcomes:
            tp.update(o.case.categories & o.predicted)
            fn.update(o.missed)
            fp.update(o.extra)
        return {c: (tp[c], fn[c], fp[c]) for c in sorted(set(tp) | set(fn) | set(fp))}

    def totals(self, long_only: bool = False) -> tuple[int, int, int]:
        picked = [o for o in self.outcomes if not long_only or o.lines >= LONG_LINES]
        tp = sum(len(o.case.categories & o.predicted) for o in picked)
        fn = sum(len(o.missed) for o in picked)
        fp = sum(len(o.extra) for o in picked)
        return tp, fn, fp

    def recall(self, long_only: bool = False) -> float:
        tp, fn, _ = self.totals(long_only)
        return tp / (tp + fn) if tp + fn else 1.0

    def precision(self, long_only: bool = False) -> float:
        tp, _, fp = self.totals(long_only)
        return tp / (tp + fp) if tp + fp else 1.0

    def alarms(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.alarm]


def load_labels(corpus: str) -> list[Case]:
    """The cases of `corpus`/labels.yaml. Raises LogsleuthError naming the entry at fault."""
    path = os.path.join(corpus, LABELS)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise LogsleuthError(f"cannot read the corpus labels: {exc}", Location(path)) from exc
    entries = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise LogsleuthError("expected a mapping with a `cases:` list", Location(path))
    cases: list[Case] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        cases.append(_case(entry, n, corpus, path, seen))
    return cases


def _case(entry: Any, n: int, corpus: str, path: str, seen: set[str]) -> Case:
    where = Location(path)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise LogsleuthError(f"case {n}: expected a mapping with `file:`", where)
    file, cats = entry["file"], entry.get("categories")
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise LogsleuthError(f"case {n} ({file}): `categories:` must be a list of names ([] for none)", where)
    if file in seen:
        raise LogsleuthError(f"case {n}: {file} is labelled twice", where)
    if not os.path.isfile(os.path.join(corpus, file)):
        raise LogsleuthError(f"case {n}: {file} does not exist", where)
    seen.add(file)
    meta = {k: str(v) for k, v in entry.items() if k not in ("file", "categories")}
    return Case(file, frozenset(cats), meta)


def score(corpus: str, rules: Sequence[Rule], cases: Sequence[Case] | None = None) -> Score:
    """Scan each case of `corpus` alone with `rules` and compare with its labels."""
    outcomes = []
    for case in cases if cases is not None else load_labels(corpus):
        path = os.path.join(corpus, case.file)
        report = analyze([path], rules, ScanOptions(jobs=1), Diagnostics())
        found = tuple((f.rule_id, f.category, f.severity) for f in report.findings)
        predicted = frozenset(cat for _, cat, sev in found if sev in COUNTED)
        outcomes.append(Outcome(case, predicted, found, non_blank_lines(path)))
    return Score(tuple(outcomes))


def non_blank_lines(path: str) -> int:
    """Lines with something on them: what "long" (LONG_LINES or more) counts."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def render_text(s: Score) -> str:
    """The score as a plain-text table, then the misses, false alarms and alarmed negatives."""
    out = [f"{'category':<22} {'cases':>5} {'tp':>4} {'fn':>4} {'fp':>4} {'recall':>7} {'precision':>9}"]
    for cat, (tp, fn, fp) in s.per_category().items():
        out.append(f"{cat:<22} {tp + fn:>5} {tp:>4} {fn:>4} {fp:>4} {_ratio(tp, tp + fn):>7} {_ratio(tp, tp + fp):>9}")
    tp, fn, fp = s.totals()
    ltp, lfn, lfp = s.totals(long_only=True)
    negatives = sum(1 for o in s.outcomes if not o.case.categories)
    out += ["", f"{len(s.outcomes)} cases ({negatives} negative, "
                f"{sum(1 for o in s.outcomes if o.lines >= LONG_LINES)} with {LONG_LINES}+ lines)",
            f"overall  recall {_ratio(tp, tp + fn)}  precision {_ratio(tp, tp + fp)}",
            f"long     recall {_ratio(ltp, ltp + lfn)}  precision {_ratio(ltp, ltp + lfp)}",
            f"negatives flagged at major or above: {len(s.alarms())}"]
    misses = [o for o in s.outcomes if o.missed]
    if misses:
        out += ["", "misses:"] + [f"  {o.case.file}: {', '.join(sorted(o.missed))}" for o in misses]
    extras = [o for o in s.outcomes if o.extra]
    if extras:
        out += ["", "false alarms:"]
        for o in extras:
            ids = sorted({rid for rid, cat, sev in o.rules if cat in o.extra and sev in COUNTED})
            out.append(f"  {o.case.file}: {', '.join(sorted(o.extra))} ({', '.join(ids)})")
    return "\n".join(out) + "\n"


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "-"
