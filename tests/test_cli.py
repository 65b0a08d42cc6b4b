"""The real command line, run as a subprocess: scan, exit codes, outputs, rules commands, explain."""
from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
DNS = ("2024-03-10T12:07:30+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   runner=abcd1234 "
       "status=Post \"https://gitlab.example.com/api/v4/jobs/request\": dial tcp: lookup gitlab.example.com on "
       "127.0.0.53:53: no such host\n")
HEALTHY = "2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Checking for jobs... received   job=1 runner=abcd1234\n"


def run(cmd, *args, stdin=None, env=None, cwd=None):
    return subprocess.run([*cmd, *map(str, args)], input=stdin, capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def test_scan_reports_findings_and_fails(logsleuth_cmd):
    out = run(logsleuth_cmd, "scan", SAMPLE, "--format", "json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    f = {x["rule_id"]: x for x in report["findings"]}["dns-no-such-host"]
    assert set(f) >= {"rule_id", "category", "severity", "title", "message", "count", "first_seen", "last_seen",
                      "fingerprint", "variables", "evidence"}
    assert f["count"] == 2 and f["first_seen"] == "2024-03-10T12:07:30Z" and f["category"] == "dns"
    assert f["evidence"][0] == {**f["evidence"][0], "path": str(SAMPLE), "line": 22}
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("fail_on, status", [("major", 1), ("critical", 1), ("blocker", 0), ("none", 0)])
def test_fail_on(logsleuth_cmd, fail_on, status):
    assert run(logsleuth_cmd, "scan", SAMPLE, "--fail-on", fail_on, "-q").returncode == status


def test_clean_input_exits_zero(logsleuth_cmd):
    out = run(logsleuth_cmd, "scan", "-", "--format", "json", stdin=HEALTHY)
    assert out.returncode == 0 and json.loads(out.stdout)["findings"] == []


def test_no_command_with_piped_input_means_scan_stdin(logsleuth_cmd):
    out = run(logsleuth_cmd, stdin=DNS)
    assert out.returncode == 1 and "dns-no-such-host" in out.stdout and "<stdin>:1:" in out.stdout


def test_several_reports_from_one_run(logsleuth_cmd, tmp_path):
    cq, md, junit = tmp_path / "cq.json", tmp_path / "r.md", tmp_path / "j.xml"
    out = run(logsleuth_cmd, "scan", SAMPLE, "-q", "--report", f"codequality={cq}", "--report", f"markdown={md}",
              "--report", f"junit={junit}")
    assert out.returncode == 1
    assert {i["check_name"] for i in json.loads(cq.read_text())} >= {"dns-no-such-host", "tls-unknown-authority"}
    assert md.read_text().startswith(":x: **logsleuth:")
    import xml.etree.ElementTree as ET

    assert ET.parse(junit).getroot().find(".//failure") is not None
    assert run(logsleuth_cmd, "scan", SAMPLE, "--report", "nope=x").returncode == 2


def test_missing_input_is_an_error_but_other_inputs_are_scanned(logsleuth_cmd, tmp_path):
    log = tmp_path / "a.log"
    log.write_text(DNS)
    out = run(logsleuth_cmd, "scan", tmp_path / "missing.log", log, "--format", "json")
    assert out.returncode == 2
    assert "missing.log" in out.stderr and "Traceback" not in out.stderr
    assert [f["rule_id"] for f in json.loads(out.stdout)["findings"]] == ["dns-no-such-host"]


def test_truncated_archive_keeps_findings_before_the_fault(logsleuth_cmd, tmp_path):
    data = gzip.compress((DNS + HEALTHY * 20000).encode())
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    out = run(logsleuth_cmd, "scan", tmp_path / "cut.log.gz", "--format", "json")
    assert out.returncode == 1 and "cut.log.gz" in out.stderr
    assert [f["rule_id"] for f in json.loads(out.stdout)["findings"]] == ["dns-no-such-host"]
    healthy = gzip.compress((HEALTHY * 20000).encode())
    (tmp_path / "cut2.log.gz").write_bytes(healthy[: len(healthy) // 2])
    assert run(logsleuth_cmd, "scan", tmp_path / "cut2.log.gz").returncode == 3


def test_rule_errors_exit_2_with_locations(logsleuth_cmd, tmp_path):
    (tmp_path / "bad-one.yaml").write_text("id: bad-one\ntitle: t\nseverity: major\ncategory: dns\nmatch: mesage ~ /x/\n")
    (tmp_path / "bad-two.yaml").write_text("id: bad-two\ntitle: t\nseverity: urgent\ncategory: dns\nmatch: message ~ /abc/\n")
    out = run(logsleuth_cmd, "scan", "-", "--rules", tmp_path, stdin=HEALTHY)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path}/bad-one.yaml:5:8: match: unknown field 'mesage'" in out.stderr
    assert f"{tmp_path}/bad-two.yaml:3:11: severity 'urgent'" in out.stderr


SECRETS = [
    "glrt-t1_AbCdEfGhIjKlMnOpQrSt", "glpat-AbCdEfGhIjKlMnOpQrSt", "GR1348941AbCdEfGhIjKlMnOpQrSt",
    "s3cr3tPassw0rd", "LegacyRegToken123456", "privtokenvalue9876543",
]
LEAKY = "\n".join([
    "2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Verifying runner... is removed   runner=glrt-t1_AbCdEfGhIjKlMnOpQrSt status=403 Forbidden",
    "2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: fatal: unable to access 'https://deploy:s3cr3tPassw0rd@gitlab.example.com/g/p.git/': SSL certificate problem: unable to get local issuer certificate",
    "2024-03-10T12:00:02+0000 ci1 bash[99]: curl -H 'PRIVATE-TOKEN: glpat-AbCdEfGhIjKlMnOpQrSt' https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway; curl: (60) SSL certificate problem: self signed certificate in certificate chain",
    "2024-03-10T12:00:03+0000 ci1 gitlab-runner[812]: ERROR: Registering runner... forbidden (check registration token)   token=LegacyRegToken123456",
    "2024-03-10T12:00:04+0000 ci1 gitlab-runner[812]: ERROR: Registering runner... forbidden (check registration token)   token=GR1348941AbCdEfGhIjKlMnOpQrSt",
    "2024-03-10T12:00:05+0000 ci1 bash[99]: Authorization: Bearer privtokenvalue9876543 -> x509: certificate has expired or is not yet valid",
]) + "\n"


@pytest.mark.parametrize("fmt", ["text", "markdown", "codequality", "json", "ndjson", "junit", "sarif"])
def test_no_format_leaks_a_secret(logsleuth_cmd, fmt):
    out = run(logsleuth_cmd, "scan", "-", "--format", fmt, "-v", "--fail-on", "none", stdin=LEAKY)
    assert out.returncode == 0, out.stderr
    leaked = [s for s in SECRETS if s in out.stdout]
    assert leaked == []
    if fmt not in ("codequality", "sarif"):  # these carry descriptions and locations, no evidence text
        assert "REDACTED" in out.stdout
        kept = run(logsleuth_cmd, "scan", "-", "--format", fmt, "-v", "--fail-on", "none", "--no-redact", stdin=LEAKY)
        assert any(s in kept.stdout for s in SECRETS)


def test_rules_list_json_and_catalogue_in_sync(logsleuth_cmd):
    listed = json.loads(run(logsleuth_cmd, "rules", "list", "--format", "json").stdout)["rules"]
    # Log rules match on regexes; config rules (input: config) may test settings by their fields only.
    assert len(listed) >= 50 and all((r["regexes"] or r["input"] == "config") and r["category"] for r in listed)
    assert sum(r["input"] == "config" for r in listed) >= 20
    markdown = run(logsleuth_cmd, "rules", "list", "--format", "markdown").stdout
    assert (ROOT / "docs" / "rules.md").read_text() == markdown, \
        "docs/rules.md is stale: run `logsleuth rules list --format markdown > docs/rules.md`"


def test_rules_show_and_unknown_rule(logsleuth_cmd):
    out = run(logsleuth_cmd, "rules", "show", "dns-no-such-host")
    assert out.returncode == 0 and "literals:" in out.stdout and "diagnosis:" in out.stdout
    bad = run(logsleuth_cmd, "rules", "show", "dns-no-such-hots")
    assert bad.returncode == 2 and "did you mean dns-no-such-host" in bad.stderr


def test_rules_test_and_lint_on_a_user_pack(logsleuth_cmd, tmp_path):
    (tmp_path / "slow-disk.yaml").write_text(
        "id: slow-disk\ntitle: Slow disk\nseverity: minor\ncategory: disk\nmatch: 'level == \"error\"'\n"
        "examples:\n  match:\n    - '2024-03-10T12:00:00+0000 ci1 gitlab-runner[1]: ERROR: disk is slow'\n    - 'this line does not fire'\n")
    tested = run(logsleuth_cmd, "rules", "test", tmp_path)
    assert tested.returncode == 1
    assert f"FAIL slow-disk: match example at {tmp_path}/slow-disk.yaml:9:7: did not fire" in tested.stdout
    assert "examples: 1 passed, 1 failed" in tested.stdout
    linted = run(logsleuth_cmd, "rules", "lint", tmp_path, "--strict")
    assert linted.returncode == 1
    assert "runs on every event" in linted.stdout and "no `no-match` example" in linted.stdout
    assert run(logsleuth_cmd, "rules", "test").returncode == 0  # the bundled rules pass


def test_explain_shows_literals_and_subexpressions(logsleuth_cmd):
    line = "dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host"
    out = run(logsleuth_cmd, "explain", "dns-no-such-host", line)
    assert out.returncode == 0
    assert "prefilter: candidate" in out.stdout and "TRUE " in out.stdout and "fires:" in out.stdout
    miss = run(logsleuth_cmd, "explain", "dns-no-such-host", "all good here")
    assert miss.returncode == 1 and "prefilter: skipped" in miss.stdout and "does not fire" in miss.stdout


def test_wheel_ships_rules_and_templates(tmp_path):
    subprocess.run([__import__("sys").executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    import zipfile

    (wheel,) = Path(tmp_path).glob("logsleuth-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "logsleuth/ruleset/dsl.lark" in names and "logsleuth/templates/markdown.md.j2" in names
    assert "logsleuth/report/schemas/report.schema.json" in names
    assert sum(n.startswith("logsleuth/bundled_rules/") and n.endswith(".yaml") for n in names) >= 50


def test_a_closed_pipe_ends_quietly_with_the_real_status(logsleuth_cmd):
    cmd = " ".join(logsleuth_cmd)
    for sub, status in (("parse", 0), ("scan", 1)):
        out = subprocess.run(["bash", "-c", f"{cmd} {sub} {SAMPLE} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == str(status) and out.stderr == "", (sub, out)


def test_readme_excerpts_are_real_output(logsleuth_cmd):
    readme = (ROOT / "README.md").read_text()
    text = run(logsleuth_cmd, "scan", "fixtures/sample/runner-outage.log", "--fail-on", "none", cwd=ROOT).stdout
    for line in text.splitlines()[:9]:
        assert line in readme, f"README's text excerpt is stale: {line!r}"
    markdown = run(logsleuth_cmd, "scan", "fixtures/sample/runner-outage.log", "--fail-on", "none",
                   "--format", "markdown", cwd=ROOT).stdout
    for line in markdown.splitlines()[:5]:
        assert line in readme, f"README's Markdown excerpt is stale: {line!r}"


def test_rule_selection_env_only_and_skip(logsleuth_cmd, tmp_path):
    (tmp_path / "my-marker.yaml").write_text(
        "id: my-marker\ntitle: Marker seen\nseverity: critical\ncategory: custom\ntags: [mine]\n"
        "match: message ~ /MARKER-42/\n")
    log = tmp_path / "x.log"
    log.write_text("2024-03-10T12:00:00+0000 ci1 app[1]: MARKER-42 here\n" + DNS)
    env = {**__import__("os").environ, "LOGSLEUTH_RULES": str(tmp_path)}

    def ids(*args):
        out = run(logsleuth_cmd, "scan", log, "--format", "json", "--fail-on", "none", *args, env=env)
        assert out.returncode == 0, out.stderr
        return sorted(f["rule_id"] for f in json.loads(out.stdout)["findings"])

    assert ids() == ["dns-no-such-host", "my-marker"]
    assert ids("--only", "mine") == ["my-marker"]
    assert ids("--only", "dns,custom", "--skip", "my-marker") == ["dns-no-such-host"]
    assert ids("--no-builtin") == ["my-marker"]
    assert run(logsleuth_cmd, "scan", log, "--only", "nothing-like-this", env=env).returncode == 2


def test_verbose_says_which_format_and_why(logsleuth_cmd):
    out = run(logsleuth_cmd, "scan", SAMPLE, "-v", "-q", "--fail-on", "none")
    assert f"logsleuth: {SAMPLE}: format short-iso (" in out.stderr
    forced = run(logsleuth_cmd, "parse", SAMPLE, "-v", "--input-format", "plain")
    assert "format plain (forced with --input-format)" in forced.stderr
    assert json.loads(forced.stdout.splitlines()[0])["format"] == "plain"
    bad = run(logsleuth_cmd, "parse", SAMPLE, "--input-format", "nope")
    assert bad.returncode == 2 and "unknown format 'nope'" in bad.stderr


def test_custom_template_and_its_errors(logsleuth_cmd, tmp_path):
    good = tmp_path / "brief.txt.j2"
    good.write_text("{% for f in findings %}{{ f.rule_id }} x{{ f.count }}\n{% endfor %}")
    out = run(logsleuth_cmd, "scan", SAMPLE, "--template", good, "--fail-on", "none")
    assert out.returncode == 0 and "dns-no-such-host x2" in out.stdout.splitlines()
    bad = tmp_path / "bad.txt.j2"
    bad.write_text("line one\n{% for f in findings %}{{ f.nope }}{% endfor %}\n")
    err = run(logsleuth_cmd, "scan", SAMPLE, "--template", bad, "--fail-on", "none")
    assert err.returncode == 2 and "bad.txt.j2:2" in err.stderr and "Traceback" not in err.stderr


def test_output_file_and_year_zone_options(logsleuth_cmd, tmp_path):
    log = tmp_path / "short.log"
    log.write_text("Dec 31 23:59:59 ci1 gitlab-runner[812]: ERROR: Checking for jobs... forbidden   runner=abcd1234\n"
                   "Jan 01 00:00:01 ci1 gitlab-runner[812]: ERROR: Checking for jobs... forbidden   runner=abcd1234\n")
    out_path = tmp_path / "report.json"
    out = run(logsleuth_cmd, "scan", log, "--format", "json", "-o", out_path, "--year", "2023", "--tz", "Europe/Berlin")
    assert out.returncode == 1 and out.stdout == ""
    (f,) = json.loads(out_path.read_text())["findings"]
    # Berlin is UTC+1 in winter; the second line rolled over into 2024.
    assert (f["first_seen"], f["last_seen"]) == ("2023-12-31T22:59:59Z", "2023-12-31T23:00:01Z")
    assert run(logsleuth_cmd, "scan", log, "--tz", "Mars/Olympus").returncode == 2


def _read_until(stream, marker: str, seconds: float) -> str:
    """What a live process has written to `stream` until `marker` appears (fails after `seconds`).

    Reads the pipe's file descriptor directly: a buffered readline would pull in more than one
    line and leave select() waiting for bytes that were already read.
    """
    import os
    import selectors
    import time

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + seconds
    while marker.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {seconds}s; got {seen!r}"
        if sel.select(left):
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"stream ended before {marker!r}; got {seen!r}"
            seen += chunk
    return seen.decode()


@pytest.mark.parametrize("ending", ["eof", "interrupt"])
def test_live_mode_alerts_while_the_input_is_still_open(logsleuth_cmd, ending):
    import signal

    proc = subprocess.Popen([*logsleuth_cmd, "scan", "-", "--live", "--fail-on", "major"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(HEALTHY + DNS)
        proc.stdin.flush()
        alert = _read_until(proc.stdout, "fix:", 20)  # printed while stdin stays open
        assert "[CRITICAL] DNS lookup failed" in alert and "<stdin>:2:" in alert
        if ending == "interrupt":
            proc.send_signal(signal.SIGINT)  # Ctrl-C ends the input, not the report
            proc.wait(timeout=20)  # it ends while its stdin is still open
        rest, err = proc.communicate(timeout=20)  # (otherwise closing stdin is the end of input)
    finally:
        proc.kill()
    assert "logsleuth: 1 incident, worst CRITICAL" in rest and "Traceback" not in err
    assert proc.returncode == 1


def test_live_mode_ndjson_streams_findings(logsleuth_cmd):
    proc = subprocess.Popen([*logsleuth_cmd, "scan", "-", "--live", "--format", "ndjson"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(DNS)
        proc.stdin.flush()
        first = json.loads(_read_until(proc.stdout, "\n", 20).splitlines()[0])
        assert first["rule_id"] == "dns-no-such-host" and first["count"] == 1
        rest, _ = proc.communicate(DNS, timeout=20)
    finally:
        proc.kill()
    final = [json.loads(line) for line in rest.splitlines()]
    assert [(f["rule_id"], f["count"]) for f in final] == [("dns-no-such-host", 2)]  # the final report follows
    assert run(logsleuth_cmd, "scan", "-", "--live", "--format", "json", stdin=DNS).returncode == 2


def test_since_and_until_keep_events_of_a_time_window(logsleuth_cmd):
    def ids(*args):
        out = run(logsleuth_cmd, "scan", SAMPLE, "--format", "json", "--fail-on", "none", *args)
        assert out.returncode == 0, out.stderr
        return {f["rule_id"] for f in json.loads(out.stdout)["findings"]}

    everything = ids()
    late = ids("--since", "2024-03-10T12:10:00Z")
    early = ids("--until", "2024-03-10T12:05")  # no zone: --tz, else local (UTC here)
    assert "dns-no-such-host" in everything and "dns-no-such-host" not in late | early
    assert "gitlab-api-5xx" in late and "kernel-oom-killed-process" in early and not late & early
    assert ids("--since", "2024-03-10T13:10", "--tz", "Europe/Berlin") == late  # 13:10 CET is 12:10 UTC
    bad = run(logsleuth_cmd, "scan", SAMPLE, "--since", "soonish")  # every form: tests/test_read_timeexpr.py
    assert bad.returncode == 2 and "'soonish' is not a time; accepted forms: " in bad.stderr


def test_explain_with_an_unknown_format_is_a_usage_error(logsleuth_cmd):
    out = run(logsleuth_cmd, "explain", "dns-no-such-host", "x", "--input-format", "nope")
    assert out.returncode == 2 and "unknown format 'nope'" in out.stderr and "Traceback" not in out.stderr
    forced = run(logsleuth_cmd, "explain", "dns-no-such-host", "lookup g on 1.1.1.1:53: no such host",
                 "--input-format", "plain")
    assert forced.returncode == 0 and "format: plain (forced)" in forced.stdout


def test_a_mistyped_command_is_a_usage_error_with_a_suggestion(logsleuth_cmd, tmp_path):
    typo = run(logsleuth_cmd, "scna", SAMPLE, cwd=tmp_path)
    assert typo.returncode == 2 and typo.stdout == ""
    assert "Error: No such command 'scna'. Did you mean 'scan'?" in typo.stderr and "Traceback" not in typo.stderr
    other = run(logsleuth_cmd, "frobnicate", cwd=tmp_path)
    assert other.returncode == 2
    assert "No such command 'frobnicate', and no file or directory 'frobnicate' to scan. Commands: " in other.stderr
    # An existing path is still scanned, even one named like a typo; so is a path given first.
    (tmp_path / "scna").write_text(DNS)
    for first in ("scna", str(SAMPLE)):
        out = run(logsleuth_cmd, first, "--format", "json", cwd=tmp_path)
        assert out.returncode == 1, out.stderr
        assert "dns-no-such-host" in {f["rule_id"] for f in json.loads(out.stdout)["findings"]}
    # A path-shaped word that does not exist stays an unreadable input, as `scan` says it.
    missing = run(logsleuth_cmd, "missing.log", cwd=tmp_path)
    assert missing.returncode == 2 and "missing.log: no such file or directory" in missing.stderr


def test_only_and_skip_values_that_name_no_rule_are_usage_errors(logsleuth_cmd):
    skip = run(logsleuth_cmd, "scan", SAMPLE, "--skip", "oom-kil")
    assert skip.returncode == 2 and skip.stdout == ""
    assert "--skip oom-kil: no rule id, tag or category 'oom-kil'; did you mean oom-kill" in skip.stderr
    only = run(logsleuth_cmd, "scan", SAMPLE, "--only", "dns,auth-tokn")
    assert only.returncode == 2
    assert "--only auth-tokn: no rule id, tag or category 'auth-tokn'; did you mean auth-token" in only.stderr
    # Every command that takes --only/--skip checks them, even those that look rules up by id.
    shown = run(logsleuth_cmd, "rules", "show", "dns-no-such-host", "--skip", "dns-no-such-hots")
    assert shown.returncode == 2 and "did you mean dns-no-such-host" in shown.stderr
    listed = run(logsleuth_cmd, "rules", "list", "--only", "nothing-like-this")
    assert listed.returncode == 2 and "no rule id, tag or category 'nothing-like-this'" in listed.stderr


def test_since_not_before_until_is_a_usage_error(logsleuth_cmd):
    later = run(logsleuth_cmd, "scan", SAMPLE, "--since", "2024-03-10T12:10", "--until", "2024-03-10T12:05")
    assert later.returncode == 2 and later.stdout == ""
    assert "--since 2024-03-10T12:10 is not before --until 2024-03-10T12:05: no event can fall in that window" \
        in later.stderr
    # The same moment written in two zones is an empty window too.
    same = run(logsleuth_cmd, "scan", SAMPLE, "--since", "2024-03-10T13:00+01:00", "--until", "2024-03-10T12:00Z")
    assert same.returncode == 2 and "is not before --until" in same.stderr
