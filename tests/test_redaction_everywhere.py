"""Every path out of the real `logsleuth` command is redacted: each report format, `--live`, `parse`,
`explain`, `rules test` and stderr, for every shape in tests/data/secret_shapes.yaml.

The merge-request note is checked against a real local server in tests/test_gitlab_*.py.
"""
from __future__ import annotations

import html
import re
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

SHAPES = yaml.safe_load((Path(__file__).parent / "data" / "secret_shapes.yaml").read_text(encoding="utf-8"))["shapes"]
FORMATS = ("text", "markdown", "json", "codequality", "junit", "sarif", "ndjson")
# One finding per distinct last word, with the lines after it as context: every line of the log
# reaches the report as evidence, as context, and its last word as a bare capture in the message.
EVERY_LINE_RULE = """\
id: every-line
title: Every line
severity: major
category: misc
match: 'message ~ /(?P<last>\\S+)$/'
message: "the line ends with {last}"
fingerprint: [last]
correlate:
  context: {lines: 8}
"""


def _lines(shape: dict) -> list[str]:
    return shape.get("lines") or [shape["line"]]


def _secrets() -> list[tuple[str, str]]:
    return [(s["name"], secret) for s in SHAPES for secret in s["secrets"]]


def _readings(text: str) -> list[str]:
    """The output as a reader may decode it: raw, JSON/Markdown backslash escapes undone, XML/HTML entities."""
    unicode = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return [text, unicode, re.sub(r"\\(.)", r"\1", unicode), html.unescape(text)]


def leaks(text: str) -> list[tuple[str, str]]:
    readings = _readings(text)
    return [(name, secret) for name, secret in _secrets() if any(secret in r for r in readings)]


@pytest.fixture
def leaky(tmp_path: Path) -> tuple[Path, Path]:
    """A log holding every shape, and a rule folder that puts every line of it in the report."""
    log = tmp_path / "secrets.log"
    log.write_text("".join(line + "\n" for s in SHAPES for line in _lines(s)), encoding="utf-8")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "every-line.yaml").write_text(EVERY_LINE_RULE)
    return log, rules


def run(cmd, *args, stdin=None, env=None):
    return subprocess.run([*cmd, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120,
                          env=env)


def test_the_shapes_file_is_well_formed():
    names = [s["name"] for s in SHAPES]
    assert len(names) == len(set(names)) and len(names) >= 34
    for shape in SHAPES:
        text = "\n".join(_lines(shape))
        plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
        for secret in shape["secrets"]:
            # Shorter secrets are masked only where their context names them, never report-wide.
            assert len(secret) >= 8, (shape["name"], secret)
            assert secret in text or secret in unquote(text) or secret in plain, (shape["name"], secret)


def _scan_every_format(cmd, log: Path, rules: Path, out: Path, *extra: str):
    reports = [a for fmt in FORMATS for a in ("--report", f"{fmt}={out / fmt}")]
    return run(cmd, "scan", log, "--rules", rules, "--no-builtin", "--input-format", "plain", "--evidence", "100",
               "--fail-on", "none", "-v", *reports, *extra)


def test_without_redaction_every_secret_reaches_the_reports(logsleuth_cmd, leaky, tmp_path):
    # The control: the log does put each secret in the reports, so the next test can fail.
    log, rules = leaky
    proc = _scan_every_format(logsleuth_cmd, log, rules, tmp_path, "--no-redact")
    assert proc.returncode == 0, proc.stderr
    shown = {secret for _, secret in leaks((tmp_path / "json").read_text())}
    literal = {secret for s in SHAPES for secret in s["secrets"] if secret in "\n".join(_lines(s))}
    assert literal - shown == set()


def test_no_secret_in_any_report_format(logsleuth_cmd, leaky, tmp_path):
    log, rules = leaky
    proc = _scan_every_format(logsleuth_cmd, log, rules, tmp_path)
    assert proc.returncode == 0, proc.stderr
    outputs = {fmt: (tmp_path / fmt).read_text() for fmt in FORMATS}
    assert all("[REDACTED]" in text for text in outputs.values())
    assert {fmt: leaks(text) for fmt, text in outputs.items()} == {fmt: [] for fmt in FORMATS}
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == []
    assert "secrets.log" in proc.stderr  # -v spoke on stderr, and was checked


@pytest.mark.parametrize("fmt", ["text", "ndjson"])
def test_no_secret_in_live_alerts(logsleuth_cmd, leaky, fmt):
    log, rules = leaky
    proc = run(logsleuth_cmd, "scan", "-", "--live", "--format", fmt, "--rules", rules, "--no-builtin",
               "--input-format", "plain", "--fail-on", "none", stdin=log.read_text())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("every-line") >= len(SHAPES)  # an alert per line, then the report
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == []


def test_parse_redacts_by_default_and_no_redact_keeps_the_log(logsleuth_cmd, leaky):
    log, _ = leaky
    masked = run(logsleuth_cmd, "parse", log, "--input-format", "plain")
    assert masked.returncode == 0, masked.stderr
    assert leaks(masked.stdout) == [] and "[REDACTED]" in masked.stdout
    raw = run(logsleuth_cmd, "parse", log, "--input-format", "plain", "--no-redact")
    assert "[REDACTED]" not in raw.stdout and len(leaks(raw.stdout)) >= len(SHAPES)


def test_explain_output_is_redacted(logsleuth_cmd, leaky):
    log, rules = leaky
    proc = run(logsleuth_cmd, "explain", "every-line", "--rules", rules, "--no-builtin", stdin=log.read_text())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("captures: last=") >= len(SHAPES)
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == []


def test_rules_test_output_is_redacted(logsleuth_cmd, tmp_path):
    # A no-match example that fires: the failure quotes the message, built from the captured secret.
    examples = [s["line"] for s in SHAPES if "line" in s]
    rule = EVERY_LINE_RULE + yaml.safe_dump({"examples": {"no-match": examples}}, width=10_000)
    (tmp_path / "every-line.yaml").write_text(rule)
    proc = run(logsleuth_cmd, "rules", "test", tmp_path, "--no-builtin")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("fired unexpectedly") == len(examples)
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == []


def test_error_messages_are_redacted(logsleuth_cmd, leaky, tmp_path):
    log, _ = leaky
    missing = f"{tmp_path}/https://deployer:UrLPassw0rdSecret@gitlab.example.com/job.log"
    proc = run(logsleuth_cmd, "scan", missing, "--fail-on", "none")
    assert proc.returncode == 2 and "deployer:[REDACTED]@gitlab.example.com" in proc.stderr
    usage = run(logsleuth_cmd, "scan", log, "--format", "token=glpat-PaTaBcDeFgHiJkLmNoPq")
    assert usage.returncode == 2 and "glpat-[REDACTED]" in usage.stderr
    assert leaks(proc.stderr + usage.stderr) == []


def test_a_pem_block_is_masked_through_context_lines(logsleuth_cmd, tmp_path):
    # A rule that fires on the line before the key, with the block in its context lines only.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ssh-key-written.yaml").write_text(textwrap.dedent("""\
        id: ssh-key-written
        title: SSH key written
        severity: major
        category: misc
        match: 'message ~ /Creating SSH key file/'
        message: "a key was written"
        correlate:
          context: {lines: 6}
    """))
    (pem,) = [s for s in SHAPES if s["name"] == "pem-private-key"]
    log = tmp_path / "job.log"
    log.write_text("\n".join(_lines(pem)) + "\n")
    raw = run(logsleuth_cmd, "scan", log, "--rules", rules, "--no-builtin", "--format", "json", "--fail-on", "none",
              "--no-redact")
    assert all(secret in raw.stdout for secret in pem["secrets"])
    proc = run(logsleuth_cmd, "scan", log, "--rules", rules, "--no-builtin", "--format", "json", "--fail-on", "none")
    assert "-----BEGIN RSA PRIVATE KEY-----" in proc.stdout  # the marker stays: it says what was there
    assert leaks(proc.stdout) == []
