"""The cross-file summary (report/summary.py): by category, by host, per day, and the inputs with
problems, in every report format, over the batch fixture tree (two hosts, rotated and compressed
files, one corrupt archive)."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT

from logsleuth.model import InputProblem, Report, Spread
from logsleuth.report.summary import BAR_WIDTH, NO_HOST, Tally, summarize

SCHEMA = ROOT / "logsleuth" / "report" / "schemas" / "report.schema.json"


def scan(cmd: list[str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, "scan", *map(str, args), "--fail-on", "none", "-j", "1"],
                          capture_output=True, text=True, timeout=120)


def _report(by_hour: tuple[tuple[str, str, int], ...], by_host: tuple[tuple[str, str, int], ...] = ()) -> Report:
    return Report(findings=(), rules=(), spread=Spread(by_host=by_host, by_hour=by_hour))


def test_timeline_keeps_empty_days_and_scales_bars() -> None:
    s = summarize(_report((("2024-03-01T10", "dns", 4), ("2024-03-01T11", "dns", 4), ("2024-03-04T00", "oom-kill", 2)),
                          (("a", "dns", 8), ("b", "oom-kill", 2))))
    assert [(d.label, d.total) for d in s.by_day] == [("2024-03-01", 8), ("2024-03-02", 0), ("2024-03-03", 0),
                                                        ("2024-03-04", 2)]
    assert len(s.by_day[0].bar) == BAR_WIDTH and s.by_day[1].bar == "" and len(s.by_day[3].bar) == BAR_WIDTH // 4
    assert [(h.label, h.total) for h in s.by_host] == [("a", 8), ("b", 2)]
    assert [h.label for h in s.by_hour] == ["2024-03-01T10", "2024-03-01T11", "2024-03-04T00"]
    assert s.total == 10 and s.categories == ("dns", "oom-kill") and s.step == "day"


def test_a_long_timeline_is_folded_into_weeks() -> None:
    s = summarize(_report((("2020-01-01T00", "dns", 1), ("2021-12-31T23", "dns", 1))))
    assert s.step == "week" and len(s.by_day) == -(-731 // 7)  # 2020 + 2021, in weeks
    assert sum(d.total for d in s.by_day) == 2 and s.by_day[0].label == "2020-01-01"


def test_tallies_merge_in_any_order_to_the_same_spread(tree: Path) -> None:
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.ruleset import load

    rules = load()
    report = analyze([str(tree)], rules, ScanOptions())
    assert report.spread.by_host and report.spread.by_hour
    halves = []
    for part in (report.spread.by_hour[::2], report.spread.by_hour[1::2]):
        t = Tally()
        for hour, cat, n in part:
            t.by_hour[(hour, cat)] += n
        halves.append(t)
    a, b = Tally(), Tally()
    a.merge(halves[0]); a.merge(halves[1])
    b.merge(halves[1]); b.merge(halves[0])
    assert a.spread() == b.spread() and a.spread().by_hour == report.spread.by_hour


def test_json_summary_over_the_tree(logsleuth_cmd: list[str], tree: Path) -> None:
    out = scan(logsleuth_cmd, tree, "--format", "json")
    assert out.returncode == 3, out.stderr  # the corrupt archive: input problems
    data = json.loads(out.stdout)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    across = data["across"]
    # every match once: the sum over hosts, categories and days agree
    assert across["matches"] == sum(h["matches"] for h in across["by_host"]) == \
        sum(c["matches"] for c in across["by_category"]) == sum(d["matches"] for d in across["by_day"])
    assert [h["host"] for h in across["by_host"]] == ["ci-runner-1", "ci-runner-2"]
    # host 1's ten connectivity matches: five 404s counted by two rules, across syslog.1 -> syslog
    assert across["by_host"][0]["by_category"]["runner-connectivity"] == 10
    assert "runner-connectivity" not in across["by_host"][1]["by_category"]
    days = [d["day"] for d in across["by_day"]]
    assert days == sorted(days) and days[0] == "2024-03-05" and days[-1] == "2024-03-10"
    assert {d["day"]: d["matches"] for d in across["by_day"]}["2024-03-09"] == 6  # 3 lines x 2 rules
    problems = across["inputs_with_problems"]
    assert [p["path"] for p in problems] == [str(tree / "ci-runner-1x-export.tar.gz")]
    assert "gzip" in problems[0]["message"]
    # the scan went on past the corrupt archive: host 2's files were read
    assert any(f["evidence"][0]["path"].startswith(str(tree / "ci-runner-2")) for f in data["findings"])


def test_text_report_has_histograms_and_the_problem_inputs(logsleuth_cmd: list[str], tree: Path) -> None:
    out = scan(logsleuth_cmd, tree)
    text = out.stdout
    assert "Across 10 inputs" in text and "by host:" in text and "per day (UTC):" in text
    day_lines = [line.split() for line in text.splitlines() if line.startswith("    2024-03-")]
    assert [d[0] for d in day_lines] == [f"2024-03-{n:02d}" for n in range(5, 11)]
    biggest = max(day_lines, key=lambda d: int(d[1]))
    assert biggest[2] == "#" * BAR_WIDTH
    assert "Inputs with problems: 1 of 10" in text and "ci-runner-1x-export.tar.gz" in text


def test_markdown_report_has_the_tables(logsleuth_cmd: list[str], tree: Path) -> None:
    md = scan(logsleuth_cmd, tree, "--format", "markdown").stdout
    assert "#### Across 10 inputs" in md and "| Host | Matches | By category |" in md
    assert "| ci-runner-1 | 17 |" in md  # the job's "exit code 137" verdict counts as job-failed too
    assert "| Day (UTC) | Matches | config-toml | job-failed | oom-kill | runner-connectivity | tls-x509 |" in md
    assert "| 2024-03-09 | 6 |  |  |  | 6 |  |" in md
    assert "#### Inputs with problems" in md


def test_a_single_input_report_stays_as_it_was(logsleuth_cmd: list[str]) -> None:
    out = scan(logsleuth_cmd, ROOT / "fixtures" / "sample" / "runner-outage.log")
    assert "Across" not in out.stdout and "Inputs with problems" not in out.stdout


def test_entries_without_host_or_time() -> None:
    from logsleuth.findings.correlate import Match
    from logsleuth.match.engine import Hit
    from logsleuth.model import Origin, Record
    from logsleuth.ruleset import load

    rule = load()[0]
    t = Tally()
    for ts in (None, datetime(2024, 3, 10, 23, 59, tzinfo=timezone.utc)):
        record = Record(message="m", origin=Origin("x", 1), format="plain", ts=ts)
        t.add(Match(rule, Hit(probe=None, record=record, captures={})))  # type: ignore[arg-type]
    spread = t.spread()
    assert spread.untimed == 1 and spread.by_host == ((NO_HOST, rule.info.category, 2),)
    assert spread.by_hour == (("2024-03-10T23", rule.info.category, 1),)
    assert summarize(Report((), (), spread=spread, problems=(InputProblem("p", "bad"),))).problems[0].path == "p"
