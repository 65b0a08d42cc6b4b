"""Incidents, status over time, the verdict, advice with values and no silent all-clear, through the real CLI."""
from __future__ import annotations

import json
import textwrap

import pytest
from conftest import make_rules
from test_cli import run

from logsleuth.pipeline import ScanOptions, analyze
from logsleuth.report.options import RenderOptions
from logsleuth.report.render import render


def _kill(minute: int, pid: int, task: str, scope: str) -> str:
    """One kernel OOM kill as the journal shows it, then the runner's exit 137 for its job."""
    ts = f"2024-03-10T12:{minute:02d}"
    return textwrap.dedent(f"""\
        {ts}:05+0000 ci1 kernel: {task} invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
        {ts}:05+0000 ci1 kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset={scope},mems_allowed=0,oom_memcg=/system.slice/{scope},task_memcg=/system.slice/{scope},task={task},pid={pid},uid=0
        {ts}:05+0000 ci1 kernel: Memory cgroup out of memory: Killed process {pid} ({task}) total-vm:6312440kB, anon-rss:2093112kB, file-rss:21504kB, shmem-rss:0kB, UID:0 pgtables:4560kB oom_score_adj:0
        {ts}:07+0000 ci1 gitlab-runner[812]: WARNING: Job failed: exit code 137                  duration_s=312.4 job=12{pid} project=42 runner=abcd1234
        """)


def _json(cmd, path, *args):
    out = run(cmd, "scan", path, "--format", "json", *args)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout), out.returncode


def test_one_oom_kill_is_one_incident_with_its_facts_and_the_jobs_verdict(logsleuth_cmd, tmp_path):
    log = tmp_path / "kill.log"
    log.write_text(_kill(0, 23817, "java", "docker-4be1f0c2a9e1.scope"))
    data, status = _json(logsleuth_cmd, log)
    (incident,) = data["incidents"]
    assert status == 1 and len(incident["facts"]) == 5
    assert incident["rule_id"] in ("job-oom-confirmed", "kernel-oom-killed-process")
    assert {f["rule_id"] for f in incident["facts"]} >= {"kernel-oom-invoked", "kernel-oom-summary",
                                                         "kernel-oom-killed-process", "job-failed-exit-code"}
    assert "java" in incident["message"]


def test_two_kills_are_two_incidents_each_naming_its_own_process(logsleuth_cmd, tmp_path):
    log = tmp_path / "kills.log"
    log.write_text(_kill(0, 23817, "java", "docker-4be1f0c2a9e1.scope") + _kill(3, 31001, "node", "docker-9c0ffee12345.scope"))
    data, _ = _json(logsleuth_cmd, log)
    oom = [i for i in data["incidents"] if i["category"] == "oom-kill"]
    assert len(oom) == 2
    assert sorted("java" in i["message"] for i in oom) == [False, True]
    assert sorted("node" in i["message"] for i in oom) == [False, True]
    # Every fact of an incident is about that incident's own kill.
    for i in oom:
        name = "java" if "java" in i["message"] else "node"
        other = "node" if name == "java" else "java"
        assert not any(other in f["message"] for f in i["facts"]), i


def test_the_jobs_verdict_is_a_fact_of_the_cause_on_its_line(logsleuth_cmd, tmp_path):
    """`Job failed: <cause>` is two findings (the job failed; the registry refused) and one incident;
    the same verdict on a line with no known cause is an incident of its own."""
    log = tmp_path / "trace.log"
    log.write_text(
        'ERROR: Job failed: failed to pull image "registry.example.com/team/app:1.2" with specified policies [always]: '
        "Error response from daemon: pull access denied for registry.example.com/team/app, repository does not exist "
        "or may require 'docker login': denied: requested access to the resource is denied (manager.go:237:0s)\n"
        "ERROR: Job failed: something no rule knows about\n")
    data, _ = _json(logsleuth_cmd, log)
    by_root = {i["rule_id"]: i for i in data["incidents"]}
    assert {f["category"] for f in data["findings"]} == {"registry", "job-failed"}
    (pull,) = [i for i in data["incidents"] if i["category"] == "registry"]
    assert [f["rule_id"] for f in pull["facts"]][1:] == ["job-failed-error"]
    assert pull["facts"][0]["rule_id"].startswith(("image-pull", "registry-"))
    alone = by_root["job-failed-error"]
    assert [f["message"] for f in alone["facts"]] == ["The job failed: something no rule knows about"]


RUNNER = "2024-03-10T{t}+0000 ci1 gitlab-runner[812]: {msg}\n"
DNS_FAIL = ('WARNING: Checking for jobs... failed                 runner=xY7pQ2mK9 status=couldn\'t execute POST against '
            'https://gitlab.example.com/api/v4/jobs/request: Post "https://gitlab.example.com/api/v4/jobs/request": '
            'dial tcp: lookup gitlab.example.com on 10.0.0.2:53: no such host')
POLL_OK = "Checking for jobs... received                       job=48211 repo_url=https://gitlab.example.com/a/b.git runner=xY7pQ2mK9"
FORBIDDEN = ("ERROR: Checking for jobs... forbidden                runner=xY7pQ2mK9 status=POST "
             "https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden")


def test_verdict_names_the_ongoing_403_and_lists_the_recovered_dns_failure(logsleuth_cmd, tmp_path):
    log = tmp_path / "runner.log"
    log.write_text(RUNNER.format(t="11:00:00", msg=DNS_FAIL) + RUNNER.format(t="11:00:03", msg=DNS_FAIL)
                   + RUNNER.format(t="11:05:00", msg=POLL_OK) + RUNNER.format(t="12:14:45", msg=FORBIDDEN)
                   + RUNNER.format(t="12:14:48", msg=FORBIDDEN))
    data, _ = _json(logsleuth_cmd, log)
    head, *rest = data["incidents"]
    assert data["verdict"]["headline"] == head["fingerprint"]
    assert head["rule_id"] == "runner-jobs-forbidden" and head["status"] == "ongoing"
    (dns,) = [i for i in rest if i["category"] == "dns"]
    assert dns["status"] == "recovered" and dns["recovered_at"] == "2024-03-10T11:05:00Z"
    text = run(logsleuth_cmd, "scan", log).stdout
    assert text.startswith("logsleuth: 2 incidents, worst CRITICAL — now: GitLab rejects the runner's token")
    assert "— recovered" in text
    markdown = run(logsleuth_cmd, "scan", log, "--format", "markdown").stdout
    assert "| Status | Count | First seen | Last seen |" in markdown
    assert "| `dns-no-such-host` | recovered | 2 | 2024-03-10T11:00:00Z | 2024-03-10T11:00:03Z |" in markdown


def test_a_failure_after_its_recovery_is_ongoing_again(logsleuth_cmd, tmp_path):
    log = tmp_path / "runner.log"
    log.write_text(RUNNER.format(t="11:00:00", msg=DNS_FAIL) + RUNNER.format(t="11:05:00", msg=POLL_OK)
                   + RUNNER.format(t="11:09:00", msg=DNS_FAIL))
    data, _ = _json(logsleuth_cmd, log)
    (dns,) = data["incidents"]
    assert dns["status"] == "ongoing" and dns["recovered_at"] is None


def test_a_recovery_counts_only_on_the_failing_host(logsleuth_cmd, tmp_path):
    """Poll lines of other hosts in between (skipped by their bytes, match/engine.py _Recovery) do
    not end ci2's failure; ci2's own poll does, and so does a host named as a word's substring only
    when it is ci2's line (ci22 is not ci2: the record's host decides, after the cheap check)."""
    other = RUNNER.replace(" ci1 ", " {host} ")
    log = tmp_path / "shared.log"
    log.write_text(other.format(t="11:00:00", host="ci2", msg=DNS_FAIL)
                   + other.format(t="11:01:00", host="ci1", msg=POLL_OK)
                   + other.format(t="11:02:00", host="ci22", msg=POLL_OK)
                   + other.format(t="11:03:00", host="ci2", msg=POLL_OK))
    data, _ = _json(logsleuth_cmd, log)
    (dns,) = data["incidents"]
    assert dns["status"] == "recovered" and dns["recovered_at"] == "2024-03-10T11:03:00Z"


def test_fix_and_diagnosis_are_filled_with_the_captured_values(tmp_path):
    rules = make_rules(tmp_path, """\
        id: host-down
        title: Host unreachable
        severity: major
        category: network
        match: |-
          message ~ /cannot reach (?P<host>\\S+)(?: via (?P<gateway>\\S+))?/
        diagnosis: "Check `ping {host}` and the gateway {gateway|of the runner's network}."
        fix: "Open the firewall to {host}; shell ${HOME} and {{.State}} stay as written; {port} is unknown."
        """)
    log = tmp_path / "x.log"
    log.write_text("cannot reach gitlab.internal.example\n")
    report = analyze([str(log)], rules, ScanOptions())
    out = render(report, "text", options=RenderOptions(verbosity=1))
    assert "Check `ping gitlab.internal.example` and the gateway of the runner's network." in out
    assert "Open the firewall to gitlab.internal.example; shell ${HOME} and {{.State}} stay as written; PORT is unknown." in out
    data = json.loads(render(report, "json", options=RenderOptions()))
    assert data["incidents"][0]["fix"].startswith("Open the firewall to gitlab.internal.example;")


def test_a_captured_value_cannot_inject_markdown_or_mentions(tmp_path):
    rules = make_rules(tmp_path, """\
        id: host-down
        title: Host unreachable
        severity: major
        category: network
        match: message ~ /cannot reach (?P<host>.+)$/
        fix: "Open the firewall to {host}."
        """)
    log = tmp_path / "x.log"
    log.write_text("cannot reach @all `$(rm -rf /)` <b>x</b>\n")
    out = render(analyze([str(log)], rules, ScanOptions()), "markdown", options=RenderOptions())
    fix = out[out.index("**Fix**"):]
    assert "@all" not in fix and "`$(" not in fix and "<b>" not in fix


@pytest.mark.parametrize(("content", "needle"), [
    ("", "empty"),
    ("-- No entries --\n", 'only journalctl markers such as "-- No entries --"'),
    ("-- Journal begins at Sun 2024-03-10 00:00:00 UTC, ends at Sun 2024-03-10 12:00:00 UTC. --\n-- No entries --\n",
     "only journalctl markers"),
])
def test_nothing_to_check_is_said_and_exits_4(logsleuth_cmd, tmp_path, content, needle):
    log = tmp_path / "journal.txt"
    log.write_text(content)
    out = run(logsleuth_cmd, "scan", log)
    assert out.returncode == 4, out.stderr
    assert out.stdout.startswith("logsleuth: nothing to check") and needle in out.stdout
    assert run(logsleuth_cmd, "scan", log, "--allow-empty").returncode == 0
    data = json.loads(run(logsleuth_cmd, "scan", log, "--format", "json").stdout)
    assert data["verdict"]["kind"] == "empty"
    assert ":warning: **logsleuth: nothing to check**" in run(logsleuth_cmd, "scan", log, "--format", "markdown").stdout


def test_nothing_to_check_from_stdin_too(logsleuth_cmd):
    out = run(logsleuth_cmd, "scan", "-", stdin="-- No entries --\n")
    assert out.returncode == 4 and "nothing to check" in out.stdout


UNKNOWN = textwrap.dedent("""\
    2024-03-10T12:00:00+0000 ci1 myapp[77]: starting worker pool
    2024-03-10T12:00:01+0000 ci1 myapp[77]: panic: runtime error: invalid memory address or nil pointer dereference
    2024-03-10T12:00:01+0000 ci1 myapp[77]: ERROR: frobnicator 3 refused the widget
    2024-03-10T12:00:02+0000 ci1 myapp[77]: summary: 0 errors, failed=0
    """)


def test_error_lines_no_rule_knows_are_counted_not_an_all_clear(logsleuth_cmd, tmp_path):
    log = tmp_path / "app.log"
    log.write_text(UNKNOWN)
    out = run(logsleuth_cmd, "scan", log)
    assert out.returncode == 5, out.stderr
    assert "no known failure, but 2 error lines no rule recognised (--show-unmatched lists them)" in out.stdout
    shown = run(logsleuth_cmd, "scan", log, "--show-unmatched").stdout
    assert "panic: runtime error" in shown and "frobnicator 3 refused" in shown and "0 errors" not in shown
    assert run(logsleuth_cmd, "scan", log, "--fail-on", "none").returncode == 0
    data = json.loads(run(logsleuth_cmd, "scan", log, "--format", "json").stdout)
    assert data["verdict"]["kind"] == "unexplained" and data["unexplained"]["count"] == 2
    sarif = json.loads(run(logsleuth_cmd, "scan", log, "--format", "sarif").stdout)
    (note,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "2 error lines no rule recognised" in note["message"]["text"]


def test_the_same_entry_in_syslog_and_a_journal_export_counts_once(logsleuth_cmd, tmp_path):
    line = 'gitlab-runner[812]: ' + FORBIDDEN
    (tmp_path / "syslog").write_text(f"Mar 10 12:14:45 ci1 {line}\n")
    (tmp_path / "journal.log").write_text(f"2024-03-10T12:14:45+0000 ci1 {line}\n")
    data, _ = _json(logsleuth_cmd, tmp_path, "--year", "2024", "--tz", "UTC")
    (finding,) = [f for f in data["findings"] if f["rule_id"] == "runner-jobs-forbidden"]
    assert finding["count"] == 1
    assert sorted(e["path"].rsplit("/", 1)[-1] for e in finding["evidence"]) == ["journal.log", "syslog"]
    # Within one input, equal lines are real repeats and both count.
    (tmp_path / "journal.log").write_text(f"2024-03-10T12:14:45+0000 ci1 {line}\n" * 2)
    (tmp_path / "syslog").unlink()
    data, _ = _json(logsleuth_cmd, tmp_path)
    assert [f["count"] for f in data["findings"] if f["rule_id"] == "runner-jobs-forbidden"] == [2]


def test_quiet_prints_one_line_per_incident(logsleuth_cmd, tmp_path):
    log = tmp_path / "kills.log"
    log.write_text(_kill(0, 23817, "java", "docker-4be1f0c2a9e1.scope") + _kill(3, 31001, "node", "docker-9c0ffee12345.scope"))
    out = run(logsleuth_cmd, "scan", log, "-q").stdout.splitlines()
    assert out[0].startswith("logsleuth: 2 incidents, worst CRITICAL")
    body = [line for line in out[1:] if line.startswith("  CRITICAL") or line.startswith("  MAJOR")]
    assert len(body) == 2 and all("+4 facts" in line for line in body)  # the kernel's three and the job's verdict
