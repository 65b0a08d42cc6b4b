"""Report rendering: snapshots of every format, format validity (Code Quality, SARIF, JUnit, JSON), redaction, caps."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from logsleuth.errors import LogsleuthError
from logsleuth.model import Evidence, Finding, InputSummary, Report, RuleInfo
from logsleuth.report.options import RenderOptions
from logsleuth.report.render import FORMATS, render

DATA = Path(__file__).parent / "data"
SCHEMAS = Path(__file__).parent.parent / "logsleuth" / "report" / "schemas"
UTC = timezone.utc

TOKEN_RULE = RuleInfo(
    id="runner-token-invalid", title="Runner token rejected | revoked", severity="critical", category="auth",
    tags=("runner", "token"),
    diagnosis="GitLab answered `403 Forbidden` to the runner's *job request*.",
    fix="1. Register the runner again.\n2. Put the new `glrt-` token in `config.toml`.",
    why="A runner whose token was revoked polls forever & never gets a job.",
    references=("https://docs.gitlab.com/runner/register/", "runbook section 4"),
)
NET_RULE = RuleInfo(
    id="network-timeout", title="Timeout dialing `gitlab:443` & <registry>", severity="major", category="network",
    diagnosis="The connection to GitLab timed out.", fix="Check `HTTPS_PROXY` and the firewall.", retryable=True,
)
OOM_RULE = RuleInfo(id="oom-kill", title="Build container killed: out of memory", severity="minor", category="resources",
                    fix="Raise `memory` in the executor settings.", generic=True)
DISK_RULE = RuleInfo(id="disk-full", title="No space left on device", severity="blocker", category="resources")

SECRET = "glrt-t1_AbCdEfGhIjKlMnOpQrSt"


def _report() -> Report:
    token_evidence = tuple(
        Evidence(path="logs/runner.log", line=10 + i, ts=datetime(2024, 5, 1, 10, i, tzinfo=UTC),
                 text=f'WARNING: Checking for jobs... forbidden | status=403 `{i}` <b>&amp; "quoted" runner=abcd1234')
        for i in range(5)
    )
    token = Finding(
        rule=TOKEN_RULE, message=f'Runner "docker-1" rejected with 403 (token {SECRET})', fingerprint="1" * 64,
        count=37, first_seen=datetime(2024, 5, 1, 10, 0, tzinfo=UTC), last_seen=datetime(2024, 5, 1, 10, 4, tzinfo=UTC),
        variables={"runner": "docker-1", "token": SECRET}, evidence=token_evidence,
    )
    net = Finding(
        rule=NET_RULE, message="dial tcp 10.0.0.1:443: i/o timeout", fingerprint="2" * 64, count=1,
        first_seen=datetime(2024, 5, 1, 11, 0), last_seen=datetime(2024, 5, 1, 11, 0), variables={},
        evidence=(Evidence(path="/var/log/syslog", line=3,
                           text="Post https://user:hunter2@gitlab.example.com/api: ```fenced``` timeout"),),
    )
    oom = Finding(
        rule=OOM_RULE, message="oom-kill: task=cc1plus", fingerprint="3" * 64, count=2, first_seen=None,
        last_seen=None, variables={"task": "cc1plus"},
        evidence=(Evidence(path="logs.tgz!builds/job 7.log", line=120, text="Killed process 4242 (cc1plus)\ttotal-vm:1kB"),),
    )
    return Report(
        findings=(token, net, oom), rules=(TOKEN_RULE, NET_RULE, OOM_RULE, DISK_RULE),
        inputs=(InputSummary("logs/runner.log", "runner", "sniffed", 120, 9000),
                InputSummary("/var/log/syslog", "syslog", "sniffed", 3, 200)),
        warnings=("logs/runner.log:99: line longer than 65536 bytes, cut",), truncated_lines=1,
        version="0.1.0", generated_at=datetime(2024, 5, 2, 8, 30, tzinfo=UTC),
    )


def _empty() -> Report:
    return Report(findings=(), rules=(TOKEN_RULE, DISK_RULE), inputs=(InputSummary("job.log", "plain", "fallback", 5, 80),),
                  version="0.1.0", generated_at=datetime(2024, 5, 2, 8, 30, tzinfo=UTC))


EXTENSIONS = {"text": "txt", "markdown": "md", "codequality": "json", "json": "json", "ndjson": "ndjson",
              "junit": "xml", "sarif": "sarif.json", "html": "html"}


def _snapshot_extension(ext: str) -> type[SingleFileSnapshotExtension]:
    # One plain file per snapshot, with the format's own extension, so a reviewer reads the
    # Markdown or XML exactly as a user would get it.
    return type(f"Snapshot_{ext.replace('.', '_')}", (SingleFileSnapshotExtension,),
                {"_write_mode": WriteMode.TEXT, "file_extension": ext})


def _cq_path_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI_PROJECT_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_snapshot(fmt, snapshot, monkeypatch, tmp_path):
    _cq_path_env(monkeypatch, tmp_path)
    # SARIF's originalUriBaseIds name the project directory: here a temporary one.
    out = render(_report(), fmt, options=RenderOptions()).replace(str(tmp_path), "/builds/group/project")
    assert out == snapshot(extension_class=_snapshot_extension(EXTENSIONS[fmt]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_snapshot_empty(fmt, snapshot, monkeypatch, tmp_path):
    _cq_path_env(monkeypatch, tmp_path)
    # SARIF's originalUriBaseIds name the project directory: here a temporary one.
    out = render(_empty(), fmt, options=RenderOptions()).replace(str(tmp_path), "/builds/group/project")
    assert out == snapshot(extension_class=_snapshot_extension(EXTENSIONS[fmt]))


def test_text_colour_only_when_asked():
    plain = render(_report(), "text", options=RenderOptions(color=False))
    coloured = render(_report(), "text", options=RenderOptions(color=True))
    assert "\x1b[" not in plain
    assert "\x1b[31;1m[CRITICAL]\x1b[0m" in coloured
    # Stripping the colour codes gives back the plain report: colour adds nothing else.
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


@pytest.mark.parametrize(("verbosity", "evidence_lines", "details"), [(-1, 0, False), (0, 3, False), (1, 5, True)])
def test_text_verbosity(verbosity, evidence_lines, details):
    out = render(_report(), "text", options=RenderOptions(verbosity=verbosity))
    # One incident per finding here (the report was built without incidents); the most severe heads the verdict.
    assert out.startswith("logsleuth: 3 incidents, worst CRITICAL — now: Runner token rejected | revoked\n")
    assert "by category: auth 1, network 1, resources 1" in out
    assert ("fix:" in out) is (verbosity >= 0)
    assert out.count("logs/runner.log:1") == evidence_lines
    assert ("diagnosis:" in out) is details
    assert ("2 more (-v shows all)" in out) is (verbosity == 0)


def test_text_neutralises_terminal_control_characters():
    report = _report()
    evil = replace(report.findings[0], evidence=(Evidence(path="a.log", line=1, text="x\x1b]0;pwned\x07y\rz"),))
    out = render(replace(report, findings=(evil,)), "text", options=RenderOptions())
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "a.log:1: x?]0;pwned?y?z" in out


# --- Code Quality ------------------------------------------------------------------------


def _cq_schema() -> dict:
    return json.loads((DATA / "codequality.schema.json").read_text(encoding="utf-8"))


def test_codequality_matches_gitlab_requirements(monkeypatch, tmp_path):
    _cq_path_env(monkeypatch, tmp_path)
    out = render(_report(), "codequality", options=RenderOptions())
    assert not out.startswith("\ufeff")
    items = json.loads(out)
    jsonschema.Draft202012Validator(_cq_schema()).validate(items)
    assert [i["check_name"] for i in items] == ["runner-token-invalid", "network-timeout", "oom-kill"]
    assert [i["severity"] for i in items] == ["critical", "major", "minor"]
    assert [i["location"] for i in items] == [
        {"path": "logs/runner.log", "lines": {"begin": 10, "end": 10}},
        {"path": "/var/log/syslog", "lines": {"begin": 3, "end": 3}},
        {"path": "logs.tgz!builds/job 7.log", "lines": {"begin": 120, "end": 120}},
    ]
    assert len({i["fingerprint"] for i in items}) == len(items)


def test_codequality_empty_is_an_empty_array():
    out = render(_empty(), "codequality", options=RenderOptions())
    assert out.strip() == "[]"
    assert json.loads(out) == []


def test_codequality_fingerprint_is_stable_across_runs_and_lines():
    first = json.loads(render(_report(), "codequality", options=RenderOptions()))
    again = json.loads(render(_report(), "codequality", options=RenderOptions()))
    assert [i["fingerprint"] for i in first] == [i["fingerprint"] for i in again]
    # Next week's log: same failure, other timestamps and line numbers, same fingerprint.
    report = _report()
    moved = tuple(replace(e, line=e.line + 500, ts=None) for e in report.findings[0].evidence)
    later = replace(report.findings[0], evidence=moved, count=3, first_seen=datetime(2024, 5, 8, tzinfo=UTC))
    next_week = json.loads(render(replace(report, findings=(later,)), "codequality", options=RenderOptions()))
    assert next_week[0]["fingerprint"] == first[0]["fingerprint"]
    assert next_week[0]["location"]["lines"]["begin"] == 510


def test_codequality_path_relative_to_project_or_overridden(monkeypatch, tmp_path):
    log = tmp_path / "ci" / "runner.log"
    report = _report()
    moved = replace(report.findings[0], evidence=(Evidence(path=str(log), line=4, text="x"),))
    report = replace(report, findings=(moved,))
    monkeypatch.setenv("CI_PROJECT_DIR", str(tmp_path))
    relative = json.loads(render(report, "codequality", options=RenderOptions()))[0]
    assert relative["location"]["path"] == "ci/runner.log"
    forced = json.loads(render(report, "codequality", options=RenderOptions(cq_path=".gitlab-ci.yml")))[0]
    assert forced["location"]["path"] == ".gitlab-ci.yml"
    # The path is not part of the fingerprint: renaming a log does not make its findings "new".
    assert forced["fingerprint"] == relative["fingerprint"]


def test_codequality_same_finding_twice_still_gets_unique_fingerprints():
    report = _report()
    twice = replace(report, findings=(report.findings[0], report.findings[0]))
    items = json.loads(render(twice, "codequality", options=RenderOptions()))
    assert len({i["fingerprint"] for i in items}) == 2


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('{"description": "d", "check_name": "c", "fingerprint": "f", "severity": "high", '
         '"location": {"path": "p", "lines": {"begin": 1}}}', "severity 'high'"),
        ('{"description": "d", "check_name": "c", "fingerprint": "f", "severity": "major", '
         '"location": {"path": "p", "lines": {"begin": "1"}}}', "location.lines.begin"),
        ('{"description": "d", "fingerprint": "f", "severity": "major", '
         '"location": {"path": "p", "lines": {"begin": 1}}}', "'check_name'"),
    ],
)
def test_codequality_invalid_entry_is_refused(tmp_path, entry, problem):
    (tmp_path / "codequality.json.j2").write_text(f"[{entry}]\n", encoding="utf-8")
    with pytest.raises(LogsleuthError, match=problem):
        render(_report(), "codequality", options=RenderOptions(template_dir=str(tmp_path)))


# --- SARIF, JUnit, JSON ------------------------------------------------------------------


@pytest.mark.parametrize("report", [_report(), _empty()], ids=["findings", "empty"])
def test_sarif_is_valid_sarif_2_1_0(report):
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    log = json.loads(render(report, "sarif", options=RenderOptions()))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in report.rules]
    assert [r["ruleId"] for r in run["results"]] == [f.rule_id for f in report.findings]


def test_sarif_result_details():
    run = json.loads(render(_report(), "sarif", options=RenderOptions()))["runs"][0]
    token, net, oom = run["results"]
    assert (token["level"], net["level"], oom["level"]) == ("error", "error", "warning")
    assert token["ruleIndex"] == 0 and oom["ruleIndex"] == 2
    assert token["partialFingerprints"] == {"logsleuth/v1": "1" * 64, "logsleuth/incident/v1": "1" * 64,
                                            "primaryLocationLineHash": token["partialFingerprints"]["primaryLocationLineHash"]}
    location = token["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "logs/runner.log"
    assert location["region"]["startLine"] == 10
    # Outside the project: a relative URI against the ROOT base, not a file:// URI.
    assert net["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "var/log/syslog", "uriBaseId": "ROOT"}
    assert oom["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "logs.tgz"


def test_junit_has_one_testcase_per_rule():
    root = ET.fromstring(render(_report(), "junit", options=RenderOptions()).encode())
    cases = root.findall("./testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("auth", "runner-token-invalid: Runner token rejected | revoked"),
        ("network", "network-timeout: Timeout dialing `gitlab:443` & <registry>"),
        ("resources", "oom-kill: Build container killed: out of memory"),
        ("resources", "disk-full: No space left on device"),
    ]
    failures = [c.find("failure") for c in cases]
    # The minor OOM finding is below the default --fail-on major: a passing case that says so.
    assert [f is not None for f in failures] == [True, True, False, False]
    assert "below --fail-on major" in cases[2].find("system-out").text and cases[3].find("system-out") is None
    assert failures[0].get("message") == 'Runner "docker-1" rejected with 403 (token glrt-[REDACTED])'
    assert failures[0].get("type") == "critical"
    assert 'logs/runner.log:10: WARNING: Checking for jobs... forbidden | status=403 `0` <b>&amp; "quoted"' in failures[0].text
    assert root.get("tests") == "4" and root.get("failures") == "2"


def test_junit_survives_characters_xml_cannot_hold():
    report = _report()
    odd = replace(report.findings[0], message="bad\x00byte\x1b[0m \"q\" ]]> \n next",
                  evidence=(Evidence(path="a.log", line=1, text="\x08\x0c<![CDATA[ x ]]>"),))
    root = ET.fromstring(render(replace(report, findings=(odd,)), "junit", options=RenderOptions()).encode())
    failure = root.find("./testsuite/testcase/failure")
    assert failure.get("message") == "bad\ufffdbyte\ufffd[0m \"q\" ]]> \n next"
    assert "a.log:1: \ufffd\ufffd<![CDATA[ x ]]>" in failure.text


def _report_schema() -> dict:
    return json.loads((SCHEMAS / "report.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("report", [_report(), _empty()], ids=["findings", "empty"])
def test_json_validates_against_shipped_schema(report):
    data = json.loads(render(report, "json", options=RenderOptions()))
    jsonschema.Draft202012Validator(_report_schema(), format_checker=jsonschema.FormatChecker()).validate(data)
    assert data["version"] == "1" and data["logsleuth_version"] == "0.1.0"
    assert [f["rule_id"] for f in data["findings"]] == [f.rule_id for f in report.findings]


def test_json_finding_fields():
    data = json.loads(render(_report(), "json", options=RenderOptions()))
    token, net, oom = data["findings"]
    assert token["first_seen"] == "2024-05-01T10:00:00Z" and token["last_seen"] == "2024-05-01T10:04:00Z"
    assert net["first_seen"] == "2024-05-01T11:00:00Z"  # naive timestamps are taken as UTC
    assert oom["first_seen"] is None
    assert token["evidence"][1] == {
        "path": "logs/runner.log", "line": 11, "ts": "2024-05-01T10:01:00Z", "context": [],
        "text": 'WARNING: Checking for jobs... forbidden | status=403 `1` <b>&amp; "quoted" runner=abcd1234',
    }
    assert (token["retryable"], net["retryable"], oom["generic"]) == (False, True, True)
    assert data["summary"] == {"incidents": 3, "ongoing": 3, "recovered": 0, "findings": 3, "occurrences": 40, "worst": "critical",
                               "by_severity": {"blocker": 0, "critical": 1, "major": 1, "minor": 1, "info": 0},
                               "by_category": {"auth": 1, "network": 1, "resources": 1}}
    assert [r["fired"] for r in data["rules"]] == [True, True, True, False]


def test_ndjson_one_finding_per_line():
    out = render(_report(), "ndjson", options=RenderOptions())
    lines = out.splitlines()
    assert len(lines) == 3 and out.endswith("\n")
    finding_schema = {"$defs": _report_schema()["$defs"], "$ref": "#/$defs/finding"}
    for line in lines:
        jsonschema.Draft202012Validator(finding_schema).validate(json.loads(line))
    full = json.loads(render(_report(), "json", options=RenderOptions()))
    assert [json.loads(line) for line in lines] == full["findings"]
    assert render(_empty(), "ndjson", options=RenderOptions()) == ""


# --- Markdown ----------------------------------------------------------------------------


def test_markdown_fence_is_longer_than_any_backtick_run():
    out = render(_report(), "markdown", options=RenderOptions())
    assert "\n````text\n/var/log/syslog:3: Post https://user:[REDACTED]@gitlab.example.com/api: ```fenced``` timeout\n````\n" in out
    assert "\n```text\nlogs/runner.log:10:" in out


def test_markdown_table_cells_escape_pipes_and_html():
    out = render(_report(), "markdown", options=RenderOptions())
    # Titles are rule-authored Markdown: only `|` is escaped, backticks stay code spans.
    assert "| critical | Runner token rejected \\| revoked | `runner-token-invalid` | unknown | 37 |" in out
    assert "| major | Timeout dialing `gitlab:443` & <registry> |" in out
    # Inside <summary> GitLab reads HTML, not Markdown.
    assert ("<summary><b>MAJOR</b> · Timeout dialing `gitlab:443` &amp; &lt;registry&gt; · "
            "<code>network-timeout</code></summary>") in out
    # Log-derived text is escaped so it cannot become markup.
    assert '**Message:** Runner "docker-1" rejected with 403 (token glrt-\\[REDACTED\\])' in out
    assert out.count("<details>") == out.count("</details>") == 3


def test_markdown_is_capped_at_whole_findings():
    full = render(_report(), "markdown", options=RenderOptions())
    cap = full.index("<details>", full.index("<details>") + 1) + 600  # room for about one finding
    out = render(_report(), "markdown", options=RenderOptions(max_chars=cap))
    assert len(out) <= cap
    assert out.count("<details>") == out.count("</details>") == 1
    assert "**Report truncated:** the details of 2 more incidents are not shown (their rows are in the table)" in out
    # Every incident keeps its table row; only the details are cut.
    assert [line for line in out.splitlines() if line.startswith("| ")] == \
        [line for line in full.splitlines() if line.startswith("| ")]
    assert out.startswith(":x: **logsleuth: 3 incidents**")  # the verdict still counts every incident


def test_markdown_hard_cap_when_not_even_the_header_fits():
    out = render(_report(), "markdown", options=RenderOptions(max_chars=120))
    assert len(out) <= 120
    assert out.endswith("**Report truncated at the size limit of a GitLab note.**\n")


# --- Redaction through every format -------------------------------------------------------

SECRETS = {
    "glrt": "glrt-AbCdEfGhIjKlMnOpQrSt",
    "glpat": "glpat-ZyXwVuTsRqPoNmLkJiHg",
    "glcbt": "glcbt-64_QwErTyUiOpAsDfGhJk",
    "registration": "GR1348941MnBvCxZaSdFgHjKlPo",
    "legacy": "LeGaCyReGiStRaTiOn20",
    "private-header": "PrivHeaderValue77",
    "job-header": "JobHeaderValue88",
    "bearer": "BearerValue.eyJ0eXAi",
    "basic": "QmFzaWNWYWx1ZTk5",
    "url-password": "UrlPassw0rd",
    "ci-token-user": "CiTokenUserValue",
}
SECRET_LINES = (
    f"register --token {SECRETS['glrt']} ok",
    f"api call with {SECRETS['glpat']}",
    f"job token {SECRETS['glcbt']}",
    f"registration {SECRETS['registration']}",
    f"gitlab-runner register --registration-token {SECRETS['legacy']} --url https://gitlab.com",
    f"PRIVATE-TOKEN: {SECRETS['private-header']}",
    f"JOB-TOKEN: {SECRETS['job-header']}",
    f"Authorization: Bearer {SECRETS['bearer']}",
    f"Authorization: Basic {SECRETS['basic']}",
    f"clone https://deployer:{SECRETS['url-password']}@gitlab.example.com/g/p.git",
    f"fetch gitlab-ci-token:{SECRETS['ci-token-user']}@gitlab.example.com/g/p.git",
)


def _secret_report() -> Report:
    report = _report()
    evidence = tuple(Evidence(path="job.log", line=i + 1, text=t) for i, t in enumerate(SECRET_LINES))
    leaky = replace(report.findings[0], message=" | ".join(SECRET_LINES), evidence=evidence,
                    variables={k: v for k, v in SECRETS.items()})
    return replace(report, findings=(leaky,), warnings=SECRET_LINES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_format(fmt):
    out = render(_secret_report(), fmt, options=RenderOptions(verbosity=1))
    leaked = [name for name, value in SECRETS.items() if value in out or json.dumps(value)[1:-1] in out]
    assert leaked == []
    assert "[REDACTED]" in out
    assert "runner" in out or fmt in ("codequality",)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_redact_keeps_secrets(fmt):
    out = render(_secret_report(), fmt, options=RenderOptions(verbosity=1, redact=False))
    # The message carries every secret and appears in every format.
    assert SECRETS["glrt"] in out and SECRETS["url-password"] in out
    assert "[REDACTED]" not in out


def test_no_redact_json_keeps_every_secret():
    out = render(_secret_report(), "json", options=RenderOptions(redact=False))
    assert [name for name, value in SECRETS.items() if value not in out] == []


# --- Custom templates and errors ----------------------------------------------------------


def test_template_dir_overrides_a_builtin_by_name(tmp_path):
    (tmp_path / "text.txt.j2").write_text("{{ summary.total }} findings; first {{ findings[0].rule_id }}\n")
    out = render(_report(), "text", options=RenderOptions(template_dir=str(tmp_path)))
    assert out == "3 findings; first runner-token-invalid\n"
    # Formats without an override still use the built-in template.
    assert render(_report(), "ndjson", options=RenderOptions(template_dir=str(tmp_path))).count("\n") == 3


def test_template_file_can_include_builtin_macros(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text('{% from "_finding.json.j2" import finding_json %}'
                    "{% for f in findings %}{{ finding_json(f) }}\n{% endfor %}")
    out = render(_report(), "json", options=RenderOptions(template=str(path)))
    assert [json.loads(line)["rule_id"] for line in out.splitlines()] == ["runner-token-invalid", "network-timeout", "oom-kill"]


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("ok\n{% for f in findings %}\n{{ f.title }\n{% endfor %}\n", 3, "template syntax error"),
        ("line one\nline two\n{{ findings[0].no_such_field }}\n", 3, "no_such_field"),
        ("a\n{{ undefined_name }}\n", 2, "undefined_name"),
        ("a\nb\nc\n{{ 1 // 0 }}\n", 4, "division"),
        ("{{ ''.__class__.__mro__ }}\n", 1, "unsafe"),
    ],
)
def test_template_error_names_file_and_line(tmp_path, source, line, message):
    path = tmp_path / "broken.txt.j2"
    path.write_text(source)
    with pytest.raises(LogsleuthError, match=message) as info:
        render(_report(), "text", options=RenderOptions(template=str(path)))
    assert info.value.location is not None
    assert (info.value.location.path, info.value.location.line) == (str(path), line)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_error_in_template_dir_override_names_that_file(tmp_path):
    (tmp_path / "markdown.md.j2").write_text("# title\n{{ report.nope }}\n")
    with pytest.raises(LogsleuthError) as info:
        render(_report(), "markdown", options=RenderOptions(template_dir=str(tmp_path)))
    assert (info.value.location.path, info.value.location.line) == (str(tmp_path / "markdown.md.j2"), 2)


def test_template_file_may_define_a_format_of_its_own(tmp_path):
    path = tmp_path / "report.html.j2"
    path.write_text("<ul>{% for f in findings %}<li>{{ f.title|e }}</li>{% endfor %}</ul>\n")
    out = render(_report(), "html", options=RenderOptions(template=str(path)))
    assert out.startswith("<ul><li>Runner token rejected | revoked</li><li>Timeout dialing `gitlab:443` &amp; &lt;registry&gt;")


def test_missing_template_and_unknown_format(tmp_path):
    with pytest.raises(LogsleuthError, match="template not found"):
        render(_report(), "text", options=RenderOptions(template=str(tmp_path / "absent.j2")))
    with pytest.raises(LogsleuthError, match="unknown report format 'pdf'"):
        render(_report(), "pdf", options=RenderOptions())


def test_a_long_text_report_details_twenty_incidents_and_gives_a_fix_once(tmp_path):
    """25 incidents of one rule (a kernel OOM kill on each of 25 hosts): the text report details the
    first 20, prints the rule's fix once, and lists the other 5 one line each; -v shows all in full."""
    import subprocess
    import sys

    log = tmp_path / "oom.log"
    log.write_text("".join(
        f"2026-11-20T{n % 24:02d}:{n:02d}:00+0000 h{n} kernel: Out of memory: Killed process {1000 + n} (java) "
        "total-vm:2944323kB, anon-rss:2678830kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:8546kB oom_score_adj:0\n"
        for n in range(25)))

    def text(*extra: str) -> str:
        run = subprocess.run([sys.executable, "-m", "logsleuth", "scan", str(log), "--fail-on", "none", *extra],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return run.stdout

    short = text()
    assert short.startswith("logsleuth: 25 incidents")
    assert short.count("[CRITICAL] Kernel OOM killer killed a process") == 20
    assert short.count("\n  fix:\n") == 1 and short.count("fix: as for the kernel-oom-killed-process incident above") == 19
    tail = short.split("5 more incidents (-v shows each in full):\n", 1)[1]
    assert tail.count("  CRITICAL Kernel OOM killer killed a process (kernel-oom-killed-process), ×1") == 5
    full = text("-v")
    assert full.count("[CRITICAL] Kernel OOM killer killed a process") == 25 and full.count("\n  fix:\n") == 25
    assert "more incidents" not in full


@pytest.mark.parametrize("value", [
    "plain", "<script>&'quote'</script>", "é ü € \U0001f600 \x1b[31m \n\t\"\\", "", None, True, False, 0, -7, 10**30,
    1.5, float("nan"), [1, "<a>", None], {"b": 1, "a": ["&"]}, ("x", 2), {"k": {"z": 1, "y": "'"}},
])
def test_tojson_filter_is_jinjas_own_byte_for_byte(value: object) -> None:
    # The report's faster |tojson must give what Jinja's gives: sorted keys, ASCII, `<>&'` escaped.
    import jinja2
    from jinja2.utils import htmlsafe_json_dumps

    from logsleuth.report.filters import FILTERS

    ours = FILTERS["tojson"](value)
    assert ours == htmlsafe_json_dumps(value, dumps=json.dumps, sort_keys=True)
    assert isinstance(ours, type(jinja2.Environment().filters["tojson"](jinja2.nodes.EvalContext(jinja2.Environment()), value)))
    assert FILTERS["tojson"](value, indent=2) == htmlsafe_json_dumps(value, dumps=json.dumps, sort_keys=True, indent=2)
