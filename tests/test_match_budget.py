"""A user rule whose regex is catastrophic on one line costs RECORD_BUDGET there, not forever:
the record is given up for that rule with a warning naming rule and line, and the scan goes on."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import ROOT

SLOW = """\
id: catastrophic
title: A rule whose regex is exponential on a run of a's without a final b
severity: major
category: runner-connectivity
match: message ~ /(a+)+b/
diagnosis: d
fix: f
why: w
"""
FAST = """\
id: token-rejected
title: Token rejected
severity: critical
category: auth
match: message ~ /Checking for jobs\\.\\.\\. forbidden/
diagnosis: d
fix: f
why: w
"""


def test_a_catastrophic_regex_is_given_up_on_one_record_and_the_scan_goes_on(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "catastrophic.yaml").write_text(SLOW)
    (rules / "token-rejected.yaml").write_text(FAST)
    log = tmp_path / "runner.log"
    log.write_text("2024-03-10T12:00:00+0000 ci1 gitlab-runner[1]: " + "a" * 40 + "!\n"
                   "2024-03-10T12:00:01+0000 ci1 gitlab-runner[1]: WARNING: Checking for jobs... forbidden runner=xyz12345\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "scan", "-j1", "--no-builtin", "--rules", str(rules),
                           "--format", "json", "--fail-on", "none", str(log)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    elapsed = time.monotonic() - start
    assert elapsed < 30  # 2^40 steps without the budget
    report = json.loads(proc.stdout)
    assert [f["rule_id"] for f in report["findings"]] == ["token-rejected"]  # the line after it was still read
    assert any("runner.log:1" in w and "'catastrophic'" in w and "given up" in w for w in report["warnings"]), report["warnings"]
    assert "Traceback" not in proc.stderr
