"""The shipped CI pieces: the CI/CD component (templates/logsleuth.yml) and the plain job template.

Structure as GitLab reads it (a `spec: inputs:` header document, then the jobs; component paths as
Ci::Catalog::ComponentsProject finds them), and the job's script run for real: interpolated with
the inputs, under sh, with the real `logsleuth` on PATH (only `pip install` is stubbed: it would
need the network).
"""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

COMPONENT = ROOT / "templates" / "logsleuth.yml"
PLAIN = ROOT / "ci" / "logsleuth.gitlab-ci.yml"
# From GitLab's app/models/ci/catalog/components_project.rb.
TEMPLATE_PATH_REGEX = re.compile(r"^templates/[\w-]+(?:/template)?\.yml$")
INPUT_REF = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")
SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"


def _documents() -> tuple[dict, str]:
    header, body = COMPONENT.read_text().split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_component_layout_is_what_the_catalog_finds():
    files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()]
    components = [f for f in files if TEMPLATE_PATH_REGEX.match(f)]
    assert components == ["templates/logsleuth.yml"]  # the Jinja templates are not taken for components
    assert any(f.endswith(".j2") for f in files) and len(components) <= 30


def test_component_header_and_every_input_used():
    header, body = _documents()
    assert list(header) == ["spec"]
    inputs = header["spec"]["inputs"]
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert spec.get("type", "string") in ("string", "number", "boolean", "array"), name
        if "options" in spec:
            assert spec["default"] in spec["options"], name
    used = set(INPUT_REF.findall(body))
    assert used == set(inputs)  # each input used, nothing used that is not declared
    assert INPUT_REF.findall(COMPONENT.read_text().split("\n---\n", 1)[0]) == []
    assert {"pipeline", "paths", "rules", "fail-on", "mr-note", "token-variable", "image", "stage",
            "allow-failure"} <= set(inputs)
    readme = (ROOT / "README.md").read_text()
    for name in inputs:
        assert f"| `{name}` |" in readme, f"input {name} is not documented in the README"


def _interpolate(values: dict[str, object]) -> dict:
    header, body = _documents()
    inputs = {name: spec.get("default") for name, spec in header["spec"]["inputs"].items()}
    inputs.update(values)

    def value(m: re.Match[str]) -> str:
        v = inputs[m.group(1)]
        return str(v).lower() if isinstance(v, bool) else str(v)
    return yaml.safe_load(INPUT_REF.sub(value, body))


def _run_script(script: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    stubs = cwd / "stubs"
    stubs.mkdir()
    (stubs / "pip").write_text("#!/bin/sh\nexit 0\n")
    (stubs / "pip").chmod(stat.S_IRWXU)
    (stubs / "logsleuth").write_text(f"#!/bin/sh\nexec {sys.executable} -m logsleuth \"$@\"\n")
    (stubs / "logsleuth").chmod(stat.S_IRWXU)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "LOGSLEUTH_", "GITLAB_"))}
    full.update(env, PATH=f"{stubs}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["sh", "-ec", "\n".join(script)], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=120)


def _project(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "runner.log").write_bytes(SAMPLE.read_bytes())
    return tmp_path


def test_component_job_runs_and_writes_the_reports(tmp_path):
    jobs = _interpolate({"rules": "", "fail-on": "critical"})
    (name,) = jobs
    job = jobs[name]
    assert name == "logsleuth" and job["stage"] == ".post" and job["allow_failure"] is False
    assert job["artifacts"]["reports"] == {"codequality": "gl-code-quality-report.json", "junit": "logsleuth-junit.xml"}
    project = _project(tmp_path)
    out = _run_script(job["script"], project, {"CI_PROJECT_DIR": str(project)})
    assert out.returncode == 1, out.stderr  # critical incidents in the sample
    assert "merge-request note not posted: not a merge-request pipeline" in out.stderr  # a warning only
    items = json.loads((project / "gl-code-quality-report.json").read_text())
    assert items and all(i["location"]["path"] == "logs/runner.log" for i in items)
    assert (project / "logsleuth-junit.xml").read_text().startswith("<?xml")
    assert (project / "logsleuth.md").read_text().startswith(":x: **logsleuth:")


def test_component_pipeline_mode_and_token_variable(tmp_path):
    job = _interpolate({"pipeline": True, "token-variable": "MY_TOKEN", "mr-note": False})["logsleuth"]
    out = _run_script(job["script"], tmp_path, {"MY_TOKEN": "glpat-x", "CI_PROJECT_ID": "1", "CI_PIPELINE_ID": "2",
                                                "CI_API_V4_URL": "http://127.0.0.1:9/api/v4"})
    # The token variable's value reached logsleuth (else: "no GitLab token"); nothing listens on :9.
    assert out.returncode == 2 and "cannot reach GitLab for GET /api/v4/projects/1/pipelines/2/jobs" in out.stderr
    assert "glpat-x" not in out.stderr


def test_plain_job_template_runs_the_same(tmp_path):
    template = yaml.safe_load(PLAIN.read_text())
    job = template[".logsleuth"]
    project = _project(tmp_path)
    env = {k: str(v) for k, v in job["variables"].items()}
    out = _run_script(job["script"], project, {**env, "CI_PROJECT_DIR": str(project), "LOGSLEUTH_FAIL_ON": "none"})
    assert out.returncode == 0, out.stderr
    assert json.loads((project / "gl-code-quality-report.json").read_text())
    component_inputs = set(_documents()[0]["spec"]["inputs"])
    # The template's variables mirror the component's inputs.
    assert {"LOGSLEUTH_" + n.upper().replace("-", "_") for n in ("install", "pipeline", "paths", "rules", "fail-on",
                                                              "mr-note")} <= set(job["variables"])
    assert {"install", "pipeline", "paths", "rules", "fail-on", "mr-note"} <= component_inputs
