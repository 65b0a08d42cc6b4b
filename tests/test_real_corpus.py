"""The rule library on real logs nobody here wrote (fixtures/real): floors on recall and precision."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from logsleuth import ruleset
from logsleuth.authoring.corpus import counts_markdown
from logsleuth.read import formats
from logsleuth.read.formats import ParseContext
from logsleuth.authoring.score import load_labels, render_text, score

CORPUS = ROOT / "fixtures" / "real"
CATEGORIES = {r.info.category for r in ruleset.load()}
# Live credentials have these shapes; the corpus holds placeholders only (glrt-REDACTED, <password>).
LIVE_SECRET = re.compile(r"gl(?:pat|rt|cbt|dt|ptt|ft|soat|agent)-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----")


@pytest.fixture(scope="module")
def result():
    return score(str(CORPUS), ruleset.load())


def test_every_label_names_a_known_category_and_a_source():
    cases = load_labels(str(CORPUS))
    assert len(cases) >= 150
    for case in cases:
        assert case.categories <= CATEGORIES, case.file
        assert case.meta.get("source") and case.meta.get("origin"), case.file
        assert case.file.startswith(("none/",) if not case.categories else tuple(f"{c}/" for c in case.categories)), case.file


def test_corpus_mix_meets_the_issue_minimums():
    cases = load_labels(str(CORPUS))
    positives = [c for c in cases if c.categories]
    assert len(cases) - len(positives) >= 40
    # Every category of the library is proven on real logs (job-cancelled has one case so far).
    per_category = {c: sum(1 for case in positives if c in case.categories) for c in CATEGORIES}
    assert {c: n for c, n in per_category.items() if n < 1} == {}


def test_readme_counts_are_the_labels_counts():
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert counts_markdown(str(CORPUS), load_labels(str(CORPUS))) in readme, \
        "fixtures/real/README.md is stale: run python -m logsleuth.authoring.corpus"


def test_no_live_secret_in_the_corpus():
    for path in sorted(CORPUS.rglob("*.log")):
        found = LIVE_SECRET.search(path.read_text(encoding="utf-8", errors="replace"))
        assert found is None, f"{path.relative_to(ROOT)}: {found.group(0)[:12]}…"


def test_floors(result):
    summary = render_text(result)
    assert result.recall() >= 0.90, summary
    assert result.precision() >= 0.95, summary
    assert [o.case.file for o in result.alarms()] == [], summary


def test_a_trace_with_logrus_tty_lines_keeps_its_other_lines():
    # An old job trace: the artifacts uploader's `INFO[0000]` lines make the input look like
    # `runner-text`; the curl error and the verdict between them must keep their text.
    path = CORPUS / "api-server-error" / "b-sameersbn-artifacts-curl22-500.log"
    lines = path.read_bytes().splitlines()
    fmt, _ = formats.detect(lines)
    records = list(fmt.parse(lines, ParseContext(str(path), year=2024)))
    messages = [r.message for r in records]
    assert "curl: (22) The requested URL returned error: 500 Internal Server Error" in messages
    assert "ERROR: Build failed with: exit status 1" in messages
    assert "Creating archive artifacts.tgz ..." in messages  # the logrus line itself is still parsed
