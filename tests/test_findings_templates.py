"""Unrecognised errors: masking, the Drain miner, stable template ids, the report section and its gates."""
from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from logsleuth import ruleset
from logsleuth.findings.templates import Miner, mask, template_id
from logsleuth.match import parallel
from logsleuth.model import ErrorTemplate, Evidence, Report, Unexplained
from logsleuth.pipeline import ScanOptions, analyze
from logsleuth.report.options import RenderOptions
from logsleuth.report.render import render as _render

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "unrecognised"
HEALTHY = ROOT / "fixtures" / "healthy"
BUNDLED = ruleset.load()

_HOLES = {
    "{n}": lambda r: str(r.randint(1, 99999)),
    "{ip}": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "{port}": lambda r: str(r.randint(1024, 65535)),
    "{id}": lambda r: "%08x" % r.getrandbits(32),
    "{path}": lambda r: "/builds/" + r.choice(["group", "ops", "web"]) + "/" + r.choice(["app", "api", "site-2"]),
    "{dur}": lambda r: r.choice(["30s", "1m0s", "2m30.5s", "500ms"]),
    "{hex}": lambda r: "%016x" % r.getrandbits(64),
}


def shapes() -> list[str]:
    return [l for l in (FIXTURES / "shapes.txt").read_text().splitlines() if l and not l.startswith("#")]


def generate(path: Path, n: int = 5000, seed: int = 1, reverse: bool = False) -> list[int]:
    """`n` short-iso runner lines of the twelve shapes with random holes; returns each line's shape index."""
    rnd, kinds, lines = random.Random(seed), [], []
    for i in range(n):
        k = rnd.randrange(len(shapes()))
        line = shapes()[k]
        for hole, value in _HOLES.items():
            while hole in line:
                line = line.replace(hole, value(rnd), 1)
        kinds.append(k)
        lines.append(f"2026-03-10T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+0000 ci{1 + i % 3} "
                     f"gitlab-runner[812]: {line}")
    if reverse:
        lines.reverse()
        kinds.reverse()
    path.write_text("\n".join(lines) + "\n")
    return kinds


def run(*args: str) -> subprocess.CompletedProcess[str]:
    import sys
    return subprocess.run([sys.executable, "-m", "logsleuth", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def twelve(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], Report]:
    path = tmp_path_factory.mktemp("u") / "unrecognised.log"
    kinds = generate(path)
    return path, kinds, analyze([str(path)], BUNDLED, ScanOptions(jobs=1))


@pytest.mark.parametrize("message, masked", [
    ('Post "https://gitlab.example.com/api/v4/jobs/request": EOF', "Post <STR>: EOF"),
    ("dial tcp 10.0.0.7:443: i/o timeout", "dial tcp <IP>: i/o timeout"),
    ("open /builds/group/app/job-1234.log: permission denied", "open <PATH>: permission denied"),
    ("session 3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c expired", "session <UUID> expired"),
    ("runner=abcd1234 job=987654 took 2m30.5s", "runner=<ID> job=<ID> took <DUR>"),
    ("fetching https://registry.example.com/v2/ failed", "fetching <URL> failed"),
    ("addr=0x0 pc=0x1a2b3c4", "addr=<HEX> pc=<HEX>"),
    ("lookup gitlab.example.com:443 failed", "lookup <HOSTPORT> failed"),
])
def test_mask(message: str, masked: str) -> None:
    assert mask(message) == masked


def test_twelve_shapes_give_twelve_templates_with_their_counts(twelve: tuple[Path, list[int], Report]) -> None:
    path, kinds, report = twelve
    templates = report.unexplained.templates
    assert report.findings == () and report.unexplained.count == 5000
    assert len(templates) == 12
    lines = path.read_text().splitlines()
    for t in templates:  # every example of a template is of one shape, and the template counts all of it
        shape = {kinds[e.line - 1] for e in t.examples}
        assert len(shape) == 1 and lines[t.examples[0].line - 1].endswith(t.examples[0].text.split(": ", 1)[1])
        assert t.count == kinds.count(shape.pop())
        assert len(t.examples) == 3 and t.hosts == ("ci1", "ci2", "ci3") and t.units == ("gitlab-runner",)
        assert t.first_seen is not None and t.last_seen is not None and t.first_seen < t.last_seen
    assert len({t.id for t in templates}) == 12


def test_ids_stable_across_runs_order_and_workers(twelve: tuple[Path, list[int], Report], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, first = twelve
    ids = {t.id: t.count for t in first.unexplained.templates}
    again = analyze([str(path)], BUNDLED, ScanOptions(jobs=1))
    assert {t.id: t.count for t in again.unexplained.templates} == ids
    backwards = tmp_path / "reversed.log"
    generate(backwards, reverse=True)
    assert {t.id: t.count for t in analyze([str(backwards)], BUNDLED).unexplained.templates} == ids
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)  # the worker path, on a file small enough for a test
    assert {t.id: t.count for t in analyze([str(path)], BUNDLED, ScanOptions(jobs=2)).unexplained.templates} == ids


def test_id_is_a_hash_of_the_template_only() -> None:
    # Pinned: the id must not change with logsleuth's version or anything but the template text.
    assert template_id("panic: runtime error: invalid memory address or nil pointer dereference") == "ta121ef10615b"


def test_panic_one_liner_is_reported_not_no_findings() -> None:
    out = run("scan", str(FIXTURES / "panic.log"))
    assert out.returncode == 5, out.stderr
    assert "no findings" not in out.stdout
    assert "Unrecognised errors" in out.stdout
    assert "panic: runtime error: invalid memory address or nil pointer dereference" in out.stdout
    data = json.loads(run("scan", str(FIXTURES / "panic.log"), "--format", "json").stdout)
    (t,) = data["unrecognised"]["templates"]
    assert t["id"] == "ta121ef10615b" and t["count"] == 1
    assert t["examples"][0]["path"].endswith("panic.log") and t["examples"][0]["line"] == 1


@pytest.mark.parametrize("name", sorted(p.name for p in HEALTHY.iterdir()))
def test_healthy_fixtures_give_no_template(name: str) -> None:
    report = analyze([str(HEALTHY / name)], BUNDLED)
    texts = [e.text for t in report.unexplained.templates for e in t.examples]
    if name == "sshd-pam.auth.log":
        # Internet noise against sshd (failed logins, resets) is real failure wording; only sshd says it.
        assert texts and all(" sshd[" in t for t in texts)
    else:
        assert texts == []


@pytest.mark.parametrize("message", ["job finished error_count=0", "no errors", "Job succeeded failed=0",
                                     "error_reporting = E_ALL", "timeout=3600 set", "0 failed, 3 passed"])
def test_benign_wordings_are_not_errors(tmp_path: Path, message: str) -> None:
    log = tmp_path / "ok.log"
    log.write_text(f"2026-03-10T12:00:00+0000 ci1 gitlab-runner[812]: {message}\n")
    assert analyze([str(log)], BUNDLED).unexplained.templates == ()


def test_debug_level_is_not_an_error(tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    log.write_text('time="2026-03-10T12:00:00Z" level=debug msg="Failed to load cache, will retry"\n'
                   'time="2026-03-10T12:00:01Z" level=error msg="Failed to load cache, giving up"\n')
    (t,) = analyze([str(log)], BUNDLED).unexplained.templates
    assert "giving up" in t.template


def test_memory_is_bounded_and_drops_counted() -> None:
    miner = Miner(max_templates=5)
    for i, line in enumerate(shapes() * 3):
        miner.add(line.replace("{", "").replace("}", ""), Evidence("x.log", i + 1, line))
    kept = miner.templates()
    # Twelve shapes cycling through five slots: each is evicted (least recently seen) before it returns.
    assert len(kept) == 5 and miner.evicted == 31 and miner.dropped == 31
    assert sum(t.count for t in kept) + miner.dropped == 36


def render(report: Report, fmt: str) -> str:
    return _render(report, fmt, options=RenderOptions())


def _report(n: int) -> Report:
    ts = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    templates = tuple(ErrorTemplate(template_id(f"ERROR: Listing existing vms: exit status <ID> {'x ' * k}"),
                                    f"ERROR: Listing existing vms: exit status <ID> {'x ' * k}", 100 - k, ts, ts,
                                    ("ci1",), ("gitlab-runner",), (Evidence("a.log", k + 1, "ERROR: Listing"),))
                      for k in range(n))
    return Report(findings=(), rules=(), unexplained=Unexplained(sum(t.count for t in templates), (), templates, 3))


def test_top_twenty_shown_and_the_rest_counted() -> None:
    report = _report(25)
    data = json.loads(render(report, "json"))
    section = data["unrecognised"]
    assert len(section["templates"]) == 20 and section["more"] == 5 and section["templates_total"] == 25
    assert section["more_lines"] == sum(100 - k for k in range(20, 25)) and section["dropped"] == 3
    assert section["new"] is None and all(t["baseline"] is None for t in section["templates"])
    text = render(report, "text")
    assert "... 5 more templates (" in text and "3 lines not in a template" in text
    md = render(report, "markdown")
    assert "#### Unrecognised errors" in md and "_5 more templates" in md
    assert md.count("| `t") == 20


@pytest.mark.parametrize("fmt", ["codequality", "junit", "sarif"])
def test_not_in_ci_artifacts(fmt: str) -> None:
    out = render(_report(3), fmt)
    assert "Listing existing vms" not in out


def test_fail_on_unrecognised(tmp_path: Path) -> None:
    generate(tmp_path / "small.log", n=600)  # every shape appears in 600 lines
    path = str(tmp_path / "small.log")
    assert run("scan", path, "-q", "--fail-on-unrecognised", "11").returncode == 1
    assert run("scan", path, "-q", "--fail-on-unrecognised", "12").returncode == 0
    assert run("scan", path, "-q").returncode == 5
    assert run("scan", path, "-q", "--fail-on-unrecognised", "-1").returncode == 2


def test_report_unrecognised_puts_templates_into_ci_artifacts(tmp_path: Path) -> None:
    panic = str(FIXTURES / "panic.log")
    out = run("scan", panic, "--format", "codequality", "--report-unrecognised",
              "--report", f"sarif={tmp_path / 'r.sarif'}", "--report", f"junit={tmp_path / 'r.xml'}")
    assert out.returncode == 5, out.stderr  # the verdict is the scan's: only unexplained lines
    (issue,) = json.loads(out.stdout)
    assert issue["check_name"] == "unrecognised-error" and issue["severity"] == "info"
    assert issue["location"]["lines"]["begin"] == 1 and "rules suggest ta121ef10615b" in issue["content"]["body"]
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["unrecognised-error"]
    assert "nil pointer dereference" in (tmp_path / "r.xml").read_text()
    plain = run("scan", panic, "--format", "codequality")
    assert json.loads(plain.stdout) == []


def test_a_huge_message_is_mined_by_its_head() -> None:
    miner = Miner()
    head = "panic: runtime error: index out of range [5] with length 3"
    miner.add(head + "\n" + "    goroutine 1 [running]:\n" * 200_000, Evidence("x.log", 1, head))
    miner.add(head.replace("[5]", "[7]") + "\n" + "    goroutine 9 [running]:\n" * 100, Evidence("x.log", 9, head))
    (t,) = miner.templates()
    assert t.count == 2 and t.template.startswith("panic: runtime error: index out of range [<ID>] with length <ID>")
    assert len(t.template.split()) <= 80
