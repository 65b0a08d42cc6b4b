"""`logsleuth rules suggest`: a rule drafted from an unrecognised-error template passes `rules test`, fails
`rules lint` until its `todo`s are filled, and then explains the lines it came from."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from logsleuth.authoring.suggest import expression, pattern

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_findings_templates import generate  # noqa: E402 - the twelve-shape log


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logsleuth", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    d = tmp_path_factory.mktemp("suggest")
    log = d / "unrecognised.log"
    generate(log, n=600)
    report = d / "report.json"
    out = run("scan", str(log), "--format", "json", "-o", str(report), "--fail-on", "none")
    assert out.returncode == 0, out.stderr
    return log, report, json.loads(report.read_text())


def _fill(text: str) -> str:
    """What an author does with the draft: every todo replaced by real words."""
    text = text.replace('title: "todo: what failed, in a few words"', "title: Prlctl calls fail")
    text = text.replace("category: todo", "category: executor-parallels")
    text = re.sub(r'message: "todo:[^"]*"', 'message: "prlctl exited with {status}"', text)
    text = text.replace("todo: what it means, and the command that confirms it.", "Parallels' prlctl failed; run `prlctl list -a`.")
    text = text.replace("todo: the steps that fix it.", "1. Check the Parallels license and the VM template.")
    return text.replace("todo: why it happens.", "The runner drives Parallels through prlctl.")


def test_suggest_passes_rules_test_and_lint_flags_todos(scanned: tuple[Path, Path, dict], tmp_path: Path) -> None:
    log, report, data = scanned
    templates = data["unrecognised"]["templates"]
    assert len(templates) == 12
    out_dir = tmp_path / "drafts"
    for t in templates:
        out = run("rules", "suggest", t["id"], "--from", str(report), "-o", str(out_dir))
        assert out.returncode == 0, out.stderr
    assert len(list(out_dir.glob("*.yaml"))) == 12
    tested = run("rules", "test", str(out_dir))
    assert tested.returncode == 0, tested.stdout
    assert "12 rule(s)" in tested.stdout and " 0 failed" in tested.stdout
    lint = run("rules", "lint", str(out_dir), "--strict")
    assert lint.returncode == 1
    assert lint.stdout.count("is still a `todo` placeholder") == 12 * 6


def test_filled_draft_lints_clean_and_explains_its_lines(scanned: tuple[Path, Path, dict], tmp_path: Path) -> None:
    log, report, data = scanned
    (t,) = [t for t in data["unrecognised"]["templates"] if "Calling prlctl" in t["template"]]
    printed = run("rules", "suggest", t["id"], "--from", str(report))
    assert printed.returncode == 0, printed.stderr
    draft = printed.stdout
    assert "match:" in draft and "(?P<status>" not in draft and "(?P<job>" in draft
    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    rule_id = re.search(r"^id: (\S+)$", draft, re.M).group(1)
    filled = _fill(draft).replace("exit\\s+status\\s+(?P<id>", "exit\\s+status\\s+(?P<status>")
    (out_dir / f"{rule_id}.yaml").write_text(filled)
    lint = run("rules", "lint", str(out_dir), "--strict")
    assert lint.returncode == 0, lint.stdout
    assert run("rules", "test", str(out_dir)).returncode == 0
    after = json.loads(run("scan", str(log), "--rules", str(out_dir), "--format", "json", "--fail-on", "none").stdout)
    mine = [f for f in after["findings"] if f["rule_id"] == rule_id]  # one finding per distinct capture set
    assert mine and sum(f["count"] for f in mine) == t["count"]
    assert all(f["message"].startswith("prlctl exited with ") for f in mine)
    assert t["id"] not in {x["id"] for x in after["unrecognised"]["templates"]}
    assert after["unrecognised"]["templates_total"] == 11


def test_suggest_from_a_scan_and_errors(scanned: tuple[Path, Path, dict], tmp_path: Path) -> None:
    log, report, data = scanned
    tid = data["unrecognised"]["templates"][0]["id"]
    direct = run("rules", "suggest", tid, str(log))
    assert direct.returncode == 0 and f"rules suggest {tid}" in direct.stdout
    missing = run("rules", "suggest", "t000000000000", "--from", str(report))
    assert missing.returncode == 2 and "no template 't000000000000'" in missing.stderr
    assert run("rules", "suggest", tid, "--from", str(report), "-o", str(tmp_path)).returncode == 0
    again = run("rules", "suggest", tid, "--from", str(report), "-o", str(tmp_path))
    assert again.returncode == 2 and "exists already" in again.stderr
    (tmp_path / "bad.json").write_text("{")
    bad = run("rules", "suggest", tid, "--from", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "not a JSON report" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("template, line", [
    ("ERROR: Calling prlctl: exit status <ID> job=<ID>", "ERROR: Calling prlctl: exit status 3  job=42"),
    ("open <PATH>: permission denied", "open /var/lib/x/y.lock: permission denied"),
    ("Post <STR>: dial tcp <IP>: i/o timeout", 'Post "https://x.example/a b": dial tcp 10.0.0.1:443: i/o timeout'),
    ("a.b+c <*> [d]", "a.b+c anything [d]"),
])
def test_pattern_matches_what_the_template_was_made_from(template: str, line: str) -> None:
    assert re.search(pattern(template), line)
    assert expression(template).startswith("message ~ /") and "/" not in expression(template)[11:-1].replace("\\/", "")
