"""The bundled rule library, proved on real-shaped logs through the real CLI.

* every fixture under fixtures/cases/ yields exactly the categories listed in expected.yaml, and is
  read in the wrapping its name claims (journalctl short/short-iso/json, runner formats, syslog,
  compose, dmesg, job traces);
* the healthy corpus under fixtures/healthy/ yields nothing of severity minor or worse;
* every required category has rules, and every rule file is complete (examples, diagnosis, fix, why).

The per-rule example tests (`pytest -k RULE_ID`) live in test_rule_cases.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "fixtures" / "cases"
HEALTHY = ROOT / "fixtures" / "healthy"
RULES = ROOT / "rules"
CLI = [sys.executable, "-m", "logsleuth"]

EXPECTED: dict[str, list[str]] = yaml.safe_load((CASES / "expected.yaml").read_text())
HEALTHY_FILES = sorted(p.name for p in HEALTHY.iterdir() if p.is_file())
RULE_FILES = sorted(RULES.rglob("*.yaml"))

REQUIRED_CATEGORIES = (
    "tls-x509", "auth-token", "dns", "connection-refused", "network-timeout", "proxy",
    "api-server-error", "disk-full", "oom-kill", "resource-exhaustion", "config-toml",
    "docker-daemon", "job-timeout", "job-cancelled",
)
SEVERITIES = ("info", "minor", "major", "critical", "blocker")

# Fixture name suffix -> the input format logsleuth must detect for it. Files whose name carries no
# wrapping (systemctl status output) are not checked here.
WRAPPINGS = (
    (".short-iso.log", "short-iso"), (".short.log", "short"), (".json", "json"),
    (".runner.log", "runner"), (".text.log", "runner-text"), (".runner-json.log", "runner-json"),
    (".syslog", "rfc3164"), (".kern.log", "rfc3164"), (".rfc3339.log", "rfc3339"),
    (".compose.log", "compose"), (".trace.log", "job-trace"), (".dmesg.log", "dmesg"),
    (".dmesg-T.log", "dmesg"),
)


def scan(path: Path) -> tuple[list[dict], str]:
    """Findings of `logsleuth scan PATH --format json --fail-on none -v`, and the detected format."""
    proc = subprocess.run([*CLI, "scan", str(path), "--format", "json", "--fail-on", "none", "-v"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    detected = ""
    for line in proc.stderr.splitlines():
        if ": format " in line:
            detected = line.split(": format ", 1)[1].split(" ", 1)[0]
    return json.loads(proc.stdout)["findings"], detected


def wrapping_of(name: str) -> str | None:
    for suffix, fmt in WRAPPINGS:
        if name.endswith(suffix):
            return fmt
    return None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_yields_expected_categories(name):
    findings, detected = scan(CASES / name)
    got = sorted({f["category"] for f in findings})
    assert got == sorted(EXPECTED[name]), [(f["rule_id"], f["message"]) for f in findings]
    want_format = wrapping_of(name)
    if want_format is not None:
        assert detected == want_format


def test_every_fixture_is_listed_and_every_category_has_fixtures():
    on_disk = sorted(str(p.relative_to(CASES)) for p in CASES.rglob("*") if p.is_file() and p.name != "expected.yaml")
    assert on_disk == sorted(EXPECTED)
    covered = {c for cats in EXPECTED.values() for c in cats}
    assert set(REQUIRED_CATEGORIES) <= covered
    for category in REQUIRED_CATEGORIES:
        assert any(n.startswith(category + "/") for n in EXPECTED), f"no fixture folder for {category}"


def test_fixtures_cover_every_wrapping():
    wrappings = {wrapping_of(n) for n in EXPECTED} - {None}
    assert wrappings == {fmt for _, fmt in WRAPPINGS}
    texts = {n: (CASES / n).read_text(encoding="utf-8") for n in EXPECTED}
    assert any("#033[" in t for t in texts.values()), "rsyslog #033 escapes"
    assert any("\x1b[" in t for t in texts.values()), "raw ANSI colours"
    assert any("section_start:" in t and "Z 00O " in t for t in texts.values()), "FF_TIMESTAMPS trace"
    assert any(line.endswith(">") for t in texts.values() for line in t.splitlines()), "pager cut"
    assert any(line.endswith("…") for t in texts.values() for line in t.splitlines()), "systemctl ellipsis"


@pytest.mark.parametrize("name", HEALTHY_FILES)
def test_healthy_corpus_has_no_findings_minor_or_worse(name):
    findings, _ = scan(HEALTHY / name)
    serious = [(f["rule_id"], f["severity"], f["evidence"][0]["text"]) for f in findings
               if SEVERITIES.index(f["severity"]) >= SEVERITIES.index("minor")]
    assert serious == []


def test_every_required_category_has_a_rule():
    proc = subprocess.run([*CLI, "rules", "list", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rules = json.loads(proc.stdout)["rules"]
    assert len(rules) == len(RULE_FILES)
    by_category: dict[str, int] = {}
    for r in rules:
        by_category[r["category"]] = by_category.get(r["category"], 0) + 1
    missing = [c for c in REQUIRED_CATEGORIES if by_category.get(c, 0) < 1]
    assert missing == []


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_file_is_complete(path):
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert rule["id"] == path.stem
    assert rule["severity"] in SEVERITIES
    for key in ("title", "category", "match", "message", "diagnosis", "fix", "why"):
        assert isinstance(rule.get(key), str) and rule[key].strip(), key
    assert rule["references"] and all(ref.startswith("https://") for ref in rule["references"])
    assert isinstance(rule["retryable"], bool)
    assert len(rule["examples"]["match"]) >= 2
    assert len(rule["examples"]["no-match"]) >= 1
    assert "1." in rule["fix"], "fix is a list of concrete numbered steps"
