"""An absolute cap on decompressed output, besides the ratio one (issue 14): `--max-decompressed`.

A bomb made of many GB of input inflates at a ratio a real log reaches and still must end; the
cap ends the input there with a warning and exit 3, keeping the findings read before it.
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A real runner line (rules/network/dns-no-such-host.yaml examples, from a public issue).
DNS = (b"Mar 10 12:00:00 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed                "
       b"runner=9f3c2a1b status=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: "
       b"Post https://gitlab.example.com/api/v4/jobs/request: dial tcp: lookup gitlab.example.com on "
       b"10.0.0.2:53: no such host\n")
MIB = 1 << 20


def _scan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    shutil.copy(ROOT / "rules" / "network" / "dns-no-such-host.yaml", rules)
    return subprocess.run([sys.executable, "-m", "logsleuth", "scan", "--no-builtin", "--rules", str(rules),
                           "--format", "json", "--fail-on", "none", *args], capture_output=True, timeout=60)


def _bomb(path: Path, size: int) -> None:
    """The finding's line, then `size` bytes of newlines (what a bomb of empty lines inflates to)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(DNS)
        for _ in range(size // MIB):
            f.write(b"\n" * MIB)


def test_max_decompressed_ends_the_input_and_keeps_earlier_findings(tmp_path):
    bomb = tmp_path / "nl.log.gz"
    _bomb(bomb, 48 * MIB)  # under the 1 GiB floor of the ratio budget: only the absolute cap can stop it
    run = _scan(tmp_path, "--max-decompressed", "8M", str(bomb))
    err = run.stderr.decode()
    assert run.returncode == 3, err
    assert "gzip data inflates past 8 MiB (--max-decompressed): read stopped after" in err
    assert "Traceback" not in err
    assert [f["rule_id"] for f in json.loads(run.stdout)["findings"]] == ["dns-no-such-host"]


def test_the_default_cap_reads_the_same_input_whole(tmp_path):
    bomb = tmp_path / "nl.log.gz"
    _bomb(bomb, 48 * MIB)
    run = _scan(tmp_path, str(bomb))
    assert run.returncode == 0, run.stderr.decode()
    assert b"inflates" not in run.stderr


def test_max_decompressed_refuses_a_size_it_cannot_read(tmp_path):
    run = _scan(tmp_path, "--max-decompressed", "lots", str(tmp_path))
    assert run.returncode == 2
    assert b"'lots' is not a size such as 512M or 2G" in run.stderr
