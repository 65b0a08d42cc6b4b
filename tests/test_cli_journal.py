"""`logsleuth journal` on real journal files built by systemd-journal-remote: the same findings by
every reader, journalctl's filters pushed down, cursors that survive SIGKILL, follow mode's signals."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HAVE_PYTHON_SYSTEMD, ROOT, needs_python_systemd

# Without python-systemd (the `journal` extra) only the journalctl fallback can run.
READERS = ("native", "journalctl") if HAVE_PYTHON_SYSTEMD else ("journalctl",)

pytestmark = pytest.mark.journal

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
FIXTURE = ROOT / "fixtures" / "journal" / "runner-failures.export"
BOOT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
T0 = 1710072000_000000  # 2024-03-10T12:00:00Z
CMD = [sys.executable, "-m", "logsleuth"]
MARKER_RULE = """\
id: marker-seen
title: A marker entry of the test journal
severity: minor
category: test
match: message ~ /marker (?P<tag>[g-z]+) done/
message: "marker {tag}"
description: One per marker entry, so a test can tell which entries were processed.
"""


def build_journal(export: bytes | Path, out: Path) -> Path:
    """A real journal file (or several: journal-remote rotates big ones) from an export stream."""
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        pytest.fail(f"{JOURNAL_REMOTE} is missing: apt-get install systemd-journal-remote (CI installs it)")
    data = export.read_bytes() if isinstance(export, Path) else export
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([JOURNAL_REMOTE, "--split-mode=none", "--compress=no", f"--output={out}", "-"], input=data,
                   check=True, capture_output=True)
    return out


def tag(i: int) -> str:
    """Entry number as letters g..z: fingerprints mask long digit runs and hex, not these."""
    s = ""
    while True:
        s, i = chr(ord("g") + i % 20) + s, i // 20
        if not i:
            return s


def synthetic_export(n: int, special_every: int = 100, marker_every: int = 50, start: int = 0) -> bytes:
    """n entries of unit other.service; every `special_every`-th of special.service, every
    `marker_every`-th says `marker <tag> done`."""
    parts = []
    for i in range(start, start + n):
        unit = "special.service" if i % special_every == 0 else "other.service"
        msg = f"marker {tag(i)} done" if i % marker_every == 0 else f"routine message number {i}"
        parts.append(f"__REALTIME_TIMESTAMP={T0 + i * 1000}\n__MONOTONIC_TIMESTAMP={1000 + i}\n_BOOT_ID={BOOT}\n"
                     f"_HOSTNAME=h\n_TRANSPORT=stdout\nSYSLOG_IDENTIFIER=app\n_PID=5\n_SYSTEMD_UNIT={unit}\n"
                     f"PRIORITY=6\nMESSAGE={msg}\n\n")
    return "".join(parts).encode()


def journal(*args: object, check_rc: tuple[int, ...] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CMD, "journal", *map(str, args)], capture_output=True, text=True, timeout=120,
                          **kw)  # type: ignore[call-overload]
    assert "Traceback" not in proc.stderr, proc.stderr
    if check_rc is not None:
        assert proc.returncode in check_rc, proc.stderr
    return proc


def findings(stdout: str) -> list[tuple[str, int]]:
    return sorted((f["rule_id"], f["count"]) for f in json.loads(stdout)["findings"])


@pytest.fixture(scope="module")
def runner_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_journal(FIXTURE, tmp_path_factory.mktemp("rj") / "runner.journal")


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    (d / "marker-seen.yaml").write_text(MARKER_RULE)
    return d


def test_every_reader_and_every_pipe_gives_the_same_findings(runner_journal: Path) -> None:
    native = journal("--file", runner_journal, "--format", "json", "--fail-on", "none", check_rc=(0,))
    fallback = journal("--file", runner_journal, "--reader", "journalctl", "--format", "json", "--fail-on", "none",
                       check_rc=(0,))
    want = findings(native.stdout)
    assert len(want) >= 6 and ("runner-jobs-forbidden", 1) in want and ("kernel-oom-killed-process", 1) in want
    assert findings(fallback.stdout) == want
    for mode in ("json", "short-iso"):
        rendered = subprocess.run(["journalctl", f"--file={runner_journal}", "--utc", "-o", mode], check=True,
                                  capture_output=True).stdout
        piped = subprocess.run([*CMD, "scan", "-", "--format", "json", "--fail-on", "none"], input=rendered,
                               capture_output=True, timeout=60)
        assert piped.returncode == 0, piped.stderr
        assert findings(piped.stdout.decode()) == want, mode


@needs_python_systemd  # reads through, or compares with, the native reader
def test_verbose_names_the_reader(runner_journal: Path) -> None:
    native = journal("--file", runner_journal, "-v", "-q", "--fail-on", "none", check_rc=(0,))
    assert "native journal reader (python-systemd)" in native.stderr
    fallback = journal("--file", runner_journal, "-v", "-q", "--fail-on", "none", "--reader", "journalctl",
                       check_rc=(0,))
    assert "journalctl -o export" in fallback.stderr


@needs_python_systemd  # reads through, or compares with, the native reader
@pytest.mark.parametrize("query, entries", [
    ({}, 11),                                    # the default: runner, docker, containerd units and the kernel
    ({"units": ("gitlab-runner",)}, 9),          # its own 8 lines + PID 1's message about the unit (UNIT=)
    ({"dmesg": True, "boot": "0"}, 2),           # -k (it implies -b)
    ({"identifiers": ("kernel", "systemd")}, 3),
    ({"priorities": "warning"}, 1),              # the runner logs everything at PRIORITY 6
    ({"priorities": "err..emerg"}, 1),           # the kernel's OOM kill is PRIORITY 3
    ({"since": "2024-03-10 12:00:05", "until": "2024-03-10T12:00:07Z"}, 3),
    ({"lines": 3}, 3),
    ({"boot": "0"}, 11),
    ({"boot": BOOT, "units": ("gitlab-runner.service",), "priorities": "info"}, 9),
    ({"units": ("gitlab-*",)}, 9),               # a glob: the units in the journal that match it
])
def test_filters_as_journalctl_takes_them(runner_journal: Path, query: dict[str, object], entries: int) -> None:
    from datetime import timezone

    from logsleuth.errors import Diagnostics
    from logsleuth.read import journal as jr
    from logsleuth.read import journalctl
    from logsleuth.read.cursor import Progress
    from logsleuth.read.timeexpr import parse_time

    q = dict(query, files=(str(runner_journal),))
    for key in ("since", "until"):
        if key in q:
            q[key] = parse_time(str(q[key]), timezone.utc)
    if "priorities" in q:
        q["priorities"] = jr.priority_values(str(q["priorities"]))
    jq = jr.JournalQuery(**q)  # type: ignore[arg-type]
    diag = Diagnostics()
    native = list(jr.native_records(jr.open_native(jq, diag), jq, "j", Progress(None, 1), diag))
    fallback = list(journalctl.records(jq, "j", Progress(None, 1), diag))
    assert [r.message for r in fallback] == [r.message for r in native]
    assert len(native) == entries and not diag.warnings


@needs_python_systemd  # reads through, or compares with, the native reader
def test_bad_filters_are_usage_errors(runner_journal: Path) -> None:
    for args, message in ((("-p", "loud"), "'loud' is not a priority"),
                          (("-b", "-3"), "-b -3: no such boot in the journal (1 boot(s))"),
                          (("-S", "soon"), "'soon' is not a time; accepted forms: "),
                          (("-S", "today", "-U", "yesterday"), "is not before --until")):
        out = journal("--file", runner_journal, *args, check_rc=(2,))
        assert message in out.stderr, out.stderr


@needs_python_systemd  # reads through, or compares with, the native reader
def test_no_entries_and_missing_journals_say_so(runner_journal: Path, tmp_path: Path) -> None:
    empty = journal("--file", runner_journal, "-u", "docker", check_rc=(4,))
    assert "-- No entries --" in empty.stderr
    for reader in READERS:
        missing = journal("--file", tmp_path / "none.journal", "--reader", reader, check_rc=(2,))
        assert "none.journal" in missing.stderr and ("no such" in missing.stderr.lower())
    bogus = tmp_path / "bogus.journal"
    bogus.write_text("not a journal\n")
    bad = journal("--file", bogus, check_rc=(2,))
    assert "not a readable journal" in bad.stderr


def test_unit_filter_is_pushed_down(tmp_path: Path, rules_dir: Path) -> None:
    # 1% of 20,000 entries belong to special.service: the reader returns only those.
    path = build_journal(synthetic_export(20_000), tmp_path / "j" / "pushed.journal")
    for reader in READERS:
        out = journal("-D", path.parent, "-u", "special", "--reader", reader, "--format", "json", "--fail-on", "none",
                      "--no-builtin", "--rules", rules_dir, check_rc=(0,))
        assert json.loads(out.stdout)["inputs"][0]["lines"] == 200


@pytest.mark.parametrize("reader", READERS)
def test_cursor_file_resumes_after_the_last_entry(tmp_path: Path, rules_dir: Path, reader: str) -> None:
    path = tmp_path / "j" / "grow.journal"
    build_journal(synthetic_export(500), path)
    cursor = tmp_path / "state" / "cursor"
    cursor.parent.mkdir()
    args = ("--file", path, "-t", "app", "--cursor-file", cursor, "--format", "json", "--no-builtin",
            "--rules", rules_dir, "--fail-on", "none", "--allow-empty", "--reader", reader)
    first = journal(*args, check_rc=(0,))
    assert json.loads(first.stdout)["inputs"][0]["lines"] == 500
    assert cursor.read_text().startswith("s=") and ";i=1f4;" in cursor.read_text()  # entry 500 (0x1f4)
    again = journal(*args, check_rc=(0,))
    assert json.loads(again.stdout)["inputs"][0]["lines"] == 0
    build_journal(synthetic_export(300, start=500), path)  # journal-remote appends
    more = journal(*args, check_rc=(0,))
    report = json.loads(more.stdout)
    assert report["inputs"][0]["lines"] == 300
    assert sorted(e["text"] for f in report["findings"] for e in f["evidence"])[:1] == [f"marker {tag(500)} done"]


def test_a_cursor_rotated_away_warns_and_starts_from_the_oldest(tmp_path: Path, rules_dir: Path) -> None:
    old = build_journal(synthetic_export(10), tmp_path / "old" / "old.journal")
    new = build_journal(synthetic_export(20, start=1000), tmp_path / "new" / "new.journal")
    for reader in READERS:
        cursor = tmp_path / f"cursor-{reader}"
        common = ("-t", "app", "--cursor-file", cursor, "--reader", reader, "--format", "json", "--no-builtin",
                  "--rules", rules_dir, "--fail-on", "none")
        journal("--file", old, *common, check_rc=(0,))
        out = journal("--file", new, *common, check_rc=(0,))
        assert "is not in the journal (rotated away?): starting from the oldest entry" in out.stderr, reader
        assert json.loads(out.stdout)["inputs"][0]["lines"] == 20, reader  # none lost at the start
        cursor.write_text("garbage\n")
        bad = journal("--file", new, *common, check_rc=(0,))
        assert "starting from the oldest entry" in bad.stderr and json.loads(bad.stdout)["inputs"][0]["lines"] == 20


def _seqnum(cursor: str) -> int:
    """The entry's sequence number, the `i=` part of a journal cursor (hex)."""
    return int(dict(part.split("=", 1) for part in cursor.strip().split(";"))["i"], 16)


def test_sigkill_at_any_moment_loses_and_repeats_no_entry(tmp_path: Path, rules_dir: Path) -> None:
    n, batch = 200_000, 2048
    build_journal(synthetic_export(n), tmp_path / "j" / "big.journal")  # rotated into two files on the way
    cursor = tmp_path / "cursor"
    args = [*CMD, "journal", "-D", tmp_path / "j", "-t", "app", "--cursor-file", cursor, "--format", "json",
            "--no-builtin", "--rules", rules_dir, "--fail-on", "none", "--allow-empty"]
    starts, ends = [], []
    for delay in (0.0, 0.15, 0.3):
        before = _seqnum(cursor.read_text()) if cursor.exists() else 0
        proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        # Kill it part-way: once it has committed a batch of its own, after a varying extra moment.
        while not (cursor.exists() and _seqnum(cursor.read_text()) > before) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        after = _seqnum(cursor.read_text())
        assert before < after < n
        # Committed only after whole batches: what the cursor names was matched.
        assert (after - before) % batch == 0, (before, after)
        starts.append(before)
        ends.append(after)
    last = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert last.returncode == 0, last.stderr
    report = json.loads(last.stdout)
    # The last run starts right after the last committed entry and reads to the end.
    assert report["inputs"][0]["lines"] == n - ends[-1]
    assert _seqnum(cursor.read_text()) == n
    assert starts[1:] == ends[:-1] and starts[0] == 0  # each run began where the one before committed
    # ...and matches every one of those entries (entry i has sequence number i + 1).
    assert sum(f["count"] for f in report["findings"]) == sum(1 for i in range(ends[-1], n) if i % 50 == 0)


def _read_line(stream: object, timeout: float) -> str | None:
    import select

    fd = stream.fileno()  # type: ignore[attr-defined]
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        buf += chunk
    return buf.decode()


def test_follow_prints_new_findings_as_they_fire_and_sigterm_ends_with_the_report(tmp_path: Path,
                                                                                 rules_dir: Path) -> None:
    path = build_journal(synthetic_export(60), tmp_path / "j" / "follow.journal")
    cursor = tmp_path / "cursor"
    proc = subprocess.Popen([*CMD, "journal", "--file", str(path), "-t", "app", "-f", "-n", "100", "--format", "ndjson",
                             "--no-builtin", "--rules", str(rules_dir), "--fail-on", "none", "--cursor-file", str(cursor)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        seen = [json.loads(line)["message"] for line in (_read_line(proc.stdout, 20), _read_line(proc.stdout, 5)) if line]
        assert seen == [f"marker {tag(0)}", f"marker {tag(50)}"]
        build_journal(synthetic_export(1, start=4000), path)  # appended while it follows
        sent = time.monotonic()
        line = _read_line(proc.stdout, 10)
        assert line is not None and json.loads(line)["message"] == f"marker {tag(4000)}"
        assert time.monotonic() - sent < 5
        deadline = time.monotonic() + 10  # an idle follower keeps the cursor at the newest processed entry
        while not (cursor.exists() and _seqnum(cursor.read_text()) == 61) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _seqnum(cursor.read_text()) == 61
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "Traceback" not in err.decode()
    final = [json.loads(line) for line in rest.splitlines()]
    assert sorted(f["message"] for f in final) == sorted([f"marker {tag(0)}", f"marker {tag(50)}", f"marker {tag(4000)}"])
    assert proc.returncode == 0


JOURNAL_FIELD_RULE = """\
id: special-unit
title: A marker of special.service
severity: minor
category: test
match: _SYSTEMD_UNIT == "special.service" and _TRANSPORT == "stdout" and PRIORITY <= 6 and message ~ /marker (?P<tag>[g-z]+)/
message: "special {tag} on {_HOSTNAME} boot {_BOOT_ID} by {SYSLOG_IDENTIFIER}"
description: Uses the journal's own fields.
"""


def test_rules_use_journal_fields_and_lint_says_which_formats_carry_them(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "special-unit.yaml").write_text(JOURNAL_FIELD_RULE)
    path = build_journal(synthetic_export(300), tmp_path / "j" / "fields.journal")
    for reader in READERS:
        out = journal("--file", path, "-t", "app", "--reader", reader, "--no-builtin", "--rules", rules, "--format",
                      "json", "--fail-on", "none", check_rc=(0,))
        messages = sorted(f["message"] for f in json.loads(out.stdout)["findings"])
        # entries 0, 100 and 200 are special.service's and markers
        assert messages == sorted(f"special {tag(i)} on h boot {BOOT} by app" for i in (0, 100, 200)), reader
    lint = subprocess.run([*CMD, "rules", "lint", str(rules), "--no-builtin"], capture_output=True, text=True, timeout=60)
    assert ("fields PRIORITY, _SYSTEMD_UNIT, _TRANSPORT: carried by journal inputs only (journal, export, json, "
            "json-pretty, json-seq, json-sse, verbose)") in lint.stdout + lint.stderr


def _exec_start(unit: Path) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    return line.split("=", 1)[1].split()


@needs_python_systemd  # reads through, or compares with, the native reader
@pytest.mark.parametrize("unit", ["logsleuth-watch.service", "logsleuth-scan.service", "logsleuth-scan.timer"])
def test_contrib_units_verify_and_their_commands_run(tmp_path: Path, runner_journal: Path, unit: str) -> None:
    src = ROOT / "contrib" / "systemd"
    exe = Path(sys.executable).with_name("logsleuth")
    for name in os.listdir(src):
        (tmp_path / name).write_text((src / name).read_text().replace("/usr/local/bin/logsleuth", str(exe)))
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / unit)], capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    if not unit.endswith(".service"):
        return
    state = tmp_path / "state"
    state.mkdir()
    argv = [a.replace("/var/lib/logsleuth", str(state)) for a in _exec_start(tmp_path / unit)]
    argv += [f"--file={runner_journal}", "--since=2024-01-01"]  # the fixture's entries are from 2024
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if "--follow" in argv:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "Usage:" not in err, err
    follow = "--follow" in argv
    summary = out if follow else (state / "report.txt").read_text()  # the watcher's report on SIGTERM
    assert "logsleuth: 5 incidents, worst CRITICAL" in summary
    if not follow:
        assert json.loads((state / "report.json").read_text())["summary"]["incidents"] == 5
    assert _seqnum((state / ("watch.cursor" if follow else "scan.cursor")).read_text()) == 11


def test_an_unreadable_journal_gives_the_permission_hint(runner_journal: Path, tmp_path: Path) -> None:
    import shutil

    locked = tmp_path / "locked.journal"
    shutil.copy(runner_journal, locked)
    locked.chmod(0)
    # root reads anything: drop to nobody for the check (setpriv, util-linux)
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    for reader in READERS:
        proc = subprocess.run([*prefix, *CMD, "journal", "--file", str(locked), "--reader", reader, "-q"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "Permission denied" in proc.stderr and "group systemd-journal (or adm)" in proc.stderr, reader
