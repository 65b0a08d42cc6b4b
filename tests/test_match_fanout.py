"""Files and archive members over worker processes (match/fanout.py): `-j 4` gives the same report as
`-j 1` over a tree of plain, .gz, .zst, .tar.gz and rotated files from two hosts with a corrupt
archive between them; windows span rotation boundaries; recoveries are found across files."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import build_tree

from logsleuth.match import fanout
from logsleuth.pipeline import ScanOptions, analyze
from logsleuth.ruleset import load

FORMATS = ("json", "text", "markdown", "sarif", "junit", "codequality", "html")
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ(?=\"| by logsleuth)")  # generated_at, the only wall-clock value


def _reports(cmd: list[str], tree: Path, out: Path, jobs: int) -> dict[str, str]:
    out.mkdir()
    specs = [a for fmt in FORMATS[1:] for a in ("--report", f"{fmt}={out / fmt}")]
    run = subprocess.run([*cmd, "scan", str(tree), "--fail-on", "none", "-j", str(jobs), "--format", "json",
                          "-o", str(out / "json"), "--no-progress", *specs], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 3, run.stderr  # the corrupt archive
    return {fmt: (out / fmt).read_text() for fmt in FORMATS}


def test_j4_is_byte_identical_to_j1(logsleuth_cmd: list[str], tree: Path, tmp_path: Path) -> None:
    one = _reports(logsleuth_cmd, tree, tmp_path / "j1", 1)
    four = _reports(logsleuth_cmd, tree, tmp_path / "j4", 4)
    for fmt in FORMATS:
        assert _STAMP.sub("T", four[fmt]) == _STAMP.sub("T", one[fmt]), fmt
    report = json.loads(one["json"])
    paths = [i["path"] for i in report["inputs"]]
    host1 = [p.split("/ci-runner-1/")[1] for p in paths if "/ci-runner-1/" in p]
    host2 = [p.split("/ci-runner-2/")[1] for p in paths if "/ci-runner-2/" in p]
    assert host1 == ["syslog.3.gz", "syslog.2.zst", "syslog.1", "syslog"]  # rotation order, oldest first
    assert host2 == ["old-logs.tar.gz!var/log/syslog.1", "old-logs.tar.gz!var/log/syslog", "syslog-20240308.gz",
                     "syslog-20240309", "syslog"]
    by_rule = {i["rule_id"]: i for i in report["incidents"]}
    # the threshold (5 in 10 minutes) is reached only across the rotation syslog.1 -> syslog
    threshold = {f["rule_id"]: f for f in report["findings"]}["runner-jobs-failing-repeatedly"]
    assert threshold["count"] == 5
    assert [e["path"].rsplit("/", 1)[1] for e in threshold["evidence"]] == ["syslog.1"] * 3 + ["syslog"] * 2
    # the x509 failures of earlier files recover in host 2's last syslog: a worker alone cannot know
    assert by_rule["tls-unknown-authority"]["status"] == "recovered"
    assert report["across"]["inputs_with_problems"][0]["path"].endswith("ci-runner-1x-export.tar.gz")


def test_the_inputs_really_go_to_workers(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = fanout._matched

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        matched = real(*args, **kwargs)
        if matched is not None:  # an archive's listing (its first result) is of no input
            seen.append(matched.name)
        return matched

    monkeypatch.setattr(fanout, "_matched", spy)
    rules = load()
    parallel_report = analyze([str(tree)], rules, ScanOptions(jobs=3))
    assert len(seen) == 10 and any("!" in name for name in seen)  # files and archive members
    serial = analyze([str(tree)], rules, ScanOptions(jobs=1))
    assert len(seen) == 10  # -j 1: no worker
    assert parallel_report.findings == serial.findings and parallel_report.incidents == serial.incidents
    assert parallel_report.spread == serial.spread and parallel_report.warnings == serial.warnings
    assert parallel_report.inputs == serial.inputs


def test_without_the_recovery_lookup_the_report_would_differ(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The parent's look for recoveries of failures armed in earlier files is what keeps -j N exact.
    rules = load()
    serial = analyze([str(tree)], rules, ScanOptions(jobs=1))
    monkeypatch.setattr(fanout, "_recoveries", lambda *args: [])
    blind = analyze([str(tree)], rules, ScanOptions(jobs=2))
    assert blind.incidents != serial.incidents


def test_merging_recoveries_keeps_line_order() -> None:
    from logsleuth.match.engine import Hit, Tick
    from logsleuth.model import Origin, Record

    def hits(line: int, probe: object) -> tuple[Hit, ...]:
        record = Record(message="m", origin=Origin("x", line), format="plain")
        return (Hit(probe=probe, record=record, captures={}),)  # type: ignore[arg-type]

    a, b = object(), object()
    tick = Tick.__new__(Tick)
    events = [hits(2, a), tick, hits(5, a), hits(9, a)]
    merged = fanout._with_recoveries(events, [hits(1, b), hits(5, b), hits(7, b), hits(12, b)])
    lines = [e[0].record.origin.line if isinstance(e, tuple) else "t" for e in merged]
    assert lines == [1, 2, "t", 5, 7, 9, 12]
    assert len(merged[3]) == 2  # line 5: the worker's hit and the recovery, one record


def test_since_and_until_skip_whole_files(tree: Path, tmp_path: Path) -> None:
    import os
    import shutil
    from datetime import datetime, timezone

    copy = Path(shutil.copytree(tree, tmp_path / "tree"))
    old = datetime(2024, 3, 8, tzinfo=timezone.utc).timestamp()
    for name in ("ci-runner-1/syslog.3.gz", "ci-runner-2/syslog-20240308.gz"):  # last written 2024-03-08
        os.utime(copy / name, (old, old))
    late = copy / "ci-runner-2" / "syslog.0-next"  # its first entry is after --until
    late.write_text(build_tree.CONFIG.format(ts="2024-03-11T00:00:00+0000", host="ci-runner-2") + "\n")
    rules = load()
    window = {"since": datetime(2024, 3, 9, 12, tzinfo=timezone.utc), "until": datetime(2024, 3, 10, 4, tzinfo=timezone.utc)}
    reports = [analyze([str(copy)], rules, ScanOptions(jobs=j, **window)) for j in (1, 3)]
    read = {i.path.split("/tree/")[1] for i in reports[0].inputs}
    assert not read & {"ci-runner-1/syslog.3.gz", "ci-runner-2/syslog-20240308.gz", "ci-runner-2/syslog.0-next"}
    assert {"ci-runner-1/syslog.1", "ci-runner-1/syslog", "ci-runner-2/syslog"} <= read
    assert any(w.startswith("3 files not read: wholly outside --since/--until") for w in reports[0].warnings)
    assert reports[0].findings == reports[1].findings and reports[0].warnings == reports[1].warnings
    # what was read still honours the window entry by entry: the threshold across syslog.1 -> syslog stays
    assert "runner-jobs-failing-repeatedly" in {f.rule_id for f in reports[0].findings}
    assert all(f.first_seen is None or f.first_seen >= window["since"] for f in reports[0].findings)


def test_inputs_read_by_the_parent_keep_the_armed_failures(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With a tiny "big file" size, the uncompressed files stay in the parent (parallel.py's) and the
    # compressed ones and members go to workers: failures armed on either side recover on the other.
    from logsleuth.match import parallel

    monkeypatch.setattr(parallel, "MIN_SIZE", 200)
    rules = load()
    serial = analyze([str(tree)], rules, ScanOptions(jobs=1))
    mixed = analyze([str(tree)], rules, ScanOptions(jobs=3))
    assert mixed.incidents == serial.incidents and mixed.findings == serial.findings
    assert "recovered" in {i.status for i in serial.incidents}


def test_small_inputs_go_to_workers_in_batches_and_an_archive_alone(tmp_path: Path) -> None:
    """Many small files cost one round trip to a worker per batch, not one each (10,000 files of
    20 KB: -j 2 took 9.1 s with a task per file, 4.4 s batched; -j 1 4.2 s)."""
    from logsleuth.read import inputs

    listed = []
    for n in range(150):
        p = tmp_path / f"f{n:03d}.log"
        p.write_bytes(b"x\n" * 10)
        listed.append((inputs.Input(str(p), str(p)), None))
    big = tmp_path / "big.log"
    big.write_bytes(b"y" * (3 << 20))
    listed.insert(70, (inputs.Input(str(big), str(big)), None))
    listed.insert(10, (inputs.Input("a.tgz", "a.tgz", "archive"), None))
    sizes = {i: fanout._fanned(inp) for i, (inp, _) in enumerate(listed)}
    assert None not in sizes.values()  # small files, a member-less archive: all go to workers
    batches = fanout._batches(sizes)  # type: ignore[arg-type]
    assert [i for b in batches for i in b] == list(range(len(listed)))  # every input once, in order
    assert all(len(b) <= fanout._BATCH_INPUTS for b in batches)
    assert [10] in batches  # the archive inflates to many members: a task of its own
    with_big = next(b for b in batches if 71 in b)
    assert sum(Path(listed[i][0].path).stat().st_size for i in with_big if listed[i][0].kind == "file") <= fanout._BATCH_BYTES
