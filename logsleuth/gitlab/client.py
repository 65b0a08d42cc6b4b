"""GitLab at the edge: a small REST client on the standard library (auth, pagination, retries, TLS, limits).

Three endpoints (notes, pipeline jobs, job traces) do not justify python-gitlab's dependency tree.
Every message names the method and the path, never the token, the query or URL userinfo.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from logsleuth.errors import LogsleuthError
from logsleuth.report.redact import redact_text

TOKEN_VARIABLES = ("LOGSLEUTH_GITLAB_TOKEN", "GITLAB_TOKEN")
TOKEN_TYPES = ("private", "bearer", "job")
JSON_LIMIT = 16 * 1024 * 1024
# GitLab's default "maximum job log size" is 100 MB; a trace beyond it is cut by GitLab anyway.
TRACE_LIMIT = 100 * 1024 * 1024
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_REDIRECTS = 5
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class GitLabError(LogsleuthError):
    """GitLab could not be asked, or answered with an error or an unexpected shape.

    The CLI tells it apart from other errors: a note that cannot be posted is a warning.
    `status` is the HTTP status, 0 when there was no answer.
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Client:
    """One GitLab API (base URL ending in /api/v4) and one token; every call bounded in time and size."""

    api: str
    token: str
    token_type: str = "private"
    ca_file: str | None = None
    timeout: float = 15.0  # per socket operation
    deadline: float = 60.0  # per request, retries and Retry-After waits included
    retries: int = 4
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        # A password in CI_API_V4_URL must never be sent along or printed: drop the userinfo.
        bad = GitLabError(f"the GitLab API URL must be http(s)://host[:port]/api/v4, not {display_url(self.api)!r}")
        try:
            parts = urllib.parse.urlsplit(self.api.strip())
            netloc = _netloc(parts)
        except ValueError:  # a port that is not a number, an unclosed [IPv6 bracket
            raise bad from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad
        self.api = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        if self.token_type not in TOKEN_TYPES:
            raise GitLabError(f"unknown token type {self.token_type!r} (choose from {', '.join(TOKEN_TYPES)})")
        self._context = _tls_context(self.ca_file) if parts.scheme == "https" else None

    # --- public calls -----------------------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` (relative to the API base) as JSON. Raises GitLabError."""
        return self._json("GET", self._url(path, params), self.request("GET", self._url(path, params)))

    def send_json(self, method: str, path: str, payload: Mapping[str, Any]) -> Any:
        """POST or PUT a JSON body; returns the decoded answer. Raises GitLabError."""
        url = self._url(path)
        return self._json(method, url, self.request(method, url, payload))

    def get_text(self, path: str, limit: int = TRACE_LIMIT) -> str:
        """GET `path` as text (a job trace), at most `limit` bytes. Raises GitLabError."""
        return self.request("GET", self._url(path), limit=limit).body.decode("utf-8", "replace")

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, max_pages: int = 1000) -> Iterator[Any]:
        """Every item of a list endpoint, page after page (X-Next-Page, else the Link header)."""
        url = self._url(path, {**(params or {}), "per_page": 100})
        for _ in range(max_pages):
            resp = self.request("GET", url)
            items = self._json("GET", url, resp)
            if not isinstance(items, list):
                raise GitLabError(f"GitLab answered GET {_where(url)} with {type(items).__name__}, not a list")
            yield from items
            following = _next_page(url, resp.headers)
            if following is None:
                return
            if not _same_origin(following, self.api):
                raise GitLabError(f"GitLab's next-page link for GET {_where(url)} points to another host")
            url = following
        raise GitLabError(f"GET {_where(path)}: more than {max_pages} pages; stopped")

    # --- one request, retried -----------------------------------------------------------------

    def request(self, method: str, url: str, payload: Mapping[str, Any] | None = None,
                limit: int = JSON_LIMIT) -> Response:
        """One API call with bounded retries on 429/5xx and network errors. Raises GitLabError."""
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, url, payload, limit, start)
            except _Retryable as exc:
                wait = exc.retry_after if exc.retry_after is not None else min(0.5 * 2 ** (attempt - 1), 8.0)
                left = self.deadline - (time.monotonic() - start)
                if attempt > self.retries or wait >= left:
                    raise exc.final(attempt) from None
                self.sleep(wait)

    def _once(self, method: str, url: str, payload: Mapping[str, Any] | None, limit: int, start: float) -> Response:
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {"Accept": "application/json", "User-Agent": "logsleuth"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        target, authorized = url, True
        for _ in range(_MAX_REDIRECTS + 1):
            if authorized:
                headers.update(self._auth())
            else:
                for name in ("PRIVATE-TOKEN", "Authorization", "JOB-TOKEN"):
                    headers.pop(name, None)
            resp = self._open(method, target, data, headers, limit, start)
            if resp.status not in (301, 302, 303, 307, 308):
                return self._checked(method, url, resp)
            location = resp.headers.get("location")
            if not location:
                raise GitLabError(f"GitLab redirected {method} {_where(url)} without a Location", resp.status)
            following = urllib.parse.urljoin(target, location)
            if urllib.parse.urlsplit(following).scheme not in ("http", "https"):
                # urllib would open file:// or ftp:// too: a redirect must not read local files.
                raise GitLabError(f"GitLab redirected {method} {_where(url)} to a non-HTTP URL", resp.status)
            if not _same_origin(following, self.api):
                # The token belongs to GitLab's origin only (issue 19): a GET may go on to, e.g.,
                # object storage without it; a write is refused rather than sent elsewhere.
                if method != "GET":
                    raise GitLabError(f"GitLab redirected {method} {_where(url)} to another host "
                                      f"({display_url(following, path=False)}); not sending the token there",
                                      resp.status)
                authorized = False
            target = following
        raise GitLabError(f"{method} {_where(url)}: more than {_MAX_REDIRECTS} redirects", 310)

    def _open(self, method: str, url: str, data: bytes | None, headers: dict[str, str], limit: int,
              start: float) -> Response:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        left = self.deadline - (time.monotonic() - start)
        if left <= 0:
            raise GitLabError(f"{method} {_where(url)}: no answer within {self.deadline:g} s")
        try:
            with _opener(self._context).open(req, timeout=min(self.timeout, left)) as raw:
                body = _read_capped(raw, limit, start + self.deadline, method, url)
                return Response(raw.status, _lower(raw.headers), body)
        except urllib.error.HTTPError as exc:
            body = _read_capped(exc, 64 * 1024, start + self.deadline, method, url, cut=True)
            return Response(exc.code, _lower(exc.headers), body)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, ssl.SSLError):
                hint = " (a private CA? set CI_SERVER_TLS_CA_FILE or --ca-file)"
                raise GitLabError(f"TLS error for {method} {_where(url)}: {reason}{hint}") from None
            message = f"cannot reach GitLab for {method} {_where(url)}: {self._clean(str(reason))}"
            # Refused or unresolvable is a wrong URL more often than a blip: waiting would not help.
            # A POST cut off may have created the note already: no blind repeat.
            if method == "POST" or isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
                raise GitLabError(message) from None
            raise _Retryable(message, 0, None) from None

    def _checked(self, method: str, url: str, resp: Response) -> Response:
        if resp.status < 400:
            return resp
        detail = _error_detail(resp.body)
        message = f"GitLab answered {resp.status} to {method} {_where(url)}{': ' + self._clean(detail) if detail else ''}"
        if resp.status in _RETRY_STATUSES and (method != "POST" or resp.status == 429):
            # A 5xx to a POST may still have created the note: repeating it could add a second one.
            raise _Retryable(message, resp.status, _retry_after(resp.headers.get("retry-after")))
        raise GitLabError(message + _hint(resp.status), resp.status)

    def _json(self, method: str, url: str, resp: Response) -> Any:
        text = resp.body.decode("utf-8", "replace")
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            kind = resp.headers.get("content-type", "no content type").split(";")[0]
            raise GitLabError(f"GitLab answered {method} {_where(url)} with {kind}, not JSON "
                              "(is the URL GitLab's API base, ending in /api/v4?)", resp.status) from None

    def _auth(self) -> dict[str, str]:
        if self.token_type == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.token_type == "job":
            return {"JOB-TOKEN": self.token}
        return {"PRIVATE-TOKEN": self.token}

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = urllib.parse.urlencode(_flatten(params or {}), doseq=True)
        return f"{self.api}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def _clean(self, text: str) -> str:
        return redact_text(text.replace(self.token, "[REDACTED]") if self.token else text)


class _Retryable(Exception):
    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message)
        self.message, self.status, self.retry_after = message, status, retry_after

    def final(self, attempts: int) -> GitLabError:
        return GitLabError(f"{self.message} (after {attempts} attempt{'s' if attempts != 1 else ''})", self.status)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib's default handler re-sends every header, the token too, to whatever host a 3xx
    # names; redirects are followed by Client._once instead, which decides about the token.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    handlers: list[Any] = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        try:
            # GitLab's CI_SERVER_TLS_CA_FILE holds the instance's CA chain; trust it besides the system's.
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise GitLabError(f"{ca_file}: cannot load the CA file: {exc}") from None
    return context


def _read_capped(raw: Any, limit: int, deadline: float, method: str, url: str, cut: bool = False) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise GitLabError(f"{method} {_where(url)}: the answer took longer than the deadline")
        chunk = raw.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            if cut:
                return b"".join(chunks)[:limit]
            raise GitLabError(f"GitLab's answer to {method} {_where(url)} is larger than {limit // 1024 // 1024} MiB")


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200] if text and not text.startswith("<") else ""
    if isinstance(data, dict):
        value = data.get("message", data.get("error", ""))
        return json.dumps(value)[:300] if not isinstance(value, str) else value[:300]
    return ""


def _hint(status: int) -> str:
    return {
        401: " (the token is invalid, expired or revoked)",
        403: " (the token lacks the `api` scope or its user may not do this; a job token cannot write notes)",
        404: " (wrong project, merge request or pipeline id, or the token's user cannot see it)",
    }.get(status, "")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _next_page(url: str, headers: Mapping[str, str]) -> str | None:
    page = headers.get("x-next-page", "").strip()
    if page:
        parts = urllib.parse.urlsplit(url)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
        query.append(("page", page))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    found = _LINK_NEXT.search(headers.get("link", ""))
    return urllib.parse.urljoin(url, found.group(1)) if found else None


def _flatten(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            out.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
    return out


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}


def _netloc(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _same_origin(url: str, api: str) -> bool:
    return _origin(url) == _origin(api)


def _where(url: str) -> str:
    """The path of a URL, for messages: no host, query (page tokens) or userinfo."""
    return urllib.parse.urlsplit(url).path or "/"


def display_url(url: str, path: bool = True) -> str:
    """`url` without userinfo, query or fragment, safe to print."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        netloc = _netloc(parts)
    except ValueError:  # a port that is not a number, an unclosed [IPv6 bracket
        return "<unparsable URL>"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path if path else "", "", ""))


def token_from_env(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The first token variable set, as (name, value)."""
    for name in TOKEN_VARIABLES:
        if env.get(name):
            return name, env[name]
    return None
