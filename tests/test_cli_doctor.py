"""The default install runs the fast path where it can, and `logsleuth doctor` says which parts are in use."""
from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

HAVE_HYPERSCAN = importlib.util.find_spec("hyperscan") is not None


def _install_requires() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in cfg["options"]["install_requires"].splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def _env(system: str, machine: str) -> dict[str, str]:
    return {"platform_system": system, "platform_machine": machine, "python_version": "3.11", "sys_platform": system.lower()}


@pytest.mark.parametrize(("system", "machine", "expected"), [
    ("Linux", "x86_64", True), ("Linux", "aarch64", True), ("Darwin", "arm64", True), ("Darwin", "x86_64", True),
    ("Windows", "AMD64", False), ("Linux", "ppc64le", False),
])
def test_the_default_install_has_vectorscan_where_pypi_has_wheels(system: str, machine: str, expected: bool) -> None:
    reqs = {r.name: r for r in _install_requires()}
    for always in ("pyahocorasick", "orjson"):
        assert always in reqs and (reqs[always].marker is None or reqs[always].marker.evaluate(_env(system, machine)))
    hs = reqs["hyperscan"]
    assert hs.marker is not None and hs.marker.evaluate(_env(system, machine)) is expected


def _doctor(*pre: str) -> str:
    code = "; ".join([*pre, "import sys; sys.argv = ['logsleuth', 'doctor']; from logsleuth.cli import main; main()"])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_doctor_names_the_scanner_auto_picks() -> None:
    out = _doctor()
    scanner = next(line for line in out.splitlines() if line.startswith("scanner"))
    assert scanner.split()[1] == ("hyperscan" if HAVE_HYPERSCAN else "python")
    assert out.splitlines()[0].split()[:2] == ["logsleuth", __import__("logsleuth").__version__]


def test_without_vectorscan_the_fallback_is_chosen_and_said() -> None:
    # An import that fails, as on a platform without wheels: the selection falls back, and says why.
    out = _doctor("import sys", "sys.modules['hyperscan'] = None")
    scanner = next(line for line in out.splitlines() if line.startswith("scanner"))
    assert scanner.split()[1] == "python" and "hyperscan not importable" in scanner
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['hyperscan'] = None; "
                           "from logsleuth.match.scanner import make_scanner; print(make_scanner([b'abc']).name)"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "python"


def test_doctor_reports_the_cache_being_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSLEUTH_NO_CACHE", "1")
    assert any(line.startswith("compile cache") and " off " in line + " " for line in _doctor().splitlines())


def test_gzip_inflates_with_isal_where_installed_and_zlib_without() -> None:
    """The same bytes either way: ISA-L is a faster inflate, not another format; doctor says which."""
    import gzip

    from logsleuth.errors import Diagnostics
    from logsleuth.read.decompress import gzip_inflater, inflate

    data = b"".join(b"2024-03-10T12:00:%02d+0000 ci1 gitlab-runner[812]: Checking for jobs... received\n" % (i % 60)
                    for i in range(20_000))
    packed = gzip.compress(data[:len(data) // 2]) + gzip.compress(data[len(data) // 2:])  # two members
    diag = Diagnostics()
    assert b"".join(inflate([packed[i:i + 4096] for i in range(0, len(packed), 4096)], "gzip", "t.gz", diag)) == data
    assert not diag.input_errors
    have_isal = importlib.util.find_spec("isal") is not None
    assert (gzip_inflater().__name__ != "zlib") == have_isal
    line = next(line for line in _doctor().splitlines() if line.startswith("gzip"))
    assert line.split()[1] == ("ISA-L" if have_isal else "zlib")
    line = next(line for line in _doctor("import sys", "sys.modules['isal'] = None").splitlines() if line.startswith("gzip"))
    assert line.split()[1] == "zlib" and "isal not importable" in line
