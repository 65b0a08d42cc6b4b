"""`logsleuth config check` and `scan` of a config.toml, run as the real command: lines, exit codes, no secrets."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
import subprocess

import pytest
from conftest import ROOT

FIXTURES = ROOT / "fixtures" / "config"
FORMATS = ("text", "markdown", "codequality", "json", "ndjson", "junit", "sarif")
# The line of the key each check must point at in fixtures/config/bad.toml (a finding per setting).
BAD_LINES = {
    ("config-limits-exceed-concurrent", 2), ("config-check-interval-extreme", 3), ("config-log-level-invalid", 4),
    ("config-log-format-invalid", 5), ("config-url-no-scheme", 9), ("config-token-placeholder", 10),
    ("config-limit-above-concurrent", 12), ("config-request-concurrency-extreme", 13),
    ("config-tls-cert-expiring", 14), ("config-tls-skip-verify-not-a-setting", 15),
    ("config-tls-verify-disabled", 18), ("config-docker-privileged", 19), ("config-unknown-key", 20),
    ("config-docker-memory-invalid", 21), ("config-value-wrong-type", 22), ("config-docker-cpus-invalid", 23),
    ("config-tls-verify-disabled", 29), ("config-url-api-path", 33), ("config-executor-unknown", 35),
    ("config-tls-file-unusable", 36), ("config-token-missing", 38), ("config-url-host-typo", 40),
}
SECRETS = ("S3cr3tPassw0rd", "glrt-RealSecretToken12345", "glrt-AnotherSecretToken678", "AKIAQX7EXAMPLE2R4WZT",
           "k9Vb2Qe7rT1yU5iO3pA8sD6fG4hJ0lZxCvBnM2qW", "Pr0xyPassw0rd")
LEAKY = """concurrent = 1
[[runners]]
  name = "leaky"
  url = "https://deploy:S3cr3tPassw0rd@gitlab.con/"
  token = "glrt-RealSecretToken12345"
  tokn = "glrt-AnotherSecretToken678"
  executor = "docker"
  tls-skip-verify = true
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      AccessKey = "AKIAQX7EXAMPLE2R4WZT"
      SecretKey = "k9Vb2Qe7rT1yU5iO3pA8sD6fG4hJ0lZxCvBnM2qW"
      Insecure = true
  [runners.docker.helper_image_opts]
    HTTPS_PROXY = "http://proxyuser:Pr0xyPassw0rd@proxy.example.com:3128"
"""


def run(cmd, *args, cwd=ROOT, env=None):
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_code_quality_points_at_each_offending_key(logsleuth_cmd):
    out = run(logsleuth_cmd, "config", "check", "fixtures/config/bad.toml", "--format", "codequality")
    assert out.returncode == 1, out.stderr
    entries = json.loads(out.stdout)
    assert {e["location"]["path"] for e in entries} == {"fixtures/config/bad.toml"}
    assert {(e["check_name"], e["location"]["lines"]["begin"]) for e in entries} == BAD_LINES
    assert len({e["fingerprint"] for e in entries}) == len(entries)


def test_a_syntax_error_is_shown_with_line_column_and_caret(logsleuth_cmd):
    out = run(logsleuth_cmd, "config", "check", FIXTURES / "syntax-error.toml")
    assert out.returncode == 1
    assert f"{FIXTURES / 'syntax-error.toml'}:5:37: TOML syntax error: Illegal character" in out.stderr
    source, caret = out.stderr.splitlines()[1:3]
    assert source.strip() == 'url = "https://gitlab.example.com/' and caret.index("^") == 38
    assert "config-toml-syntax-error" in out.stdout and "Traceback" not in out.stderr


def test_a_good_config_is_clear(logsleuth_cmd):
    out = run(logsleuth_cmd, "config", "check", FIXTURES / "good.toml")
    assert out.returncode == 0 and "no findings" in out.stdout, out.stdout + out.stderr


def test_the_seeds_proxy_example_is_flagged_with_its_section(logsleuth_cmd):
    out = run(logsleuth_cmd, "config", "check", FIXTURES / "seed-proxy.toml", "--format", "json")
    findings = json.loads(out.stdout)["findings"]
    proxy = [f for f in findings if f["rule_id"] == "config-proxy-variable-misplaced"]
    assert {f["variables"]["variable"] for f in proxy} == {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
    assert all("under [runners.docker.helper_image_opts] is not a setting" in f["message"] for f in proxy)
    assert any(f["rule_id"] == "config-unknown-key" and "helper_image_opts" in f["message"] for f in findings)


def test_no_secret_from_the_file_in_any_format(logsleuth_cmd, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(LEAKY + '  [runners.docker]\n    memory = "glrt-RealSecretToken12345\n')  # and a syntax error
    clean = tmp_path / "clean" / "config.toml"
    clean.parent.mkdir()
    clean.write_text(LEAKY)
    outputs = []
    for n, path in enumerate((config, clean)):
        for command in (["config", "check"], ["scan", "--no-redact"]):
            reports = [f"{fmt}={tmp_path / f'{n}-{command[0]}.{fmt}'}" for fmt in FORMATS]
            out = run(logsleuth_cmd, *command, path, "-v", *(a for r in reports for a in ("--report", r)))
            assert out.returncode == 1, out.stderr
            outputs += [out.stdout, out.stderr] + [(tmp_path / f"{n}-{command[0]}.{fmt}").read_text() for fmt in FORMATS]
    leaked = [s for s in SECRETS if any(s in text for text in outputs)]
    assert leaked == []
    assert sum("config-url-host-typo" in text for text in outputs) >= 2 * len(FORMATS)  # the checks did run


def test_scan_of_a_config_toml_runs_the_checks(logsleuth_cmd, tmp_path):
    config = tmp_path / "etc" / "config.toml"
    config.parent.mkdir()
    config.write_text('[[runners]]\n  url = "https://gitlab.example.com/\n')  # the unterminated string
    out = run(logsleuth_cmd, "scan", config, "-v", "--format", "json")
    assert out.returncode == 1, out.stderr
    assert "format config-toml" in out.stderr
    (finding,) = json.loads(out.stdout)["findings"]
    assert finding["rule_id"] == "config-toml-syntax-error" and finding["evidence"][0]["line"] == 2
    by_content = run(logsleuth_cmd, "scan", FIXTURES / "bad.toml", "--format", "json")
    assert {f["rule_id"] for f in json.loads(by_content.stdout)["findings"]} == {r for r, _ in BAD_LINES}


def test_default_paths_missing_input_and_no_files(logsleuth_cmd, tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = run(logsleuth_cmd, "config", "check", env=env)
    if not Path("/etc/gitlab-runner/config.toml").exists():
        assert out.returncode == 2 and "no config.toml at /etc/gitlab-runner/config.toml" in out.stderr
        (tmp_path / ".gitlab-runner").mkdir()
        shutil.copy(FIXTURES / "good.toml", tmp_path / ".gitlab-runner" / "config.toml")
        home = run(logsleuth_cmd, "config", "check", "--no-files", env=env)
        assert home.returncode == 0, home.stdout + home.stderr
    missing = run(logsleuth_cmd, "config", "check", tmp_path / "nope.toml")
    assert missing.returncode == 2 and "nope.toml: no such file or directory" in missing.stderr
    with_files = run(logsleuth_cmd, "config", "check", FIXTURES / "bad.toml", "--only", "config-tls-file-unusable")
    no_files = run(logsleuth_cmd, "config", "check", FIXTURES / "bad.toml", "--only", "config-tls-file-unusable",
                   "--no-files")
    assert with_files.returncode == 1 and no_files.returncode == 0, no_files.stdout


def test_config_rules_pass_rules_test_and_strict_lint(logsleuth_cmd):
    tested = run(logsleuth_cmd, "rules", "test", "--no-builtin", "rules/runner-config")
    assert tested.returncode == 0 and " 0 failed" in tested.stdout, tested.stdout + tested.stderr
    linted = run(logsleuth_cmd, "rules", "lint", "--strict", "--no-builtin", "rules/runner-config")
    assert linted.returncode == 0 and "0 warning(s)" in linted.stdout, linted.stdout


USER_RULE = """id: shell-runner-in-ci
input: {input}
title: A shell runner
severity: minor
category: config-toml
match: '`kind` == "setting" and `key` == "executor" and `value` == "shell"'
message: "runner {{runner_name}} runs jobs in a shell on the host"
diagnosis: Jobs run as the gitlab-runner user on the host.
fix: "1. Use the docker executor."
why: A shell runner shares the host with every job.
examples:
  match:
    - |
      [[runners]]
        name = "host"
        executor = "shell"
  no-match:
    - |
      [[runners]]
        executor = "docker"
"""


def test_a_users_config_rule_is_tested_and_run_and_a_bad_input_is_located(logsleuth_cmd, tmp_path):
    (tmp_path / "shell-runner-in-ci.yaml").write_text(USER_RULE.format(input="config"))
    assert run(logsleuth_cmd, "rules", "test", "--no-builtin", tmp_path).returncode == 0
    out = run(logsleuth_cmd, "config", "check", "--rules", tmp_path, "--only", "shell-runner-in-ci",
              FIXTURES / "good.toml", "--fail-on", "minor", "--format", "json")
    assert out.returncode == 1
    assert [f["message"] for f in json.loads(out.stdout)["findings"]] == ["runner shell-1 runs jobs in a shell on the host"]
    (tmp_path / "shell-runner-in-ci.yaml").write_text(USER_RULE.format(input="configs"))
    bad = run(logsleuth_cmd, "rules", "test", "--no-builtin", tmp_path)
    assert bad.returncode == 2 and "shell-runner-in-ci.yaml:2:8: input 'configs' must be one of logs, config" in bad.stderr


def test_code_quality_path_is_relative_to_the_ci_project(logsleuth_cmd, tmp_path):
    import os

    env = {**os.environ, "CI_PROJECT_DIR": str(ROOT)}
    out = run(logsleuth_cmd, "config", "check", FIXTURES / "seed-proxy.toml", "--format", "codequality", cwd=tmp_path,
              env=env)
    entries = json.loads(out.stdout)
    assert {e["location"]["path"] for e in entries} == {"fixtures/config/seed-proxy.toml"}
    assert sorted(e["location"]["lines"]["begin"] for e in entries) == [11, 12, 13, 14]
