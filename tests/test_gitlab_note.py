"""The sticky merge-request note: the real `logsleuth scan --mr-note` against a real HTTP(S) server on 127.0.0.1.

The server (tests/gitlab_fake.py) stands in for GitLab's notes API, which cannot run here.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from gitlab_fake import ME, SOMEONE, TOKEN, Server, State, make_ca

SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
NOTES = "/api/v4/projects/group%2Fproject/merge_requests/7/notes"
MARKER = "<!-- logsleuth-report -->"
CLEAN_LINE = "2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Checking for jobs... received   job=1\n"


@pytest.fixture
def state():
    s = State()
    for i in range(5):  # with two notes a page, logsleuth's own note lands on page 3 or later
        s.add_note(f"a human's comment {i}", SOMEONE)
    return s


@pytest.fixture
def gitlab(state):
    with Server(state) as server:
        yield server


def scan(api: str, log: Path = SAMPLE, *extra: str, env: dict[str, str] | None = None, mr: str | None = "7",
         token: str = TOKEN):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "LOGSLEUTH_", "GITLAB_"))}
    base.update({"CI_API_V4_URL": api, "CI_PROJECT_ID": "group/project", "LOGSLEUTH_GITLAB_TOKEN": token})
    if mr is not None:
        base["CI_MERGE_REQUEST_IID"] = mr
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "logsleuth", "scan", str(log), "-q", *extra],
                          capture_output=True, text=True, env=base, timeout=120)


def own_notes(state: State) -> list[dict]:
    return [n for n in state.notes.values() if n["author"]["id"] == ME]


def calls(state: State) -> list[tuple[str, str]]:
    return [(c["method"], c["path"]) for c in state.log]


@pytest.fixture
def clean(tmp_path):
    log = tmp_path / "clean.log"
    log.write_text(CLEAN_LINE)
    return log


def test_first_run_creates_one_note_the_second_updates_it_then_a_clean_verdict(gitlab, state, clean):
    # A human quoting the marker, and a system note carrying it, are not logsleuth's note.
    quoted = state.add_note(f"{MARKER}\n> the bot said this", SOMEONE)
    system = state.add_note(f"{MARKER} mentioned in commit abc", ME, system=True)
    first = scan(gitlab.api, SAMPLE, "--mr-note")
    assert first.returncode == 1, first.stderr
    (mine,) = [n for n in own_notes(state) if not n["system"]]
    assert "merge-request note created" in first.stderr
    assert mine["body"].startswith(MARKER) and ":x: **logsleuth: 9 incidents**" in mine["body"]
    # Every page of the notes was read (two notes a page), /user asked once.
    note_pages = [c["query"].get("page", ["1"])[0] for c in state.log if c["path"] == NOTES and c["method"] == "GET"]
    assert note_pages == ["1", "2", "3", "4"] and calls(state).count(("GET", "/api/v4/user")) == 1

    for i in range(4):  # the note now sits on a later page
        state.add_note(f"another comment {i}", SOMEONE)
    state.log.clear()
    second = scan(gitlab.api, SAMPLE, "--mr-note")
    assert second.returncode == 1 and f"merge-request note updated (note {mine['id']})" in second.stderr
    assert calls(state)[-1] == ("PUT", f"{NOTES}/{mine['id']}")
    assert ("POST", NOTES) not in calls(state)

    third = scan(gitlab.api, clean, "--mr-note")
    assert third.returncode == 0, third.stderr
    assert len([n for n in own_notes(state) if not n["system"]]) == 1
    assert "no known failure found" in state.notes[mine["id"]]["body"]  # a clean verdict, not a stale report
    assert state.notes[quoted]["body"].startswith(MARKER + "\n> the bot")  # left alone
    assert state.notes[system]["body"] == f"{MARKER} mentioned in commit abc"
    assert not state.problems


def test_429_then_200_is_retried(gitlab, state):
    state.queue[("GET", NOTES)] = [(429, {"Retry-After": "1"}, {"message": "429 Too Many Requests"})]
    state.queue[("POST", NOTES)] = [(502, {}, {"message": "502 Bad Gateway"})]
    out = scan(gitlab.api, SAMPLE, "--mr-note")
    # The 429 is waited out; a 5xx to the POST is not repeated blindly (it may have created the note).
    assert out.returncode == 1 and "note not posted: GitLab answered 502" in out.stderr
    assert calls(state).count(("GET", NOTES)) >= 2 and calls(state).count(("POST", NOTES)) == 1
    state.queue[("PUT", f"{NOTES}/999")] = []
    state.queue[("GET", NOTES)] = [(503, {}, {"message": "503"}), (429, {"Retry-After": "0"}, {})]
    again = scan(gitlab.api, SAMPLE, "--mr-note")
    assert again.returncode == 1 and "merge-request note created" in again.stderr, again.stderr


def test_403_is_a_clear_warning_and_required_makes_it_exit_2(gitlab, state, clean):
    for _ in range(2):
        state.queue.setdefault(("POST", NOTES), []).append((403, {}, {"message": "403 Forbidden"}))
    out = scan(gitlab.api, clean, "--mr-note")
    assert out.returncode == 0  # the scan's own status stands
    assert "logsleuth: warning: merge-request note not posted: GitLab answered 403 to POST " + NOTES in out.stderr
    assert "api` scope" in out.stderr and TOKEN not in out.stderr and "Traceback" not in out.stderr
    required = scan(gitlab.api, clean, "--mr-note=required")
    assert required.returncode == 2 and "logsleuth: error: merge-request note not posted" in required.stderr


def test_a_branch_pipeline_warns_and_keeps_the_scan_status(gitlab, state, clean):
    out = scan(gitlab.api, clean, "--mr-note", mr=None)
    assert out.returncode == 0 and "not a merge-request pipeline" in out.stderr and "warning" in out.stderr
    findings = scan(gitlab.api, SAMPLE, "--mr-note", mr=None)
    assert findings.returncode == 1
    assert scan(gitlab.api, clean, "--mr-note=required", mr=None).returncode == 2
    assert state.log == []  # nothing was sent


def test_no_token_and_unreachable_gitlab_are_warnings(gitlab, state, clean):
    out = scan(gitlab.api, clean, "--mr-note", token="")
    assert out.returncode == 0 and "LOGSLEUTH_GITLAB_TOKEN or GITLAB_TOKEN" in out.stderr
    down = scan("http://127.0.0.1:9/api/v4", clean, "--mr-note")  # the discard port: nothing listens there
    assert down.returncode == 0 and "cannot reach GitLab for GET /api/v4/user" in down.stderr
    assert "Traceback" not in down.stderr


def test_refused_token_is_a_clear_message_without_the_token(gitlab, state):
    wrong = "glpat-WrongTokenValue999999"
    out = scan(gitlab.api, SAMPLE, "--mr-note=required", token=wrong)
    assert out.returncode == 2 and "GitLab answered 401 to GET /api/v4/user" in out.stderr
    assert "invalid, expired or revoked" in out.stderr and wrong not in out.stderr + out.stdout
    assert "logsleuth: 9 incidents" in out.stdout  # the report was still printed


def test_bearer_token_and_gitlab_token_variable(gitlab, state):
    env = {"GITLAB_TOKEN": TOKEN}
    out = scan(gitlab.api, SAMPLE, "--mr-note", "--token-type", "bearer", env=env, token="")
    assert "merge-request note created" in out.stderr, out.stderr
    assert all(c["headers"].get("authorization") == f"Bearer {TOKEN}" for c in state.log)
    assert all("private-token" not in c["headers"] for c in state.log)


def test_dry_run_prints_the_note_and_sends_nothing(gitlab, state):
    out = scan(gitlab.api, SAMPLE, "--mr-note-dry-run")
    assert "dry run, not sent; target: projects/group%2Fproject/merge_requests/7/notes" in out.stderr
    assert MARKER + "\n:x: **logsleuth: 9 incidents**" in out.stderr and state.log == []


def test_tls_through_a_ca_file_made_here(tmp_path, state, clean):
    ca_file, context = make_ca(tmp_path)
    with Server(state, tls=context) as server:
        assert server.api.startswith("https://")
        untrusted = scan(server.api, clean, "--mr-note")
        assert untrusted.returncode == 0 and "TLS error for GET /api/v4/user" in untrusted.stderr
        assert "CI_SERVER_TLS_CA_FILE" in untrusted.stderr
        trusted = scan(server.api, clean, "--mr-note", env={"CI_SERVER_TLS_CA_FILE": str(ca_file)})
        assert "merge-request note created" in trusted.stderr, trusted.stderr
        state.log.clear()
        by_option = scan(server.api, clean, "--mr-note", "--ca-file", str(ca_file))
        assert "merge-request note updated" in by_option.stderr, by_option.stderr


def test_the_token_appears_nowhere(gitlab, state, tmp_path):
    leaky = tmp_path / "leaky.log"
    leaky.write_text(
        "2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: fatal: unable to access "
        f"'https://gitlab-ci-token:{TOKEN}@gitlab.example.com/g/p.git/': SSL certificate problem: "
        "unable to get local issuer certificate\n"
        f"2024-03-10T12:00:02+0000 ci1 gitlab-runner[812]: curl -H 'PRIVATE-TOKEN: {TOKEN}' failed\n")
    # GitLab echoing the token back in an error must not carry it into a message either.
    state.queue[("GET", NOTES)] = [(500, {}, {"message": f"boom {TOKEN}"})]
    reports = {fmt: tmp_path / f"report.{fmt}" for fmt in ("codequality", "markdown", "junit", "sarif", "json")}
    args = [a for fmt, path in reports.items() for a in ("--report", f"{fmt}={path}")]
    out = scan(gitlab.api, leaky, "--mr-note", "--no-redact", *args)
    assert "merge-request note created" in out.stderr, out.stderr
    (note,) = own_notes(state)
    assert TOKEN not in note["body"] and "[REDACTED]" in note["body"]  # the note is redacted even with --no-redact
    assert TOKEN not in out.stderr
    out = scan(gitlab.api, leaky, "--mr-note", *args)
    for name, text in [("stdout", out.stdout), ("stderr", out.stderr),
                       *((str(p), p.read_text()) for p in reports.values())]:
        assert TOKEN not in text, name


def test_credentials_in_the_api_url_are_never_printed(clean):
    out = scan("http://deploy:Sup3rSecretPw@127.0.0.1:9/api/v4", clean, "--mr-note")
    assert out.returncode == 0 and "cannot reach GitLab" in out.stderr
    assert "Sup3rSecretPw" not in out.stderr and "deploy" not in out.stderr


def test_mr_note_before_an_input_takes_no_value_from_it(gitlab, state, clean):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "LOGSLEUTH_", "GITLAB_"))}
    out = subprocess.run([sys.executable, "-m", "logsleuth", "scan", "--mr-note", str(clean), "-q"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "not a merge-request pipeline" in out.stderr, out.stderr
    typo = subprocess.run([sys.executable, "-m", "logsleuth", "scan", str(clean), "--mr-note=requird"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert typo.returncode == 2 and "'requird' is not one of off, auto, required" in typo.stderr
