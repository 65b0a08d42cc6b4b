"""Every bundled rule proves itself with its own examples: one test per rule (`pytest -k RULE_ID`)."""
from __future__ import annotations

import pytest

from logsleuth import ruleset
from logsleuth.model import SEVERITIES
from logsleuth.authoring.examples import run_examples

BUNDLED = ruleset.load()


@pytest.mark.parametrize("rule", BUNDLED, ids=[r.id for r in BUNDLED])
def test_rule_examples(rule):
    results = list(run_examples(rule))
    failures = [f"{r.kind} example at {r.example.location}: {r.detail}" for r in results if not r.ok]
    assert not failures, "\n".join(failures)
    assert len(rule.examples_match) >= 2, "a rule needs at least two matching examples"
    assert len(rule.examples_no_match) >= 1, "a rule needs at least one non-matching example"


@pytest.mark.parametrize("rule", BUNDLED, ids=[r.id for r in BUNDLED])
def test_rule_is_documented(rule):
    assert rule.info.severity in SEVERITIES
    for field in ("title", "diagnosis", "fix", "why"):
        assert getattr(rule.info, field).strip(), f"{rule.id}: empty {field}"
    assert rule.info.references, f"{rule.id}: no references"
    assert rule.info.source.rsplit("/", 1)[-1] == f"{rule.id}.yaml"
