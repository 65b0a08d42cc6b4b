"""The CI artifacts as their consumers read them, produced by the real CLI.

Code Quality against GitLab's own server schema (tests/data/gitlab-codeclimate.schema.json) and the
Code Climate spec's required fields; SARIF 2.1.0 against the OASIS schema, with a location for
every result and relative URIs; the Markdown note through a CommonMark renderer (markdown-it-py)
set up as GitLab's is: `$…$` math on, and backslash escapes kept as "escaped character" spans,
which GitLab's reference filters skip (Banzai::Filter::EscapedCharFilter).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

DATA = ROOT / "tests" / "data"
SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
# The Code Climate spec (github.com/codeclimate/platform, spec/analyzers/SPEC.md, "Issues"): these
# fields are required, categories come from this list, `lines` has `begin` and `end`.
CODECLIMATE_CATEGORIES = {"Bug Risk", "Clarity", "Compatibility", "Complexity", "Duplication", "Performance",
                          "Security", "Style"}
CODECLIMATE_ISSUE = {
    "type": "object",
    "required": ["type", "check_name", "description", "categories", "location"],
    "properties": {
        "type": {"const": "issue"},
        "check_name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "categories": {"type": "array", "minItems": 1, "items": {"enum": sorted(CODECLIMATE_CATEGORIES)}},
        "content": {"type": "object", "required": ["body"], "properties": {"body": {"type": "string"}}},
        "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
        "fingerprint": {"type": "string", "minLength": 1},
        "location": {
            "type": "object", "required": ["path", "lines"],
            "properties": {"path": {"type": "string"},
                           "lines": {"type": "object", "required": ["begin", "end"],
                                     "properties": {"begin": {"type": "integer"}, "end": {"type": "integer"}}}},
        },
    },
}


def logsleuth(*args: str, stdin: str | None = None, cwd: Path | None = None, env: dict | None = None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("CI_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "logsleuth", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=full, timeout=120)


# --- Code Quality ----------------------------------------------------------------------------


def test_code_quality_meets_gitlabs_schema_and_the_code_climate_spec(tmp_path):
    project = tmp_path / "project"
    (project / "logs").mkdir(parents=True)
    log = project / "logs" / "runner.log"
    log.write_bytes(SAMPLE.read_bytes())
    out = logsleuth("scan", "logs/runner.log", "--format", "codequality", "--fail-on", "none", cwd=project,
                    env={"CI_PROJECT_DIR": str(project)})
    items = json.loads(out.stdout)
    assert len(items) == 9
    gitlab = json.loads((DATA / "gitlab-codeclimate.schema.json").read_text())
    for item in items:
        jsonschema.Draft7Validator(gitlab).validate(item)
        jsonschema.Draft202012Validator(CODECLIMATE_ISSUE).validate(item)
        assert item["content"]["body"].strip()  # GitLab's MR-diff builder reads content["body"]
        assert item["location"]["path"] == "logs/runner.log"
    assert {c for i in items for c in i["categories"]} >= {"Security", "Performance"}
    # Renaming the log file does not change a fingerprint (the widget would show all as new).
    log.rename(project / "logs" / "renamed.log")
    again = json.loads(logsleuth("scan", "logs/renamed.log", "--format", "codequality", "--fail-on", "none",
                                 cwd=project, env={"CI_PROJECT_DIR": str(project)}).stdout)
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in items]
    assert {i["location"]["path"] for i in again} == {"logs/renamed.log"}


# --- SARIF -----------------------------------------------------------------------------------


def _sarif_checked(text: str) -> dict:
    log = json.loads(text)
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["informationUri"].startswith("https://")
    assert run["results"]
    for result in run["results"]:
        (location,) = result["locations"]  # GitHub rejects results without one
        artifact = location["physicalLocation"]["artifactLocation"]
        assert not re.match(r"^[a-z]+:", artifact["uri"]), artifact  # relative, no file:// URI
        assert artifact.get("uriBaseId") in (None, *run.get("originalUriBaseIds", {}))
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert re.fullmatch(r"[0-9a-f]{16}:1", result["partialFingerprints"]["primaryLocationLineHash"])
    return run


def test_sarif_from_stdin_has_a_location_for_every_result():
    run = _sarif_checked(logsleuth("scan", "-", "--format", "sarif", "--fail-on", "none",
                                   stdin=SAMPLE.read_text()).stdout)
    artifacts = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert artifacts == {"stdin"}


def test_sarif_from_absolute_paths_is_relative_to_the_project(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    inside, outside = project / "runner.log", tmp_path / "elsewhere.log"
    inside.write_bytes(SAMPLE.read_bytes())
    outside.write_bytes(SAMPLE.read_bytes())
    for path, uri, base in [(inside, "runner.log", "PROJECTROOT"),
                            (outside, str(outside).lstrip("/"), "ROOT")]:
        run = _sarif_checked(logsleuth("scan", str(path), "--format", "sarif", "--fail-on", "none",
                                       env={"CI_PROJECT_DIR": str(project)}).stdout)
        artifact = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact == {"uri": uri, "uriBaseId": base}
        assert run["originalUriBaseIds"]["PROJECTROOT"]["uri"] == project.as_uri() + "/"


# --- JUnit -----------------------------------------------------------------------------------


def test_junit_starts_with_the_declaration_and_has_times():
    out = logsleuth("scan", str(SAMPLE), "--format", "junit").stdout
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(out.encode())
    assert root.get("time") == "0" and root.find("testsuite").get("time") == "0"
    assert all(case.get("time") is not None for case in root.iter("testcase"))


# --- the Markdown note -----------------------------------------------------------------------

HOSTILE = "$x$ @all :fire: %v1 #12 !3 ~bug &4"
RULE = """\
id: echo-hostile
title: A job printed a hostile line
severity: major
category: job-failed
match: |
  message ~ /ERROR: Job failed: (?P<detail>.+)/
message: "the job said {detail}"
diagnosis: |
  The job said {detail}, and in code `{detail}`.
fix: |
  Look at {detail}.
examples:
  match:
    - "ERROR: Job failed: exit code 1"
  no-match:
    - "Job succeeded"
"""


def _gitlab_like() -> MarkdownIt:
    md = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin)
    md.disable("text_join")  # keep backslash escapes as their own tokens, as comrak's escaped-char spans
    return md


def _plain_text_runs(md: MarkdownIt, text: str) -> tuple[list[str], list[str]]:
    """The text GitLab's reference filters would see (not code, not escaped characters), and any math."""
    runs, math = [], []
    for token in md.parse(text):
        for child in token.children or ():
            if child.type == "text":
                runs.append(child.content)
            elif child.type in ("math_inline", "math_single"):
                math.append(child.content)
        if token.type in ("math_block", "math_block_label"):
            math.append(token.content)
    return runs, math


def test_the_note_shows_gitlab_reference_characters_literally(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "echo-hostile.yaml").write_text(RULE)
    log = tmp_path / "job.log"
    log.write_text(f"2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Job failed: {HOSTILE}\n")
    out = logsleuth("scan", str(log), "--no-builtin", "--rules", str(rules), "--format", "markdown")
    note = out.stdout
    assert out.returncode == 1, out.stderr
    md = _gitlab_like()
    runs, math = _plain_text_runs(md, note)
    assert math == []  # no `$…$` became inline math
    joined = "\n".join(runs)
    for reference in (r"@all", r":fire:", r"%v1", r"#12", r"!3", r"~bug", r"&4"):
        assert reference not in joined, reference  # a filter would link, mention or emojify it
    # Yet the rendered note shows every character as the log had it, in the message and the evidence;
    # a value filled into the rule's advice (cleaned of shell and Markdown specials by fill_advice)
    # reads the same in running text and in a code span.
    html = MarkdownIt("commonmark").use(dollarmath_plugin).render(note)
    visible = re.sub(r"<[^>]+>", "", html).replace("&amp;", "&").replace("&quot;", '"')
    assert f"the job said {HOSTILE}" in visible and f"job.log:1: {log.read_text()[:25]}" in visible
    assert visible.count(HOSTILE) == 2
    assert "The job said xall:fire:%v1#123~bug4, and in code xall:fire:%v1#123~bug4." in visible
