"""The match-expression language: every operator, precedence, captures, literals, and precise errors."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from lark import Lark

from logsleuth.ruleset import dsl
from logsleuth.ruleset.predicates import explain
from logsleuth.errors import RuleError
from logsleuth.model import Origin, Record


def rec(message="WARNING: Checking for jobs... failed", **kw):
    fields = kw.pop("fields", {})
    return Record(message=message, origin=Origin("/var/log/x.log", 7), format=kw.pop("format", "runner"),
                  fields=fields, **kw)


RUNNER = rec(
    "WARNING: Checking for jobs... failed   runner=abcd1234 status=POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway",
    level="warning", host="ci-1", ident="gitlab-runner", unit="gitlab-runner.service", pid=812,
    ts=datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc), section="step_script",
    fields={"runner": "abcd1234", "status": "POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway",
            "_SYSTEMD_UNIT": "gitlab-runner.service", "X_TAG": ["alpha", "beta"], "duration_s": "12.5",
            "job-status": "failed"},
)


@pytest.mark.parametrize("text, expected", [
    ('message ~ /Checking for jobs/', True),
    ('message ~ /checking for jobs/', False),
    ('message ~ /checking for JOBS/i', True),
    ('message ~ /^Checking/', False),                       # search, anchored explicitly
    ('message !~ /received/', True),
    ('host == "ci-1"', True),
    ('host != "ci-1"', False),
    ('pid == 812', True),
    ('pid > 800 and pid <= 812', True),
    ('pid < 800', False),
    ('pid >= 813', False),
    ('duration_s > 10s', True),
    ('duration_s < 500ms', False),
    ('duration_s < 1m', True),
    ('level >= "warning"', True),
    ('level >= "error"', False),
    ('level == "warning"', True),
    ('unit in ["gitlab-runner.service", "docker.service"]', True),
    ('unit not in ["gitlab-runner.service"]', False),
    ('message contains "jobs..."', True),
    ('message contains "JOBS"', False),
    ('message icontains "JOBS"', True),
    ('message startswith "WARNING:"', True),
    ('message istartswith "warning:"', True),
    ('message endswith "Gateway"', True),
    ('message iendswith "GATEWAY"', True),
    ('exists(runner)', True),
    ('exists(job)', False),
    ('_SYSTEMD_UNIT == "gitlab-runner.service"', True),
    ('X_TAG == "beta"', True),                              # repeated journal field: any element
    ('`job-status` == "failed"', True),
    ('section == "step_script"', True),
    ('format == "runner"', True),
    ('path endswith "x.log" and line == 7', True),
    ('not host == "ci-1"', False),
    ('not not host == "ci-1"', True),
    ('host == "x" or host == "ci-1" and pid == 1', False),  # and binds tighter than or
    ('(host == "x" or host == "ci-1") and pid == 812', True),
    ('status ~ /: 5\\d\\d / and not message contains "received"  # a comment', True),
    ('message ~ /https:\\/\\/gitlab/', True),               # escaped slash inside a regex
    ("ident == 'gitlab-runner'", True),
    ('job == "1"', False),                                  # absent field never matches
    ('not job == "1"', True),                               # ... except under not
])
def test_operators(text, expected):
    assert dsl.compile(text)(RUNNER, {}) is expected


def test_named_groups_become_captures():
    expr = dsl.compile('status ~ /(?P<method>[A-Z]+) (?P<url>\\S+): (?P<code>\\d{3}) / and message ~ /(?P<what>failed)/')
    caps: dict[str, str] = {}
    assert expr(RUNNER, caps)
    assert caps == {"method": "POST", "url": "https://gitlab.example.com/api/v4/jobs/request", "code": "502",
                    "what": "failed"}
    assert expr.captures == ("method", "url", "code", "what")


def test_regexes_are_ascii():
    # \w does not match non-ASCII letters: the hot path uses ASCII semantics.
    assert not dsl.compile('message ~ /^\\w+$/')(rec("héllo"), {})
    assert dsl.compile('message ~ /^\\w+$/')(rec("hello"), {})


def test_multiline_block_expression():
    expr = dsl.compile('message ~ /Checking/\n  and level == "warning"\n  and not host == "x"\n')
    assert expr(RUNNER, {})


@pytest.mark.parametrize("text, literals", [
    ('message ~ /x509: certificate signed by unknown authority/', {b"x509: certificate signed by unknown authority"}),
    ('message ~ /Checking for jobs\\.\\.\\. forbidden/ and level == "error"', {b"checking for jobs... forbidden"}),
    ('message contains "no such host" or message ~ /server misbehaving/', {b"no such host", b"server misbehaving"}),
    ('host == "ci-1"', None),                               # nothing about the message: runs on every event
    ('not message ~ /abc def/', None),
    ('message ~ /a|bcdef/', None),                          # one branch has no 3-byte literal
    ('message icontains "TIMEOUT"', {b"timeout"}),
])
def test_literals_for_the_prefilter(text, literals):
    got = dsl.compile(text).literals
    assert (set(got) if got is not None else None) == literals


def test_grammar_is_unambiguous_lalr():
    from importlib import resources

    grammar = resources.files("logsleuth.ruleset").joinpath("dsl.lark").read_text()
    Lark(grammar, parser="lalr", strict=True)  # raises on any shift/reduce or regex collision


def test_explain_reports_each_subexpression():
    expr = dsl.compile('message ~ /Checking/ and (host == "x" or not pid == 1)')
    rows = explain(expr, RUNNER)
    assert rows == [
        (0, 'message ~ /Checking/ and (host == "x" or not pid == 1)', True),
        (1, "message ~ /Checking/", True),
        (1, 'host == "x" or not pid == 1', True),
        (2, 'host == "x"', False),
        (2, "not pid == 1", True),
        (3, "pid == 1", False),
    ]


@pytest.mark.parametrize("text, line, col, message", [
    ("mesage ~ /x/", 1, 1, "unknown field 'mesage'; did you mean 'message'?"),
    ("message ~ /(unclosed/", 1, 12, "invalid regex: missing ), unterminated subpattern"),
    ("message ==", 1, 11, "expression ends too early"),
    ("message < 5", 1, 11, "field 'message' holds text and cannot be ordered"),
    ('level >= "warnin"', 1, 10, "unknown level 'warnin'"),
    ("message contains 5", 1, 18, "unexpected '5'; expected a string"),
    ("message ~ /x/ aand b", 1, 15, "unexpected 'aand'"),
    ('message ~ /x/ and\n  hots == "a"', 2, 3, "unknown field 'hots'; did you mean 'host'?"),
    ("message ~ /x/ & host", 1, 15, "unexpected character '&'"),
    ('host == "a" or', 1, 15, "expression ends too early"),
    ('pid == "a" and message ~ /[z-a]/', 1, 28, "invalid regex: bad character range z-a"),
    ('message in [1, 2', 1, 17, "expression ends too early"),
])
def test_errors_point_at_the_problem(text, line, col, message):
    with pytest.raises(RuleError) as info:
        dsl.compile(text)
    err = info.value
    assert (err.location.line, err.location.col) == (line, col)
    assert err.message.startswith(message)
    assert err.snippet.splitlines()[-1].index("^") - 4 == col - 1
