"""Secret masking: every shape in tests/data/secret_shapes.yaml, and the identifiers and prose that must survive."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from logsleuth.model import Evidence, Finding, InputSummary, Report, RuleInfo
from logsleuth.report.redact import MASK, Redactor, redact_report, redact_text

SHAPES = yaml.safe_load((Path(__file__).parent / "data" / "secret_shapes.yaml").read_text(encoding="utf-8"))["shapes"]


@pytest.mark.parametrize("shape", SHAPES, ids=[s["name"] for s in SHAPES])
def test_every_shape_is_masked(shape):
    lines = shape.get("lines") or [shape["line"]]
    out = Redactor().lines(lines)
    assert MASK in "".join(out)
    assert [s for s in shape["secrets"] if any(s in line for line in out)] == []
    assert Redactor().lines(out) == out  # idempotent: masking twice changes nothing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Prefixed GitLab tokens keep their prefix, so the reader knows which kind leaked.
        ("token is glrt-t1_AbCdEfGhIjKlMnOpQrSt now", "token is glrt-[REDACTED] now"),
        ("PAT glpat-abcdefghijklmnopqrst used", "PAT glpat-[REDACTED] used"),
        ("routable glpat-AbCdEfGhIjKlMnOpQrStUvWxY.01.0w1abc2de", "routable glpat-[REDACTED]"),
        ("CI_JOB_TOKEN glcbt-64_AbCdEfGhIjKlMnOpQrSt", "CI_JOB_TOKEN glcbt-[REDACTED]"),
        ("deploy gldt-AbCdEfGhIjKlMnOpQrSt", "deploy gldt-[REDACTED]"),
        ("register GR1348941AbCdEfGhIjKlMnOpQrSt ok", "register GR1348941[REDACTED] ok"),
        # Legacy 20-character tokens are only recognisable by the name in front of them.
        ("gitlab-runner register --token AbCdEfGhIjKlMnOpQrSt", "gitlab-runner register --token [REDACTED]"),
        ("--registration-token=AbCdEfGhIjKlMnOpQrSt --url x", "--registration-token=[REDACTED] --url x"),
        ("--registration-token AbCdEfGhIjKlMnOpQrSt", "--registration-token [REDACTED]"),
        ("registration-token: AbCdEfGhIjKlMnOpQrSt", "registration-token: [REDACTED]"),
        ('  token = "AbCdEfGhIjKlMnOpQrSt"', '  token = "[REDACTED]"'),
        ("request?token=AbCdEfGhIjKlMnOpQrSt&x=1", "request?token=[REDACTED]&x=1"),
        ('{"token": "AbCdEfGhIjKlMnOpQrSt"}', '{"token": "[REDACTED]"}'),
        ("CI_JOB_TOKEN=AbCdEfGhIjKlMnOpQrSt", "CI_JOB_TOKEN=[REDACTED]"),
        ("GET /api/v4/projects?private_token=AbCdEfGhIjKlMnOpQrSt", "GET /api/v4/projects?private_token=[REDACTED]"),
        # Headers: the scheme stays, the credential goes.
        ("PRIVATE-TOKEN: s3cr3t-value", "PRIVATE-TOKEN: [REDACTED]"),
        ("private-token:abc", "private-token:[REDACTED]"),
        ("JOB-TOKEN: 64_AbCdEfGhIjKl", "JOB-TOKEN: [REDACTED]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer [REDACTED]"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED]"),
        ('"Authorization": "Bearer abc123"', '"Authorization": "Bearer [REDACTED]"'),
        # URL passwords, including git's job-token user.
        ("fetch https://user:hunter2@gitlab.example.com/a.git", "fetch https://user:[REDACTED]@gitlab.example.com/a.git"),
        ("https://gitlab-ci-token:glcbt-64_AbCdEfGh@gitlab.com/g/p.git",
         "https://gitlab-ci-token:[REDACTED]@gitlab.com/g/p.git"),
        ("remote: gitlab-ci-token:AbCdEf123@gitlab.com", "remote: gitlab-ci-token:[REDACTED]@gitlab.com"),
        ("proxy http://:p4ss@proxy:3128", "proxy http://:[REDACTED]@proxy:3128"),
    ],
)
def test_secret_is_masked(text, expected):
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # idempotent: masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        # The runner's short token is an identifier operators grep for, not a secret.
        "Checking for jobs... received job=4242 repo_url=https://gitlab.com/g/p.git runner=abcd1234",
        "Verifying runner... is valid runner=xY12ab3Z token=xY12ab3Z",
        "ERROR: Failed to verify the runner. You may be having network problems. runner=abcd1234",
        "access token authentication failed for user",
        "https://gitlab.example.com:8443/api/v4/jobs/request",
        "glibc 2.36 and global settings",
        "Authorization header missing",
        # Real wordings that look like a secret's context (the corpus in fixtures/real has each).
        "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
        "sudo[1400]:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/gitlab-runner verify",
        "ERROR: Job failed (system failure): prepare environment: setting up credentials: secrets is forbidden",
        "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope",
        "write /var/lib/docker/tmp/GetImageBlob394851234567890AbC: no space left on device",
        '"msg":"Checking for jobs... forbidden","runner":"GR1348941xXzhePNZ"',
        "https://gitea.example.com.tr/KozmotronikTech/Karalama/actions/runs/8#jobstep-4-38",
        "Digest: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "HEAD is now at 6a70d96b4e2f1c3a5d7e9f0b1c2d3e4f5a6b7c8d update runner file",
        "cp -r build/artifacts_directory_2024 /cache",
        "",
    ],
)
def test_identifiers_and_prose_are_kept(text):
    assert redact_text(text) == text


_UTC = timezone.utc
_RULE = RuleInfo(id="runner-token-invalid", title="Token rejected", severity="critical", category="auth",
                 fix="Set token = glrt-<new token> in config.toml")


def _finding() -> Finding:
    ev = Evidence(path="runner.log", line=7, text="PRIVATE-TOKEN: abc123 refused",
                  ts=datetime(2024, 5, 1, tzinfo=_UTC), context=("url https://u:pw@h/x",))
    return Finding(rule=_RULE, message="token glrt-AbCdEfGhIjKlMnOpQrSt rejected", fingerprint="f" * 64,
                   count=2, first_seen=None, last_seen=None,
                   variables={"token": "glrt-AbCdEfGhIjKlMnOpQrSt", "runner": "abcd1234"}, evidence=(ev,))


def test_redact_report_masks_every_log_derived_string():
    report = Report(findings=(_finding(),), rules=(_RULE,),
                    inputs=(InputSummary(path="https://u:pw@host/trace", format="plain", reason="sniffed"),),
                    warnings=("line 3: Authorization: Bearer xyz",), errors=("--token AbCdEfGhIjKlMnOpQrSt",))
    out = redact_report(report)
    f = out.findings[0]
    assert f.message == "token glrt-[REDACTED] rejected"
    assert f.variables == {"token": "glrt-[REDACTED]", "runner": "abcd1234"}
    assert f.evidence[0].text == "PRIVATE-TOKEN: [REDACTED] refused"
    assert f.evidence[0].context == ("url https://u:[REDACTED]@h/x",)
    assert f.evidence[0].ts == datetime(2024, 5, 1, tzinfo=_UTC)
    assert out.inputs[0].path == "https://u:[REDACTED]@host/trace"
    assert out.warnings == ("line 3: Authorization: Bearer [REDACTED]",)
    assert out.errors == ("--token [REDACTED]",)
    # Identity and rule text are not log data: the fingerprint must stay stable across runs.
    assert f.fingerprint == "f" * 64 and f.rule is _RULE
    # The input report is untouched (it is frozen; redaction returns a copy).
    assert report.findings[0].message == "token glrt-AbCdEfGhIjKlMnOpQrSt rejected"


def test_bare_secret_captured_elsewhere_is_masked_everywhere():
    # The capture holds only the value; the evidence line names it as a token.
    ev = Evidence(path="job.log", line=1, text="register --registration-token LeGaCyReGiStRaTiOn20")
    f = Finding(rule=_RULE, message="registration with LeGaCyReGiStRaTiOn20 failed", fingerprint="f", count=1,
                first_seen=None, last_seen=None, variables={"value": "LeGaCyReGiStRaTiOn20"}, evidence=(ev,))
    out = redact_report(Report(findings=(f,), rules=(_RULE,))).findings[0]
    assert out.variables == {"value": "[REDACTED]"}
    assert out.message == "registration with [REDACTED] failed"
    assert out.evidence[0].text == "register --registration-token [REDACTED]"


def test_a_secret_learnt_late_in_the_report_is_masked_before_it_too():
    # The first finding holds the bare value; only the second one's evidence says it is a token:
    # redaction needs its second pass (skipped when a pass learns nothing).
    bare = Finding(rule=_RULE, message="job used LeGaCyReGiStRaTiOn20", fingerprint="a", count=1, first_seen=None,
                   last_seen=None, variables={}, evidence=(Evidence(path="a.log", line=1, text="LeGaCyReGiStRaTiOn20"),))
    named = Finding(rule=_RULE, message="m", fingerprint="b", count=1, first_seen=None, last_seen=None, variables={},
                    evidence=(Evidence(path="b.log", line=1, text="register --registration-token LeGaCyReGiStRaTiOn20"),))
    out = redact_report(Report(findings=(bare, named), rules=(_RULE,)))
    assert out.findings[0].message == "job used [REDACTED]"
    assert out.findings[0].evidence[0].text == "[REDACTED]"
    assert out.findings[1].evidence[0].text == "register --registration-token [REDACTED]"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("password", "hunter2", "[REDACTED]"),
        ("db_passwd", "x", "[REDACTED]"),
        ("client_secret", "abc", "[REDACTED]"),
        ("token", "AbCdEfGhIjKlMnOpQrSt", "[REDACTED]"),
        ("token", "glrt-AbCdEfGhIjKlMnOpQrSt", "glrt-[REDACTED]"),
        ("token", "abcd1234", "abcd1234"),  # the runner's short token is an identifier
        ("runner", "abcd1234", "abcd1234"),
        ("task", "cc1plus", "cc1plus"),
        ("password", "", ""),
    ],
)
def test_variable_named_as_secret_is_masked(name, value, expected):
    f = Finding(rule=_RULE, message="m", fingerprint="f", count=1, first_seen=None, last_seen=None,
                variables={name: value}, evidence=())
    assert redact_report(Report(findings=(f,), rules=(_RULE,))).findings[0].variables == {name: expected}


def test_short_values_are_not_cross_masked():
    # "docker" after a URL user is a (weak) password, but masking every "docker" in the report
    # would wreck it; only the URL occurrence is masked.
    ev = Evidence(path="job.log", line=1, text="pull https://bot:docker@registry.local/img from docker hub")
    f = Finding(rule=_RULE, message="docker pull failed", fingerprint="f", count=1, first_seen=None,
                last_seen=None, variables={}, evidence=(ev,))
    out = redact_report(Report(findings=(f,), rules=(_RULE,))).findings[0]
    assert out.evidence[0].text == "pull https://bot:[REDACTED]@registry.local/img from docker hub"
    assert out.message == "docker pull failed"


def test_a_pem_block_in_context_lines_is_masked_and_its_lines_everywhere():
    (pem,) = [s for s in SHAPES if s["name"] == "pem-private-key"]
    first, *rest = pem["lines"]
    ev = Evidence(path="job.log", line=1, text=first, context=tuple(rest))
    # The block's last line also appears alone, as another finding's evidence, BEGIN out of view.
    alone = Evidence(path="job.log", line=5, text=rest[3])
    findings = tuple(Finding(rule=_RULE, message="m", fingerprint=str(i), count=1, first_seen=None, last_seen=None,
                             variables={}, evidence=(e,)) for i, e in enumerate((ev, alone)))
    out = redact_report(Report(findings=findings, rules=(_RULE,)))
    shown = [out.findings[0].evidence[0].text, *out.findings[0].evidence[0].context, out.findings[1].evidence[0].text]
    assert shown[1] == "-----BEGIN RSA PRIVATE KEY-----" and shown[-2] == "-----END RSA PRIVATE KEY-----"
    assert shown[2:5] == [MASK] * 3 and shown[-1] == MASK


def test_a_pem_block_that_never_ends_stops_masking():
    r = Redactor()
    out = r.lines(["-----BEGIN PRIVATE KEY-----", *(["QUJD"] * 300), "done"])
    assert out[1] == MASK and out[-1] == "done"


# Units that make a backtracking regex slow when repeated over one line (nested quantifiers on
# `_`/`.`/`-` chains, schemes, %-escapes, ANSI escapes, base64 runs, a PEM marker, flag names).
_HOSTILE = ["a.", "a_", "a-", "aA1", "aA1/", "%41", "\x1b[0m", "password ", "--password ", "a://a:", '"auth":"a',
            "-----BEGIN PRIVATE KEY-----a", "eyJa.", "login a ", "token=a_", "glpat-a.", "Authorization: "]


@pytest.mark.parametrize("unit", _HOSTILE)
def test_redaction_is_linear_on_hostile_lines(unit):
    line = (unit * (128 * 1024 // len(unit) + 1))[: 128 * 1024]
    start = time.perf_counter()
    redact_text(line)
    # About 0.05 s here; a quadratic pattern takes minutes on 128 KiB.
    assert time.perf_counter() - start < 3.0


def test_the_hint_automaton_finds_the_hints_one_by_one_testing_finds() -> None:
    """hints_in switches to pyahocorasick after its first lines: both ways give the same hints."""
    import pytest

    from logsleuth.report import shapes

    pytest.importorskip("ahocorasick")  # the bare install has no automaton: the loop is all there is
    lines = ["fatal: authentication failed for 'https://gitlab-ci-token:glcbt-abc@gitlab.example.com'",
             "docker login -u u -p hunter2 registry", "high throughput through the gateway", "nothing here",
             "ghp_x token= key: passwd secret aiza sig= eyj q~ xox ya29 gr1348941"]
    automaton = shapes._hint_automaton()
    assert automaton is not None
    for line in lines:
        lower = line.lower()
        expected = frozenset(h for h in shapes.HINTS if h in lower)
        assert frozenset(hint for _end, hint in automaton.iter(lower)) == expected
    shapes._seen[0] = shapes._LINES_BEFORE_AUTOMATON + 1
    assert all(shapes.hints_in(line.lower()) == frozenset(h for h in shapes.HINTS if h in line.lower())
               for line in lines)
    assert shapes._has_long_word("x" * 40) and not shapes._has_long_word(("x" * 39 + " ") * 3)
