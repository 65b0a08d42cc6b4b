"""`rules lint`'s placeholder check: captures and spelled-out addresses that pasted logs' placeholders
(`x.x.x.x`, `XXX`, `<host>`, `***`, `[MASKED]`) would break, found by re-matching the rule's own
`match` examples with the value replaced."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import make_rules

from logsleuth import ruleset
from logsleuth.authoring.lint import PLACEHOLDERS, lint, placeholder_warnings

ROOT = Path(__file__).resolve().parent.parent


def rule(tmp_path, pattern: str, *lines: str, rule_id: str = "dns-strict"):
    examples = "\n".join(f"    - line: {line!r}" for line in lines)
    text = textwrap.dedent(f"""\
        id: {rule_id}
        title: t
        severity: major
        category: dns
        match: 'message ~ /{pattern}/'
        message: m
        diagnosis: d
        fix: f
        why: w
        examples:
          match:
        """) + examples + "\n  no-match:\n    - line: 'all good'\n"
    (r,) = make_rules(tmp_path, text)
    return r


def messages(r) -> list[str]:
    return [w.message for w in placeholder_warnings(r)]


def test_a_hex_and_dots_resolver_capture_rejects_placeholders(tmp_path):
    r = rule(tmp_path, r"lookup (?P<host>[^\s:]+) on (?P<resolver>[0-9A-Fa-f.:]+):\d+: no such host",
             "dial tcp: lookup gitlab.example.com on 10.0.0.2:53: no such host")
    (msg,) = messages(r)
    assert msg.startswith("capture 'resolver' rejects placeholders such as x.x.x.x, XXX, <host>")
    assert "in place of '10.0.0.2'" in msg  # the port stays: only the address is masked
    (w,) = placeholder_warnings(r)
    assert str(w).startswith(f"{r.location.path}:") and ": dns-strict: capture 'resolver'" in str(w)


def test_loose_captures_pass(tmp_path):
    r = rule(tmp_path, r"lookup (?P<host>[^\s:]+) on (?P<resolver>[^\s]+?):\d+: no such host",
             "dial tcp: lookup gitlab.example.com on 10.0.0.2:53: no such host",
             "dial tcp: lookup gitlab on x.x.x.x:53: no such host")
    assert messages(r) == []


def test_a_host_capture_of_word_characters_rejects_masks(tmp_path):
    r = rule(tmp_path, r"Post \"https:\/\/(?P<host>[\w.-]+)\/api\/v4\/jobs\/request\": EOF",
             'Post "https://gitlab.example.com/api/v4/jobs/request": EOF')
    (msg,) = messages(r)
    assert "rejects placeholders such as <host>, ***, [MASKED]" in msg


def test_a_url_capture_is_checked_on_its_host(tmp_path):
    r = rule(tmp_path, r"couldn.t execute POST against (?P<url>https?:\/\/[a-z0-9.]+\/\S*):",
             "couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: EOF")
    (msg,) = messages(r)
    assert "capture 'url'" in msg and "in place of 'gitlab.example.com'" in msg


def test_a_capture_named_like_a_token_is_checked_whatever_its_value(tmp_path):
    r = rule(tmp_path, r"forbidden +runner=(?P<runner>[0-9a-zA-Z]{8,})",
             "ERROR: Checking for jobs... forbidden   runner=xY7pQ2mK9")
    (msg,) = messages(r)
    assert msg.startswith("capture 'runner' rejects placeholders such as x.x.x.x, XXX, <host>")


def test_values_people_do_not_mask_are_not_checked(tmp_path):
    # Exit codes, ports, file names and units are never replaced by placeholders.
    r = rule(tmp_path, r"exit code (?P<code>\d+) in (?P<file>[a-z]+\.toml) on port (?P<port>\d+)",
             "Job failed: exit code 137 in config.toml on port 8080")
    assert messages(r) == []


def test_an_address_spelled_out_in_the_pattern_is_flagged(tmp_path):
    r = rule(tmp_path, r"lookup \S+ on 127\.0\.0\.53:53: no such host",
             "dial tcp: lookup gitlab on 127.0.0.53:53: no such host")
    (msg,) = messages(r)
    assert msg.startswith("the pattern spells out '127.0.0.53', rejecting placeholders such as x.x.x.x")


def test_public_hosts_in_the_pattern_are_fine(tmp_path):
    r = rule(tmp_path, r"Get \"https:\/\/registry-1\.docker\.io\/v2\/\": net\/http: request canceled",
             'Get "https://registry-1.docker.io/v2/": net/http: request canceled')
    assert messages(r) == []


def test_the_check_reads_the_decoded_text_of_json_examples(tmp_path):
    r = rule(tmp_path, r"lookup (?P<host>[a-z.]+) on (?P<resolver>\S+): no such host$",
             '{"level":"error","error":"dial tcp: lookup gitlab.example.com on 10.0.0.2:53: no such host"}')
    (msg,) = messages(r)
    assert "capture 'host'" in msg


def test_lint_reports_it_and_strict_fails(tmp_path):
    rule(tmp_path, r"lookup (?P<host>[^\s:]+) on (?P<resolver>[0-9.]+):\d+: no such host",
         "dial tcp: lookup gitlab on 10.0.0.2:53: no such host")
    rules_dir = tmp_path / "rules"
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "rules", "lint", str(rules_dir), "--strict"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "dns-strict: capture 'resolver' rejects placeholders such as x.x.x.x" in proc.stdout


def test_the_bundled_rules_accept_placeholders():
    found = [str(w) for r in ruleset.load() for w in placeholder_warnings(r)]
    assert found == [], "\n".join(found)


def test_placeholder_list_is_the_documented_one():
    assert PLACEHOLDERS == ("x.x.x.x", "XXX", "<host>", "***", "[MASKED]")
    assert lint([]) == []


# --- regex risk ---------------------------------------------------------------------------------

import re  # noqa: E402

import pytest  # noqa: E402

from logsleuth.authoring.lint import regex_risks  # noqa: E402


@pytest.mark.parametrize("pattern, why", [
    (r"(\w+\s?)*$", "nested quantifier"),  # polynomial/exponential: the 93 s on 400 characters
    (r"(a+)+b", "nested quantifier"),
    (r"(?:[ab]c|bd)*e", "alternatives that can match the same text under a repeat"),
    (r"(?:(?P<process>\S+) )?invoked oom-killer", "not linear in line length"),  # the old bundled rule
    (r"Gitlab\w*Error: ", "not linear in line length"),
    (r"(?P<registry>[\w.-]+\.dkr\.ecr\.[\w.-]+)\S*: no basic auth", "not linear in line length"),
])
def test_lint_rejects_catastrophic_and_quadratic_shapes(pattern, why):
    risks = regex_risks(re.compile(pattern, re.ASCII))
    assert any(why in r for r in risks), risks


@pytest.mark.parametrize("pattern", [
    r"(?:(?<!\S)(?P<process>\S+) )?invoked oom-killer: gfp_mask=(?P<gfp_mask>0x[0-9a-f]+)",  # the rewrite
    r"\blookup (?P<host>[^\s:]+) on (?P<resolver>\S+): no such host",
    r"(?:connect|read|write) ETIMEDOUT\b",
    r"(?:ab|cd)+",  # alternatives under a repeat that cannot start alike
])
def test_lint_accepts_linear_patterns(pattern):
    assert regex_risks(re.compile(pattern, re.ASCII)) == []


def test_rules_lint_strict_fails_on_a_catastrophic_user_rule(tmp_path):
    (tmp_path / "slow.yaml").write_text(textwrap.dedent("""\
        id: slow
        title: t
        severity: major
        category: test
        match: 'message ~ /job (\\w+\\s?)*$/'
        diagnosis: d
        fix: f
        why: w
        examples:
          match: ['job done']
          no-match: ['nothing']
        """))
    out = subprocess.run([sys.executable, "-m", "logsleuth", "rules", "lint", str(tmp_path), "--strict"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "slow.yaml:1:1: slow: nested quantifier in /job (\\w+\\s?)*$/" in out.stdout
    assert "Traceback" not in out.stderr
