"""The matcher: both prefilter backends and both paths (raw blocks, parsed records) give the same findings."""
from __future__ import annotations

import random

import pytest
from conftest import BACKENDS, make_rules, needs_hyperscan, short_iso

from logsleuth.read import inputs
from logsleuth import ruleset
from logsleuth.findings.aggregate import Aggregator
from logsleuth.findings.correlate import Correlator
from logsleuth.match.engine import Engine
from logsleuth.errors import Diagnostics
from logsleuth.authoring.examples import findings_for

BUNDLED = ruleset.load()
NOISE = [
    "systemd[1]: Started Session 42 of User root.",
    "sshd[2211]: Accepted publickey for deploy from 10.1.2.3 port 52214 ssh2",
    "CRON[3100]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    "gitlab-runner[812]: Checking for jobs... received   job=991 repo_url=https://gitlab.example.com/g/p.git runner=abcd1234",
    "gitlab-runner[812]: Job succeeded   duration_s=42.1 job=991 project=7 runner=abcd1234",
    "kernel: docker0: port 1(veth12ab) entered forwarding state",
    "dockerd[700]: time=\"2024-03-10T12:00:00Z\" level=info msg=\"Container started\" code=202 timeout=50s",
]


def _example_messages() -> list[str]:
    out = []
    for r in BUNDLED:
        for ex in r.examples_match + r.examples_no_match:
            for line in ex.lines:
                out.extend(line.split("\n"))
    return out


def corpus(seed: int, n: int = 4000) -> str:
    """short-iso lines mixing healthy noise with every bundled example, some as multi-line entries."""
    rnd = random.Random(seed)
    examples = _example_messages()
    lines = []
    for i in range(n):
        ts = f"2024-03-10T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+0000"
        if rnd.random() < 0.15:
            msg = rnd.choice(examples)
            lines.append(f"{ts} ci{rnd.randint(1, 3)} app[{rnd.randint(2, 999)}]: {msg}")
        else:
            lines.append(f"{ts} ci{rnd.randint(1, 3)} {rnd.choice(NOISE)}")
        if rnd.random() < 0.05:
            lines.append(" " * 30 + rnd.choice(["at java.lang.Thread.run(Thread.java:750)", rnd.choice(examples)]))
    return "\n".join(lines) + "\n"


def summary(findings):
    return sorted((f.rule_id, f.fingerprint, f.count, f.first_seen, f.last_seen,
                   tuple((e.path, e.line, e.text) for e in f.evidence)) for f in findings)


def scan_file(path, engine_rules, backend: str, parsed: bool, block_size: int, input_format: str | None = None):
    engine, corr, agg = Engine(engine_rules, backend), Correlator(), Aggregator()
    diag = Diagnostics()
    opts = inputs.ReadOptions(block_size=block_size, input_format=input_format)
    (inp,) = list(inputs.expand([str(path)], opts, diag))
    opened = inputs.open_input(inp, opts, diag)
    events = engine.match_records(inputs.records(opened)) if parsed else engine.match(opened)
    for m in corr.run(events):
        agg.add(m)
    for m in corr.finish():
        agg.add(m)
    assert not diag.input_errors
    return summary(agg.findings())


@needs_hyperscan
def test_hyperscan_is_among_the_backends_compared():
    assert BACKENDS[-1] == "hyperscan"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backends_and_paths_agree(tmp_path, seed):
    path = tmp_path / "corpus.log"
    path.write_text(corpus(seed))
    reference = scan_file(path, BUNDLED, "python", parsed=True, block_size=1 << 20)
    assert len(reference) >= 10, "the corpus should fire many rules"
    for backend in BACKENDS:
        for block_size in (4096, 1 << 20):  # small blocks split entries across block boundaries
            assert scan_file(path, BUNDLED, backend, parsed=False, block_size=block_size) == reference, (backend, block_size)
        assert scan_file(path, BUNDLED, backend, parsed=True, block_size=1 << 20) == reference, backend


def test_rules_without_literals_run_on_every_event(tmp_path):
    (rule,) = make_rules(tmp_path, """\
        id: any-error
        title: t
        severity: minor
        category: misc
        match: 'level == "error"'
    """)
    engine = Engine([rule], "python")
    assert engine.always and not engine.literals
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: something odd   runner=abcd1234
        2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: all fine
    """)
    (f,) = findings_for([rule], recs)
    assert f.count == 1 and f.evidence[0].line == 1


GENERIC = """\
id: cannot-reach
title: t
severity: major
category: network
generic: true
match: message ~ /Checking for jobs\\.\\.\\. failed/
"""
SPECIFIC = """\
id: x509-unknown
title: t
severity: critical
category: tls-x509
match: 'message ~ /x509: certificate signed by unknown authority/'
"""
SUPERSEDER = """\
id: better-x509
title: t
severity: critical
category: tls-x509
supersedes: [x509-unknown]
match: 'message ~ /tls: failed to verify certificate: x509/'
"""


def test_generic_rules_give_way_and_supersedes_hides(tmp_path):
    rs = make_rules(tmp_path, GENERIC, SPECIFIC, SUPERSEDER)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   status=Post "https://g/api/v4/jobs/request": tls: failed to verify certificate: x509: certificate signed by unknown authority
        2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   status=Post "https://g/api/v4/jobs/request": x509: certificate signed by unknown authority
        2024-03-10T12:00:02+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   status=POST https://g/api/v4/jobs/request: 418 I'm a teapot
    """)
    got = {f.rule_id: [e.line for e in f.evidence] for f in findings_for(rs, recs)}
    assert got == {"better-x509": [1], "x509-unknown": [2], "cannot-reach": [3]}


def test_an_outcome_rule_gives_way_only_to_its_own_category(tmp_path):
    """The runner's verdict on a job stands beside the cause another category names on its line,
    and gives way to a more specific reading of the verdict itself."""
    rs = make_rules(tmp_path, """\
        id: job-failed-error
        title: t
        severity: major
        category: job-failed
        outcome: true
        match: 'message ~ /Job failed: (?P<reason>.+)/'
    """, """\
        id: pull-denied
        title: t
        severity: major
        category: registry
        match: 'message ~ /pull access denied/'
    """, """\
        id: ostype
        title: t
        severity: major
        category: job-failed
        match: 'message ~ /Job failed: executor requires OSType=/'
    """)
    assert rs[0].info.generic and rs[0].info.outcome
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Job failed: failed to pull image "a/b:1": pull access denied for a/b
        2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: ERROR: Job failed: executor requires OSType=windows, but Docker Engine supports only OSType=linux
    """)
    got = {f.rule_id: [e.line for e in f.evidence] for f in findings_for(rs, recs)}
    assert got == {"job-failed-error": [1], "pull-denied": [1], "ostype": [2]}


def test_a_failure_hidden_by_a_specific_rule_arms_no_recovery(tmp_path):
    """Only a reported failure waits for its recovery: a generic rule's hit hidden by a specific
    one on the same line is not looked for again (nor replayed as armed by a parallel scan's parent)."""
    generic, specific = make_rules(tmp_path, """\
        id: load-failed
        title: t
        severity: major
        category: config-toml
        generic: true
        match: 'message ~ /Failed to load config/'
        recovered_by: 'message ~ /Configuration loaded/'
    """, """\
        id: load-failed-read-only
        title: t
        severity: major
        category: config-toml
        match: 'message ~ /Failed to load config.*read-only file system/'
    """)
    engine = Engine([generic, specific], "python")
    hidden, reported, loaded = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Failed to load config (token reset) error=open /etc/gitlab-runner/.config.toml1: read-only file system
        2024-03-10T12:00:01+0000 ci2 gitlab-runner[812]: ERROR: Failed to load config stat /etc/gitlab-runner/config.toml: no such file or directory
        2024-03-10T12:00:02+0000 ci1 gitlab-runner[812]: Configuration loaded   builds=0
    """)
    assert [h.rule.id for h in engine.evaluate(hidden, engine.probes)] == ["load-failed-read-only"]
    assert engine._armed_rules == set()
    assert [h.rule.id for h in engine.evaluate(reported, engine.probes)] == ["load-failed"]
    assert engine._armed == {"load-failed": {"ci2"}}
    assert engine.evaluate(loaded, engine.probes) == []  # ci1's failure was the specific rule's


def test_a_threshold_that_never_fires_does_not_hide_a_generic_rule(tmp_path):
    storm = """\
id: poll-storm
title: t
severity: major
category: runner-connectivity
match: message ~ /Checking for jobs\\.\\.\\. failed/
correlate:
  threshold: {count: 5, within: 10m}
"""
    rs = make_rules(tmp_path, GENERIC, storm)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   runner=abcd1234 >
        2024-03-10T12:00:03+0000 ci1 gitlab-runner[812]: WARNING: Checking for jobs... failed   runner=abcd1234 >
    """)
    assert {f.rule_id: f.count for f in findings_for(rs, recs)} == {"cannot-reach": 2}


@pytest.mark.parametrize("fmt", ["short-iso", "json"])
def test_parallel_workers_give_the_single_pass_result(tmp_path, monkeypatch, fmt):
    from logsleuth.match import parallel
    from logsleuth.read import formats
    from logsleuth.pipeline import ScanOptions, analyze

    path = tmp_path / "big.log"
    path.write_text(corpus(7, n=20000) if fmt == "short-iso" else json_corpus(7))
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setattr(parallel, "RANGE_SIZE", 64 << 10)  # many ranges, cut between entries
    assert len(parallel.ranges(str(path), formats.get(fmt))) > 10
    single = analyze([str(path)], BUNDLED, ScanOptions(jobs=1))
    split = analyze([str(path)], BUNDLED, ScanOptions(jobs=2))
    assert summary(split.findings) == summary(single.findings) and len(single.findings) >= 10
    assert split.inputs[0].lines == single.inputs[0].lines == path.read_text().count("\n")


def json_corpus(seed: int) -> str:
    """The short-iso corpus as `journalctl -o json` lines; coloured runner lines as byte arrays."""
    import json

    rnd = random.Random(seed)
    out = []
    for n, line in enumerate(corpus(seed).splitlines()):
        if line.startswith(" "):
            continue  # json has no continuation lines: a multi-line message is one string
        _ts, host, rest = line.split(" ", 2)
        ident, _, message = rest.partition(": ")
        entry = {"__REALTIME_TIMESTAMP": str(1710072000_000000 + n * 1_000_000), "_HOSTNAME": host,
                 "SYSLOG_IDENTIFIER": ident.split("[")[0], "PRIORITY": "6", "MESSAGE": message}
        if rnd.random() < 0.2:  # journalctl writes any MESSAGE with a control character as bytes
            entry["MESSAGE"] = list(("\x1b[0;33m" + message + "\x1b[0;m").encode())
        out.append(json.dumps(entry))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", [4, 5])
def test_json_message_path_agrees_with_full_parsing(tmp_path, seed):
    from logsleuth.read import formats

    path = tmp_path / "corpus.json"
    path.write_text(json_corpus(seed))
    assert formats.get("json").message_of is not None and not Engine(BUNDLED).always  # the message path runs
    reference = scan_file(path, BUNDLED, "python", parsed=True, block_size=1 << 20)
    assert len(reference) >= 10
    for backend in BACKENDS:
        for block_size in (4096, 1 << 20):
            assert scan_file(path, BUNDLED, backend, parsed=False, block_size=block_size) == reference


def test_a_recovery_just_past_a_range_boundary_is_seen_with_workers(tmp_path, monkeypatch):
    """A failure that is the last line of one worker's range and recovers on the first lines of
    the next: the next worker had no reason to look, so the parent asks (Engine.recoveries);
    incidents (status, recovered_at) are the same with -j 1 and -j 2."""
    from logsleuth.match import parallel
    from logsleuth.read import formats
    from logsleuth.pipeline import ScanOptions, analyze

    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setattr(parallel, "RANGE_SIZE", 32 << 10)
    poll = "2024-03-10T12:{m:02d}:{s:02d}+0000 ci1 gitlab-runner[812]: Checking for jobs... received   job=1 repo_url=https://gitlab.example.com/a/b.git runner=abcd1234"
    fail = ("2024-03-10T12:{m:02d}:{s:02d}+0000 ci1 gitlab-runner[812]: ERROR: Checking for jobs... error   "
            "error=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: Post "
            "\"https://gitlab.example.com/api/v4/jobs/request\": dial tcp: lookup gitlab.example.com on 10.0.0.2:53: "
            "no such host runner=abcd1234 status=couldn't execute POST")
    lines, n = [], 0
    path = tmp_path / "boundary.log"
    # One failure whose line straddles the first range boundary (so it is the last entry of the
    # first range) and healthy polls after it: its recovery is the second range's first line.
    size = 0

    def add(line: str) -> None:
        nonlocal size, n
        lines.append(line)
        size += len(line) + 1
        n += 1

    first_fail = fail.format(m=0, s=0)
    while size + len(first_fail) < (32 << 10) + 10:
        add(poll.format(m=(n // 60) % 60, s=n % 60))
    add(fail.format(m=(n // 60) % 60, s=n % 60))
    while size < 3 * (32 << 10):
        add(poll.format(m=(n // 60) % 60, s=n % 60))
    path.write_text("\n".join(lines) + "\n")
    cuts = parallel.ranges(str(path), formats.get("short-iso"))
    assert len(cuts) >= 3 and lines[-1]
    single = analyze([str(path)], BUNDLED, ScanOptions(jobs=1))
    split = analyze([str(path)], BUNDLED, ScanOptions(jobs=2))
    status = lambda rep: [(i.root.rule_id, i.status, i.recovered_at) for i in rep.incidents]  # noqa: E731
    assert status(single) and all(s == "recovered" for _, s, _ in status(single))
    assert status(split) == status(single)


def test_context_lines_cross_a_block_boundary(tmp_path):
    """Context asked for by a hit at the end of a 1 MiB block comes from the next block."""
    import json, shutil, subprocess, sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "rules").mkdir()
    shutil.copy(root / "rules" / "system" / "hung-task.yaml", tmp_path / "rules")  # context: {lines: 20}
    filler = b"Mar 10 11:59:59 ci1 kernel: eth0: link up, 1000 Mbps, full duplex\n"
    hit = b"Mar 10 12:00:00 ci1 kernel: INFO: task dockerd:700 blocked for more than 120 seconds.\n"
    after = b"".join(b"Mar 10 12:00:01 ci1 kernel: context line %d\n" % i for i in range(40))
    path = tmp_path / "kern.log"
    path.write_bytes(filler * ((1 << 20) // len(filler) - 2) + hit + after + filler * 10)  # the hit ends block 1
    proc = subprocess.run([sys.executable, "-m", "logsleuth", "scan", "--no-builtin", "--rules", str(tmp_path / "rules"),
                           "--format", "json", "--fail-on", "none", str(path)], capture_output=True, timeout=60)
    context = json.loads(proc.stdout)["findings"][0]["evidence"][0]["context"]
    assert context == [f"Mar 10 12:00:01 ci1 kernel: context line {i}" for i in range(20)]  # before: []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_recovery_is_found_after_another_hosts_failure_that_never_recovers(tmp_path, backend):
    """ci1 fails and never recovers in the file; ci2 fails later and recovers. Once a look ahead
    for ci1's recovery came back empty the engine does not look again from each later line, but
    a new failure (ci2's) is looked for afresh: its recovery is found, on its line."""
    rules = make_rules(tmp_path, """\
        id: poll-failed
        title: t
        severity: major
        category: runner-connectivity
        match: 'message ~ /Checking for jobs\\.\\.\\. failed/'
        recovered_by: 'message ~ /Checking for jobs\\.\\.\\. received/'
    """, """\
        id: disk-full
        title: t
        severity: major
        category: disk-full
        match: 'message ~ /no space left on device/'
    """)
    def line(n: int, host: str, text: str) -> str:
        return f"2024-03-10T12:{n // 60 % 60:02d}:{n % 60:02d}+0000 {host} gitlab-runner[812]: {text}"

    poll_ci3 = "Checking for jobs... received   job=1 runner=abcd1234"
    out = [line(0, "ci1", "WARNING: Checking for jobs... failed   runner=abcd1234 status=502")]
    out += [line(n, "ci3", poll_ci3) for n in range(1, 200)]
    out += [line(n, "ci9", "ERROR: write /builds/x: no space left on device") for n in range(200, 260, 10)]
    out += [line(300, "ci2", "WARNING: Checking for jobs... failed   runner=abcd1234 status=502")]
    out += [line(n, "ci3", poll_ci3) for n in range(301, 400)]
    out += [line(400, "ci2", "Checking for jobs... received   job=2 runner=abcd1234")]
    path = tmp_path / "hosts.log"
    path.write_text("\n".join(out) + "\n")
    engine = Engine(rules, backend)
    diag = Diagnostics()
    [inp] = inputs.expand([str(path)], inputs.ReadOptions(), diag)
    opened = inputs.open_input(inp, inputs.ReadOptions(), diag)
    recoveries = [(h.record.host, h.record.origin.line) for ev in engine.match(opened) if isinstance(ev, tuple)
                  for h in ev if h.probe.role == "recover"]
    assert recoveries == [("ci2", len(out))]
    assert engine._armed == {"poll-failed": {"ci1"}}  # still waiting, at the end of the file
