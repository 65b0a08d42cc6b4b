"""Baselines: `logsleuth baseline write`, then `scan --baseline` marks new and known, and `--fail-on-new` gates on new."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
PANIC = ROOT / "fixtures" / "unrecognised" / "panic.log"
# proxy-auth-required's own example (the runner's job-request failure behind a proxy wanting credentials).
EXTRA_INCIDENT = ('2024-03-10T12:30:00+0000 ci-runner-1 gitlab-runner[812]: WARNING: Checking for jobs... failed'
                  '                runner=xY7pQ2mK9 status=Post "https://gitlab.example.com/api/v4/jobs/request": '
                  'Proxy Authentication Required')
# gitlab-runner's Errorf("listing existing vms: %w") as the runner prints it: no rule knows it.
EXTRA_TEMPLATE = '2024-03-10T12:31:00+0000 ci-runner-1 gitlab-runner[812]: ERROR: Listing existing vms: exit status 3  runner=xY7pQ2mK9'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logsleuth", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("baseline")
    base = SAMPLE.read_text() + PANIC.read_text()
    (d / "day1.log").write_text(base)
    (d / "day2-incident.log").write_text(base + EXTRA_INCIDENT + "\n")
    (d / "day2-template.log").write_text(base + EXTRA_TEMPLATE + "\n")
    out = run("baseline", "write", str(d / "baseline.json"), str(d / "day1.log"))
    assert out.returncode == 0, out.stderr
    return {p.stem: p for p in d.iterdir()}


def scan_json(log: Path, baseline: Path, *extra: str) -> dict:
    out = run("scan", str(log), "--baseline", str(baseline), "--format", "json", "--fail-on", "none", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def marks(data: dict) -> tuple[list[str | None], list[str | None], list[str | None]]:
    return ([i["baseline"] for i in data["incidents"]],
            [f["baseline"] for i in data["incidents"] for f in i["facts"]],
            [t["baseline"] for t in data["unrecognised"]["templates"]])


def test_baseline_file_is_versioned_sorted_and_diff_friendly(day: dict[str, Path]) -> None:
    text = day["baseline"].read_text()
    doc = json.loads(text)
    assert doc["format"] == "logsleuth-baseline" and doc["version"] == 1
    assert len(doc["incidents"]) >= 5 and len(doc["templates"]) >= 1 and doc["findings"]
    for section in ("incidents", "findings", "templates"):
        assert list(doc[section]) == sorted(doc[section])
    assert text.count("\n") > 10 * len(doc["incidents"])  # one key per line: a changed entry is a small diff
    assert str(day["day1"]) not in text  # no paths: the file is committed and moved between machines


def test_same_log_is_all_known(day: dict[str, Path], tmp_path: Path) -> None:
    text, md = tmp_path / "report.txt", tmp_path / "report.md"
    data = scan_json(day["day1"], day["baseline"], "--report", f"text={text}", "--report", f"markdown={md}")
    incidents, facts, templates = marks(data)
    assert incidents and set(incidents) == set(facts) == set(templates) == {"known"}
    assert data["unrecognised"]["new"] == 0
    assert "[known]" in text.read_text() and "[new]" not in text.read_text()
    assert ", known |" in md.read_text() and ", new |" not in md.read_text()


def test_one_extra_failure_is_the_only_new_one(day: dict[str, Path]) -> None:
    data = scan_json(day["day2-incident"], day["baseline"])
    new = [i for i in data["incidents"] if i["baseline"] == "new"]
    assert [i["rule_id"] for i in new] == ["proxy-auth-required"]
    assert all(i["baseline"] == "known" for i in data["incidents"] if i not in new)
    data = scan_json(day["day2-template"], day["baseline"])
    assert {i["baseline"] for i in data["incidents"]} == {"known"}
    new_t = [t for t in data["unrecognised"]["templates"] if t["baseline"] == "new"]
    assert [t["template"] for t in new_t] == ["ERROR: Listing existing vms: exit status <ID> runner=<ID>"]
    assert data["unrecognised"]["new"] == 1


def test_fail_on_new_exit_codes(day: dict[str, Path]) -> None:
    b = str(day["baseline"])
    assert run("scan", str(day["day1"]), "-q", "--baseline", b).returncode == 1  # critical incidents: marks only
    assert run("scan", str(day["day1"]), "-q", "--baseline", b, "--fail-on-new").returncode == 0
    assert run("scan", str(day["day2-incident"]), "-q", "--baseline", b, "--fail-on-new").returncode == 1
    # The new incident is critical: a threshold above it lets it through.
    assert run("scan", str(day["day2-incident"]), "-q", "--baseline", b, "--fail-on-new",
               "--fail-on", "blocker").returncode == 0
    # Only a new unrecognised template: exit 5, as for unexplained lines; a gate of one template allows it.
    assert run("scan", str(day["day2-template"]), "-q", "--baseline", b, "--fail-on-new").returncode == 5
    assert run("scan", str(day["day2-template"]), "-q", "--baseline", b, "--fail-on-new",
               "--fail-on-unrecognised", "1").returncode == 0


def test_bad_baselines_are_usage_errors(day: dict[str, Path], tmp_path: Path) -> None:
    out = run("scan", str(day["day1"]), "-q", "--fail-on-new")
    assert out.returncode == 2 and "--fail-on-new needs --baseline FILE" in out.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{\n "format": "logsleuth-baseline",\n "version": 1,\n "incidents": {,\n}\n')
    out = run("scan", str(day["day1"]), "-q", "--baseline", str(broken))
    assert out.returncode == 2 and f"{broken}:4:" in out.stderr and "Traceback" not in out.stderr
    other = tmp_path / "report.json"
    other.write_text('{"version": "1"}')
    out = run("scan", str(day["day1"]), "-q", "--baseline", str(other))
    assert out.returncode == 2 and "not a logsleuth baseline" in out.stderr
    out = run("scan", str(day["day1"]), "-q", "--baseline", str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read baseline" in out.stderr


def test_baseline_from_a_json_report(day: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    assert run("scan", str(day["day1"]), "--format", "json", "-o", str(report), "--fail-on", "none").returncode == 0
    assert run("baseline", "write", str(tmp_path / "b.json"), "--from", str(report)).returncode == 0
    a, b = json.loads(day["baseline"].read_text()), json.loads((tmp_path / "b.json").read_text())
    for section in ("incidents", "findings", "templates"):
        assert a[section] == b[section]
