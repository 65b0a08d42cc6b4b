"""The bundled rules pass `rules lint --strict` (issue 14): no regex risk, no missing proof, no overlap.

Run as the real command, so a rule edited back into a super-linear shape (an unbounded repeat that
every position of a long run restarts) fails the suite, not only a reviewer's eye.
"""
from __future__ import annotations

import subprocess
import sys


def test_bundled_rules_pass_strict_lint():
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "rules", "lint", "--strict", "--no-cache"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 warning(s)" in proc.stdout + proc.stderr
    assert "warning:" not in proc.stdout + proc.stderr
