"""The package type-checks under the strict mypy configuration in setup.cfg."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_mypy_strict_passes():
    # Run from the repository root so mypy reads setup.cfg's [mypy] section (strict = True).
    proc = subprocess.run([sys.executable, "-m", "mypy", "logsleuth"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"mypy failed:\n{proc.stdout}{proc.stderr}"
    assert "Success" in proc.stdout
