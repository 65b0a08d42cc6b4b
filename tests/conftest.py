"""Shared test helpers: build rules from YAML text and records from short-iso log lines."""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from logsleuth import ruleset
from logsleuth.read import formats
from logsleuth.read.formats import ParseContext

ROOT = Path(__file__).resolve().parent.parent

# The compile cache (ruleset/cache.py) of this test run lives in a directory of its own, so the
# tests neither read a developer's ~/.cache nor leave files there; CLI children inherit it.
os.environ.setdefault("LOGSLEUTH_CACHE_DIR", tempfile.mkdtemp(prefix="logsleuth-test-cache-"))

# The scanner backends installed here: hyperscan comes with the `fast` extra. Tests that compare
# backends run over BACKENDS; each such module has a `needs_hyperscan` test, so a run without the
# extra says in its summary what it did not compare.
HAVE_HYPERSCAN = importlib.util.find_spec("hyperscan") is not None
BACKENDS = ("stdlib", "python", *(("hyperscan",) if HAVE_HYPERSCAN else ()))
needs_hyperscan = pytest.mark.skipif(not HAVE_HYPERSCAN, reason="the `fast` extra (hyperscan) is not installed")
# The native journal reader comes with the `journal` extra; without it logsleuth reads journal
# files through `journalctl -o export`, so only tests of the native reader need this mark.
HAVE_PYTHON_SYSTEMD = importlib.util.find_spec("systemd") is not None
needs_python_systemd = pytest.mark.skipif(not HAVE_PYTHON_SYSTEMD,
                                          reason="the `journal` extra (python-systemd) is not installed")


def make_rules(tmp_path: Path, *texts: str) -> list[ruleset.Rule]:
    """Write each rule text (YAML, `id` first) to its own file and load them (no bundled rules)."""
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    for text in texts:
        text = textwrap.dedent(text)
        rule_id = text.split("\n", 1)[0].split(":", 1)[1].strip()
        (d / f"{rule_id}.yaml").write_text(text)
    return ruleset.load([str(d)], builtin=False)


def short_iso(lines: str, path: str = "test.log") -> list:
    """Records from `journalctl -o short-iso` lines (leading indentation of the block removed)."""
    raw = [l.encode() for l in textwrap.dedent(lines).strip("\n").splitlines()]
    return list(formats.get("short-iso").parse(raw, ParseContext(path)))


@pytest.fixture
def logsleuth_cmd() -> list[str]:
    """The real command line: the installed console script's module, run by this interpreter."""
    return [sys.executable, "-m", "logsleuth"]
