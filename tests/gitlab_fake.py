"""A stand-in for the parts of GitLab's REST API logsleuth uses, served over real HTTP(S) on 127.0.0.1.

GitLab itself cannot run here, so this server implements what the client relies on and checks
what GitLab checks: the auth header (PRIVATE-TOKEN or Authorization: Bearer), JSON request
bodies, `scope[]` on job lists, pagination by page/per_page with X-Next-Page and Link headers,
403 on updating another user's note. Endpoints: GET /user; notes list/create/update of a merge
request; pipeline jobs and bridges; job trace. `queue` scripts one-off answers (a 429 first...).
"""
from __future__ import annotations

import json
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "glpat-TestTokenValue12345678"
ME, SOMEONE = 42, 7


@dataclass
class State:
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    per_page_cap: int = 2  # small, so that a handful of notes spans several pages
    log: list[dict[str, Any]] = field(default_factory=list)
    queue: dict[tuple[str, str], list[tuple[int, dict[str, str], Any]]] = field(default_factory=dict)
    jobs: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    bridges: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    traces: dict[int, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> absolute URL to send a 302 to
    problems: list[str] = field(default_factory=list)  # request shapes GitLab would reject
    link_only: bool = False  # paginate with a Link header only, as some proxies leave it

    def add_note(self, body: str, author: int, system: bool = False) -> int:
        note_id = max(self.notes, default=100) + 1
        self.notes[note_id] = {"id": note_id, "body": body, "author": {"id": author}, "system": system}
        return note_id


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def _reply(self, code: int, payload: Any, headers: dict[str, str] | None = None,
                   content_type: str = "application/json") -> None:
            body = payload if isinstance(payload, bytes) else (
                payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            path, query = url.path, urllib.parse.parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.log.append({"method": method, "path": path, "query": query,
                              "headers": {k.lower(): v for k, v in self.headers.items()}, "body": raw})
            if path in state.redirects:
                return self._reply(302, {}, {"Location": state.redirects[path]})
            scripted = state.queue.get((method, path))
            if scripted:
                code, headers, payload = scripted.pop(0)
                if code < 0:  # drop the connection without an answer
                    self.close_connection = True
                    return self.connection.shutdown(2)
                return self._reply(code, payload, headers)
            if not self._authorized():
                return self._reply(401, {"message": "401 Unauthorized"})
            payload: Any = None
            if method in ("POST", "PUT"):
                if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    state.problems.append(f"{method} {path}: Content-Type {self.headers.get('Content-Type')}")
                try:
                    payload = json.loads(raw)
                except ValueError:
                    return self._reply(400, {"error": "body is not JSON"})
            self._route(method, path, query, payload)

        def _authorized(self) -> bool:
            return (self.headers.get("PRIVATE-TOKEN") == TOKEN
                    or self.headers.get("Authorization") == f"Bearer {TOKEN}")

        def _route(self, method: str, path: str, query: dict[str, list[str]], payload: Any) -> None:
            parts = path.strip("/").split("/")
            if parts[:2] != ["api", "v4"]:
                return self._reply(404, {"message": "404 Not Found"})
            parts = parts[2:]
            if parts == ["user"] and method == "GET":
                return self._reply(200, {"id": ME, "username": "logsleuth-bot"})
            if len(parts) >= 5 and parts[0] == "projects" and parts[2] == "merge_requests" and parts[4] == "notes":
                return self._notes(method, parts[5:], query, payload)
            if len(parts) == 5 and parts[0] == "projects" and parts[2] == "pipelines" and method == "GET":
                key = (urllib.parse.unquote(parts[1]), int(parts[3]))
                if parts[4] == "jobs":
                    if query.get("scope[]") != ["failed"]:
                        state.problems.append(f"jobs listed without scope[]=failed: {query}")
                    return self._page(state.jobs.get(key, []), query)
                if parts[4] == "bridges":
                    return self._page(state.bridges.get(key, []), query)
            if len(parts) == 5 and parts[0] == "projects" and parts[2] == "jobs" and parts[4] == "trace":
                trace = state.traces.get(int(parts[3]))
                if trace is not None:
                    return self._reply(200, trace.encode(), content_type="text/plain")
            return self._reply(404, {"message": "404 Not Found"})

        def _notes(self, method: str, rest: list[str], query: dict[str, list[str]], payload: Any) -> None:
            if method == "GET" and not rest:
                ordered = sorted(state.notes.values(), key=lambda n: n["id"],
                                 reverse=query.get("sort") == ["desc"])
                return self._page(ordered, query)
            if method == "POST" and not rest:
                if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
                    return self._reply(400, {"error": "body is missing"})
                note_id = state.add_note(payload["body"], ME)
                return self._reply(201, state.notes[note_id])
            if method == "PUT" and len(rest) == 1 and rest[0].isdigit() and int(rest[0]) in state.notes:
                note = state.notes[int(rest[0])]
                if note["author"]["id"] != ME or note["system"]:
                    return self._reply(403, {"message": "403 Forbidden"})
                if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
                    return self._reply(400, {"error": "body is missing"})
                note["body"] = payload["body"]
                return self._reply(200, note)
            return self._reply(404, {"message": "404 Note Not Found"})

        def _page(self, items: list[Any], query: dict[str, list[str]]) -> None:
            per_page = min(int(query.get("per_page", ["20"])[0]), state.per_page_cap)
            page = int(query.get("page", ["1"])[0])
            chunk = items[(page - 1) * per_page: page * per_page]
            headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items))}
            if page * per_page < len(items):
                if state.link_only:
                    query = {**query, "page": [str(page + 1)]}
                    target = urllib.parse.urlunsplit(("http", self.headers.get("Host", ""), self.path.split("?")[0],
                                                      urllib.parse.urlencode(query, doseq=True), ""))
                    headers["Link"] = f'<{target}>; rel="next"'
                else:
                    headers["X-Next-Page"] = str(page + 1)
            return self._reply(200, chunk, headers)

    return Handler


class Server:
    """The fake GitLab in a thread; `api` is its CI_API_V4_URL."""

    def __init__(self, state: State, tls: ssl.SSLContext | None = None) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/api/v4"

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI); (CA file, server context)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")  # EC keys: made in milliseconds
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=logsleuth test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                       "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return directory / "ca.pem", context
