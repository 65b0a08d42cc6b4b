"""`logsleuth gitlab pipeline`: a pipeline's failed jobs (a child pipeline's too) fetched from a real local
HTTP server standing in for GitLab, their traces scanned, each finding named with its job and section."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from gitlab_fake import TOKEN, Server, State

CASES = ROOT / "fixtures" / "cases"
# Real job traces (fixtures/cases): an image pull refused in prepare_executor, a timeout in step_script.
PULL = (CASES / "registry" / "rate-limit.trace.log").read_bytes().decode()
TIMEOUT = (CASES / "job-timeout" / "timeout.trace.log").read_bytes().decode()  # keep the \r of section markers


@pytest.fixture
def gitlab():
    state = State()
    state.jobs[("group/project", 500)] = [
        {"id": 101, "name": "build image", "stage": "build", "status": "failed",
         "failure_reason": "script_failure", "web_url": "https://gitlab.example.com/group/project/-/jobs/101"},
    ]
    state.bridges[("group/project", 500)] = [
        {"id": 300, "name": "trigger-tests", "stage": "test", "status": "failed",
         "downstream_pipeline": {"id": 501, "project_id": 1, "status": "failed"}},
        {"id": 301, "name": "not started", "stage": "deploy", "downstream_pipeline": None},
    ]
    state.jobs[("1", 501)] = [
        {"id": 102, "name": "integration", "stage": "test", "status": "failed",
         "failure_reason": "job_execution_timeout", "web_url": "https://gitlab.example.com/group/project/-/jobs/102"},
    ]
    state.traces.update({101: PULL, 102: TIMEOUT})
    with Server(state) as server:
        yield server


def run(api: str | None, *args: str, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "LOGSLEUTH_", "GITLAB_"))}
    env["LOGSLEUTH_GITLAB_TOKEN"] = TOKEN
    if api:
        env.update({"CI_API_V4_URL": api, "CI_PROJECT_ID": "group/project", "CI_PIPELINE_ID": "500"})
    return subprocess.run([sys.executable, "-m", "logsleuth", "gitlab", "pipeline", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def test_each_failed_job_is_reported_with_its_job_and_section(gitlab, tmp_path):
    cq = tmp_path / "gl-code-quality-report.json"
    out = run(gitlab.api, "--format", "json", "--report", f"codequality={cq}", "--traces-dir", str(tmp_path / "t"),
              cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # both failures are major
    jobs = json.loads(out.stdout)["jobs"]
    assert [(j["id"], j["name"], j["stage"], j["pipeline_id"]) for j in jobs] == [
        (101, "build image", "build", 500), (102, "integration", "test", 501)]
    (pull,), (timeout,) = (j["incidents"] for j in jobs)
    assert (pull["rule_id"], pull["section"]) == ("image-pull-rate-limit", "prepare_executor")
    assert (timeout["rule_id"], timeout["section"]) == ("job-execution-timeout", "step_script")
    assert jobs[1]["web_url"].endswith("/jobs/102") and jobs[1]["failure_reason"] == "job_execution_timeout"
    # Requests as GitLab wants them: scope[]=failed on job lists, the token on every call.
    assert not gitlab.state.problems
    assert all(c["headers"].get("private-token") == TOKEN for c in gitlab.state.log)
    assert {c["path"] for c in gitlab.state.log} >= {
        "/api/v4/projects/group%2Fproject/pipelines/500/jobs", "/api/v4/projects/group%2Fproject/pipelines/500/bridges",
        "/api/v4/projects/1/pipelines/501/jobs", "/api/v4/projects/group%2Fproject/jobs/101/trace",
        "/api/v4/projects/1/jobs/102/trace"}
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["101-build_image.log", "102-integration.log"]
    items = json.loads(cq.read_text())
    assert {i["check_name"] for i in items} == {"image-pull-rate-limit", "job-execution-timeout"}
    assert all(TOKEN not in text for text in (out.stdout, out.stderr, cq.read_text()))


def test_text_report_groups_by_job(gitlab, tmp_path):
    out = run(gitlab.api, "--fail-on", "none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("logsleuth: pipeline 500: 2 failed jobs, 2 incidents\n")
    build, integration = text.split("\n\njob ")[1:]
    assert build.startswith("build image (stage build, #101, script_failure) https://gitlab.example.com/")
    assert "(image-pull-rate-limit) in section prepare_executor, trace line 6" in build
    assert integration.startswith("integration (stage test, #102, job_execution_timeout)")
    assert "(job-execution-timeout) in section step_script, trace line 15" in integration
    # The traces are kept (default: logsleuth-traces/), so the evidence paths of the reports exist.
    assert sorted(p.name for p in (tmp_path / "logsleuth-traces").iterdir()) == ["101-build_image.log",
                                                                               "102-integration.log"]


def test_the_note_names_job_and_section(gitlab, tmp_path):
    out = run(gitlab.api, "--mr-note-dry-run", cwd=tmp_path)
    note = out.stderr
    assert "**Where:** job build image (stage build, \\#101), section prepare\\_executor" in note
    assert "**Where:** job integration (stage test, \\#102), section step\\_script" in note
    assert "logsleuth-traces/101-build_image.log:6:" in note


def test_from_a_laptop_with_url_project_and_pipeline(gitlab, tmp_path):
    base = gitlab.api.removesuffix("/api/v4")
    out = run(None, "--url", base, "--project", "group/project", "--pipeline", "500", "--fail-on", "none",
              cwd=tmp_path)
    assert out.returncode == 0 and "2 failed jobs" in out.stdout, out.stderr
    missing = run(None, cwd=tmp_path)
    assert missing.returncode == 2 and "--project and --pipeline" in missing.stderr


def test_a_pipeline_without_failed_jobs(gitlab, tmp_path):
    gitlab.state.jobs.clear()
    gitlab.state.bridges.clear()
    out = run(gitlab.api, "--mr-note-dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "logsleuth: pipeline 500: 0 failed jobs, 0 incidents\n"
    assert ":white_check_mark: **logsleuth: no known failure found**" in out.stderr  # the note's clean verdict


def test_a_job_without_a_trace_is_a_warning(gitlab, tmp_path):
    del gitlab.state.traces[101]  # the fake answers 404, as GitLab does for a job that never ran
    out = run(gitlab.api, "--fail-on", "none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "warning: job build image (#101) has no trace: GitLab answered 404" in out.stderr
    assert "build image (stage build, #101, script_failure)" in out.stdout
    assert "job-execution-timeout" in out.stdout  # the other job is still explained
