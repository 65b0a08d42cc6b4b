"""Shared test helpers: build rules from YAML text and records from short-iso log lines."""
from __future__ import annotations

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
