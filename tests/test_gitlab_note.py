"""Posting the report as a merge-request note: the real CLI against a real HTTP server on 127.0.0.1.

The server is a small stand-in for GitLab's notes API (GitLab itself cannot run here); it keeps
notes in memory and checks what GitLab checks: the PRIVATE-TOKEN header and the JSON body.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample" / "runner-outage.log"
TOKEN = "glpat-TestTokenValue12345678"
NOTES = "/api/v4/projects/group%2Fproject/merge_requests/7/notes"


class FakeGitLab(BaseHTTPRequestHandler):
    notes: dict[int, str] = {}
    log: list[tuple[str, str]] = []
    status = 200

    def _reply(self, code: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        self.log.append((method, self.path))
        if self.headers.get("PRIVATE-TOKEN") != TOKEN or self.status == 401:
            return self._reply(401, {"message": "401 Unauthorized"})
        path = self.path.split("?", 1)[0]
        if method == "GET" and path == NOTES:
            return self._reply(200, [{"id": i, "body": b} for i, b in sorted(self.notes.items(), reverse=True)])
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]
        if method == "POST" and path == NOTES:
            note_id = max(self.notes, default=100) + 1
            self.notes[note_id] = body
            return self._reply(201, {"id": note_id, "body": body})
        if method == "PUT" and path.startswith(NOTES + "/"):
            note_id = int(path.rsplit("/", 1)[1])
            self.notes[note_id] = body
            return self._reply(200, {"id": note_id, "body": body})
        return self._reply(404, {"message": "404 Not Found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gitlab():
    FakeGitLab.notes, FakeGitLab.log, FakeGitLab.status = {100: "a human's comment"}, [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()
    server.server_close()


def scan(api: str, *extra: str, token: str = TOKEN, log=SAMPLE):
    env = {**os.environ, "CI_API_V4_URL": api, "CI_PROJECT_ID": "group/project", "CI_MERGE_REQUEST_IID": "7",
           "LOGSLEUTH_GITLAB_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "logsleuth", "scan", str(log), "-q", "--mr-note", *extra],
                          capture_output=True, text=True, env=env, timeout=120)


def test_note_is_created_then_updated_in_place(gitlab, tmp_path):
    first = scan(gitlab)
    assert first.returncode == 1 and "merge-request note created" in first.stderr
    (note_id,) = [i for i, b in FakeGitLab.notes.items() if b.startswith("<!-- logsleuth-report -->")]
    assert ":x: **logsleuth: 9 incidents**" in FakeGitLab.notes[note_id]
    clean = tmp_path / "clean.log"
    clean.write_text("2024-03-10T12:00:00+0000 ci1 gitlab-runner[812]: Checking for jobs... received   job=1\n")
    second = scan(gitlab, log=clean)
    assert second.returncode == 0 and "merge-request note updated" in second.stderr
    assert sorted(FakeGitLab.notes) == [100, note_id]  # no second note, the human's note untouched
    assert "no known failure found" in FakeGitLab.notes[note_id] and FakeGitLab.notes[100] == "a human's comment"
    assert [m for m, _ in FakeGitLab.log] == ["GET", "POST", "GET", "PUT"]


def test_the_note_never_carries_secrets_even_with_no_redact(gitlab, tmp_path):
    leaky = tmp_path / "leaky.log"
    leaky.write_text("2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: fatal: unable to access "
                     "'https://deploy:s3cr3tPassw0rd@gitlab.example.com/g/p.git/': SSL certificate problem: "
                     "unable to get local issuer certificate\n")
    out = scan(gitlab, "--no-redact", log=leaky)
    assert out.returncode == 1, out.stderr
    (note,) = [b for b in FakeGitLab.notes.values() if b.startswith("<!--")]
    assert "s3cr3tPassw0rd" not in note and "[REDACTED]" in note


def test_refused_token_is_a_clear_error_without_the_token(gitlab):
    out = scan(gitlab, token="glpat-WrongTokenValue999999")
    assert out.returncode == 2
    assert "GitLab answered 401 Unauthorized to GET" in out.stderr and "WrongToken" not in out.stderr
    assert "Traceback" not in out.stderr and "logsleuth: 9 incidents" in out.stdout  # the report was still printed


def test_missing_variables_and_unreachable_gitlab(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "LOGSLEUTH_"))}
    out = subprocess.run([sys.executable, "-m", "logsleuth", "scan", str(SAMPLE), "-q", "--mr-note"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "CI_MERGE_REQUEST_IID" in out.stderr and "merge-request pipeline" in out.stderr
    down = scan("http://127.0.0.1:9/api/v4")  # the discard port: nothing listens there
    assert down.returncode == 2 and "cannot reach GitLab" in down.stderr and "Traceback" not in down.stderr
