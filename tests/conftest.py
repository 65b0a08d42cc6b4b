"""Shared test helpers: build rules from YAML text and records from short-iso log lines."""
from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
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


# fixtures/batch/build_tree.py: a tree of plain, .gz, .zst, .tar.gz and rotated files from two hosts
# (a script beside the fixtures, so a reader can build the tree by hand too).
_tree_spec = importlib.util.spec_from_file_location("build_tree", ROOT / "fixtures" / "batch" / "build_tree.py")
assert _tree_spec and _tree_spec.loader
build_tree = importlib.util.module_from_spec(_tree_spec)
_tree_spec.loader.exec_module(build_tree)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch tree, built once per test module (build_tree.build)."""
    return build_tree.build(tmp_path_factory.mktemp("batch"))


MEMORY_CEILING = 1 << 30  # RLIMIT_AS of the child: 1 GiB


def run_bounded(*args: str, timeout: float = 20.0, cwd: Path | None = None) -> tuple[int, str, float, int]:
    """(exit status, stderr, seconds, peak RSS in bytes) of `python -m logsleuth args` under the ceiling."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CEILING, MEMORY_CEILING))

    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "logsleuth", *args], stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=limit, cwd=cwd)
        while True:  # os.wait4 gives this child's own peak RSS, which subprocess's wait discards
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                pytest.fail(f"{args} still running after {timeout} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return proc.returncode, text, time.monotonic() - start, usage.ru_maxrss * 1024


# One rule whose regex the cache tests edit (ruleset/cache.py, ruleset/compiled.py).
CACHE_PROBE_RULE = """\
id: cache-probe
title: A rule for the cache tests
severity: major
category: runner-connectivity
match: message ~ /{regex}/
diagnosis: d
fix: f
why: w
"""


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A compile cache of the test's own (conftest sets a shared one for every test otherwise)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("LOGSLEUTH_CACHE_DIR", str(d))
    monkeypatch.delenv("LOGSLEUTH_NO_CACHE", raising=False)
    return d
