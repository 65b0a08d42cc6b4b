"""Correlation on event time: thresholds, sequences, absences, grouping, bounded state."""
from __future__ import annotations

import subprocess

from conftest import make_rules, short_iso

from logsleuth.findings.correlate import OVERFLOW, Correlator
from logsleuth.match.engine import Engine
from logsleuth.authoring.examples import findings_for

THRESHOLD = """\
id: poll-storm
title: t
severity: major
category: network-timeout
match: message ~ /Checking for jobs\\.\\.\\. failed/
correlate:
  group_by: [host]
  threshold: {count: 3, within: 10m}
"""

SEQUENCE = """\
id: oom-then-137
title: t
severity: critical
category: oom-kill
match: 'message ~ /Out of memory: Killed process (?P<pid>\\d+)/'
correlate:
  followed_by: {match: 'message ~ /Job failed: exit code 137/', within: 10m}
"""

ABSENCE = """\
id: no-recovery
title: t
severity: major
category: auth-token
match: message ~ /Verifying runner\\.\\.\\. is not valid/
correlate:
  not_followed_by: {match: 'message ~ /Verifying runner\\.\\.\\. is valid/', within: 5m}
"""


def fail_line(ts: str, host: str = "ci1") -> str:
    return f"2024-03-10T{ts}+0000 {host} gitlab-runner[812]: WARNING: Checking for jobs... failed   runner=abcd1234"


def test_threshold_fires_inside_its_window(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD)
    recs = short_iso("\n".join(fail_line(t) for t in ("12:00:00", "12:04:00", "12:09:59")))
    (f,) = findings_for(rules, recs)
    assert f.count == 3 and f.first_seen.minute == 0 and f.last_seen.minute == 9


def test_threshold_stays_silent_outside_its_window(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD)
    recs = short_iso("\n".join(fail_line(t) for t in ("12:00:00", "12:06:00", "12:16:30")))
    assert findings_for(rules, recs) == []


def test_threshold_groups_by_field(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD)
    lines = [fail_line("12:00:00", "a"), fail_line("12:00:01", "b"), fail_line("12:00:02", "a"),
             fail_line("12:00:03", "b"), fail_line("12:00:04", "c")]
    assert findings_for(rules, short_iso("\n".join(lines))) == []
    lines.append(fail_line("12:00:05", "a"))
    (f,) = findings_for(rules, short_iso("\n".join(lines)))
    assert f.count == 3 and {e.text.split()[1] for e in f.evidence} == {"a"}


def test_threshold_keeps_counting_while_the_storm_lasts(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD)
    times = [f"12:{m:02d}:00" for m in range(0, 30, 2)]  # every 2 minutes for half an hour
    (f,) = findings_for(rules, short_iso("\n".join(fail_line(t) for t in times)))
    assert f.count == len(times)


def test_sequence_pairs_a_with_b_within_the_window(tmp_path):
    rules = make_rules(tmp_path, SEQUENCE)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 kernel: Out of memory: Killed process 4242 (java) total-vm:1kB
        2024-03-10T12:05:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=1
    """)
    (f,) = findings_for(rules, recs)
    assert f.count == 1 and f.variables == {"pid": "4242"}
    assert [e.line for e in f.evidence] == [1, 2]


def test_a_same_entry_sequence_completes_on_one_glued_line_and_only_if_it_says_so(tmp_path):
    """A paste that lost its newlines holds the failure and its follow-up in one entry: with
    `same_entry: true` that entry completes the sequence; without it, a sequence never pairs an
    entry with itself (a rule's own line is no follow-up of its own)."""
    glued = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Registering runner... failed   status=dial tcp: i/o timeout PANIC: Failed to register the runner.
    """)
    text = """\
id: register-gave-up
title: t
severity: major
category: runner-connectivity
match: 'message ~ /Registering runner\\.\\.\\. failed.*(?P<cause>i\\/o timeout)/'
correlate:
  followed_by: {{match: 'message ~ /Failed to register the runner/', within: 5m{extra}}}
"""
    (d1 := tmp_path / "a").mkdir()
    (d2 := tmp_path / "b").mkdir()
    same = make_rules(d1, text.format(extra=", same_entry: true"))
    plain = make_rules(d2, text.format(extra=""))
    (f,) = findings_for(same, glued)
    assert f.count == 1 and f.variables == {"cause": "i/o timeout"} and [e.line for e in f.evidence] == [1]
    assert findings_for(plain, glued) == []
    # Two lines still pair as before with same_entry on.
    two = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: ERROR: Registering runner... failed   status=dial tcp: i/o timeout
        2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: PANIC: Failed to register the runner.
    """)
    assert [x.count for x in findings_for(same, two)] == [1] == [x.count for x in findings_for(plain, two)]


def test_sequence_needs_b_in_time(tmp_path):
    rules = make_rules(tmp_path, SEQUENCE)
    late = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 kernel: Out of memory: Killed process 4242 (java) total-vm:1kB
        2024-03-10T12:30:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=1
    """)
    assert findings_for(rules, late) == []
    b_first = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=1
        2024-03-10T12:01:00+0000 ci1 kernel: Out of memory: Killed process 4242 (java) total-vm:1kB
    """)
    assert findings_for(rules, b_first) == []


def test_absence_fires_when_nothing_follows(tmp_path):
    rules = make_rules(tmp_path, ABSENCE)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Verifying runner... is not valid   runner=abcd1234
        2024-03-10T12:10:00+0000 ci1 systemd[1]: Started Daily apt download activities.
    """)
    (f,) = findings_for(rules, recs)
    assert f.rule_id == "no-recovery" and f.evidence[0].line == 1


def test_absence_is_cancelled_by_the_follow_up(tmp_path):
    rules = make_rules(tmp_path, ABSENCE)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Verifying runner... is not valid   runner=abcd1234
        2024-03-10T12:02:00+0000 ci1 gitlab-runner[812]: Verifying runner... is valid   runner=abcd1234
        2024-03-10T12:10:00+0000 ci1 systemd[1]: Started Daily apt download activities.
    """)
    assert findings_for(rules, recs) == []


def test_absence_is_undecided_when_the_log_ends_inside_the_window(tmp_path):
    rules = make_rules(tmp_path, ABSENCE)
    recs = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Verifying runner... is not valid   runner=abcd1234
        2024-03-10T12:01:00+0000 ci1 systemd[1]: Started Daily apt download activities.
    """)
    engine, corr = Engine(rules, "python"), Correlator()
    assert list(corr.run(engine.match_records(recs))) == [] and list(corr.finish()) == []
    assert corr.undecided == 1


def test_state_is_bounded_and_a_full_rule_folds_instead_of_dropping(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD.replace("count: 3", "count: 1000"))
    lines = [fail_line(f"12:00:{s % 60:02d}", f"host{s}") for s in range(50)]
    engine, corr = Engine(rules, "python"), Correlator(max_groups=10, max_pending=5)
    assert list(corr.run(engine.match_records(short_iso("\n".join(lines))))) == []
    groups = corr._groups["poll-storm"]
    assert len(groups) == 11 and OVERFLOW in groups  # ten hosts, then one shared group
    assert corr.folded == 40 and corr.dropped == 0
    assert sum(len(g.buffer) for g in groups.values()) == 50  # every event still pending, none lost


def test_folded_events_still_fire_and_a_threshold_past_max_pending_is_reachable(tmp_path):
    rules = make_rules(tmp_path, THRESHOLD.replace("count: 3", "count: 8"))
    lines = [fail_line(f"12:00:{s:02d}", f"host{s % 4}") for s in range(40)]
    engine, corr = Engine(rules, "python"), Correlator(max_groups=2, max_pending=5)
    fired = list(corr.run(engine.match_records(short_iso("\n".join(lines)))))
    # host0 and host1 keep their groups and fire at their 8th event (with max_pending 5 they never
    # would); host2 and host3 share the overflow group, which reaches 8 after 4 events of each. A
    # threshold that fires reports its buffered events and every later one: all 40.
    assert len(fired) == 40
    assert sum(1 for m in fired if m.hit.record.host in ("host0", "host1")) == 20
    assert corr.folded == 20 and corr.dropped == 0


def test_sequence_across_two_input_files_in_time_order(tmp_path, logsleuth_cmd):
    make_rules(tmp_path, SEQUENCE)
    kern = tmp_path / "kern.log"
    kern.write_text("2024-03-10T12:00:00+0000 ci1 kernel: Out of memory: Killed process 4242 (java) total-vm:1kB\n")
    runner = tmp_path / "runner.log"
    runner.write_text("2024-03-10T12:03:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=1\n")
    out = subprocess.run([*logsleuth_cmd, "scan", str(kern), str(runner), "--no-builtin", "--rules",
                          str(tmp_path / "rules"), "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    import json

    (f,) = json.loads(out.stdout)["findings"]
    assert [e["path"] for e in f["evidence"]] == [str(kern), str(runner)]


CONTEXT = """\
id: oom-trace
title: t
severity: major
category: oom-kill
match: message ~ /invoked oom-killer/
correlate:
  context: {lines: 3}
"""

OOM_TRACE = """\
2024-03-10T12:00:00+0000 ci1 kernel: java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
2024-03-10T12:00:00+0000 ci1 kernel: CPU: 3 PID: 1234 Comm: java Not tainted 6.1.0-18-amd64
2024-03-10T12:00:00+0000 ci1 kernel: Call Trace:
2024-03-10T12:00:00+0000 ci1 kernel:  dump_stack_lvl+0x44/0x5c
2024-03-10T12:00:00+0000 ci1 kernel:  oom_kill_process.cold+0xb/0x10
"""


def test_context_joins_the_lines_after_a_match_on_both_paths(tmp_path):
    from logsleuth.read import inputs
    from logsleuth.errors import Diagnostics

    rules = make_rules(tmp_path, CONTEXT)
    want = ("CPU: 3 PID: 1234 Comm: java", "Call Trace:", "dump_stack_lvl+0x44/0x5c")
    (f,) = findings_for(rules, short_iso(OOM_TRACE))
    assert [c.split("kernel: ")[1].strip()[: len(w)] for c, w in zip(f.evidence[0].context, want)] == list(want)
    path = tmp_path / "kern.log"
    path.write_text(OOM_TRACE)
    diag, opts = Diagnostics(), inputs.ReadOptions()
    (inp,) = inputs.expand([str(path)], opts, diag)
    events = Engine(rules, "python").match(inputs.open_input(inp, opts, diag))
    hits = [h for ev in events if isinstance(ev, tuple) for h in ev]
    assert [h.context for h in hits] == [list(f.evidence[0].context)]


def test_a_completed_sequence_supersedes_rules_on_its_closing_event(tmp_path):
    plain_137 = """\
id: exit-137
title: t
severity: major
category: oom-kill
match: message ~ /exit code 137/
"""
    rules = make_rules(tmp_path, SEQUENCE.replace("category: oom-kill", "category: oom-kill\nsupersedes: [exit-137]"),
                       plain_137)
    paired = short_iso("""\
        2024-03-10T12:00:00+0000 ci1 kernel: Out of memory: Killed process 4242 (java) total-vm:1kB
        2024-03-10T12:05:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=1
        2024-03-10T13:00:00+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137   job=2
    """)
    got = {f.rule_id: [e.line for e in f.evidence] for f in findings_for(rules, paired)}
    assert got == {"oom-then-137": [1, 2], "exit-137": [3]}  # the unexplained 137 still reports
