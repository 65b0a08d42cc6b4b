"""Post the Markdown report as a merge-request note through GitLab's REST API (after render).

One note per merge request: a hidden marker finds logsleuth's earlier note, which is updated
instead of adding a new one on every pipeline. The job token cannot write notes (GitLab's job
token API allows only GET on notes), so a project or personal access token with `api` scope is
needed, in LOGSLEUTH_GITLAB_TOKEN.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

from logsleuth.errors import LogsleuthError

MARKER = "<!-- logsleuth-report -->"
TOKEN_VARIABLE = "LOGSLEUTH_GITLAB_TOKEN"


@dataclass(frozen=True)
class Target:
    """Where the note goes: `{api}/projects/{project}/merge_requests/{mr}/notes`."""

    api: str
    project: str
    mr: str
    token: str

    @property
    def notes_url(self) -> str:
        project = urllib.parse.quote(self.project, safe="")
        return f"{self.api.rstrip('/')}/projects/{project}/merge_requests/{self.mr}/notes"


def target_from_env(env: Mapping[str, str]) -> Target:
    """The merge request of this pipeline, from GitLab CI's variables; raises LogsleuthError when one is missing."""
    names = ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", TOKEN_VARIABLE)
    missing = [n for n in names if not env.get(n)]
    if missing:
        hint = " (is this a merge-request pipeline?)" if "CI_MERGE_REQUEST_IID" in missing else ""
        raise LogsleuthError(f"cannot post the merge-request note: {', '.join(missing)} not set{hint}")
    return Target(env["CI_API_V4_URL"], env["CI_PROJECT_ID"], env["CI_MERGE_REQUEST_IID"], env[TOKEN_VARIABLE])


def post(target: Target, markdown: str, timeout: float = 15.0) -> str:
    """Create the note, or update logsleuth's earlier one; returns "created" or "updated".

    Raises LogsleuthError for HTTP or network failures; the token never appears in a message.
    """
    body = f"{MARKER}\n{markdown}"
    note_id = _existing_note(target, timeout)
    if note_id is None:
        _request(target, "POST", target.notes_url, {"body": body}, timeout)
        return "created"
    _request(target, "PUT", f"{target.notes_url}/{note_id}", {"body": body}, timeout)
    return "updated"


def _existing_note(target: Target, timeout: float) -> int | None:
    # Newest first; logsleuth's note is normally recent, and one page keeps this to one request.
    notes = _request(target, "GET", f"{target.notes_url}?sort=desc&order_by=updated_at&per_page=100", None, timeout)
    for note in notes if isinstance(notes, list) else ():
        if isinstance(note, dict) and str(note.get("body", "")).startswith(MARKER):
            return int(note["id"])
    return None


def _request(target: Target, method: str, url: str, payload: dict[str, str] | None, timeout: float) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"PRIVATE-TOKEN": target.token, "Content-Type": "application/json"})
    where = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300].replace(target.token, "[REDACTED]")
        raise LogsleuthError(f"GitLab answered {exc.code} {exc.reason} to {method} {where}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LogsleuthError(f"cannot reach GitLab for {method} {where}: {reason}") from None
    return json.loads(text) if text.strip() else None
