"""GitLab at the edge: the Markdown report as one sticky merge-request note (after render).

One note per merge request: logsleuth's earlier note is the one that carries the marker, was
written by the token's own user (`GET /user`) and is not a system note; it is updated in place,
so a quote of the marker by a human is never touched. GitLab's job token cannot write notes (its
access table, doc/ci/jobs/ci_job_token.md, allows only the two GET endpoints of the Notes API), so
posting needs a project, group or personal access token with the `api` scope, in
LOGSLEUTH_GITLAB_TOKEN (or GITLAB_TOKEN).
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping

from logsleuth.gitlab.client import Client, GitLabError

MARKER = "<!-- logsleuth-report -->"
# GitLab refuses a note body over 1,000,000 characters; the marker and a newline come on top.
MAX_BODY = 1_000_000


@dataclass(frozen=True)
class Target:
    """Where the note goes: project id or path and the merge request's iid."""

    project: str
    mr: str

    @property
    def notes_path(self) -> str:
        return f"projects/{urllib.parse.quote(self.project, safe='')}/merge_requests/{self.mr}/notes"


def target_from_env(env: Mapping[str, str]) -> Target | None:
    """This pipeline's merge request, or None outside a merge-request pipeline (no CI_MERGE_REQUEST_IID)."""
    project, mr = env.get("CI_PROJECT_ID", ""), env.get("CI_MERGE_REQUEST_IID", "")
    if not project or not mr:
        return None
    return Target(project, mr)


def note_body(markdown: str) -> str:
    """What is sent: the marker, then the report."""
    return f"{MARKER}\n{markdown}"


def post(client: Client, target: Target, markdown: str) -> tuple[str, int]:
    """Create the note, or update logsleuth's own earlier one: ("created" | "updated", note id).

    Raises GitLabError for HTTP or network failures; the token never appears in a message.
    """
    body = note_body(markdown)
    me = _user_id(client)
    note_id = find_own_note(client, target, me)
    if note_id is None:
        created = client.send_json("POST", target.notes_path, {"body": body})
        return "created", _note_id(created, "POST")
    client.send_json("PUT", f"{target.notes_path}/{note_id}", {"body": body})
    return "updated", note_id


def find_own_note(client: Client, target: Target, user_id: int) -> int | None:
    """The oldest note with the marker by `user_id` that is not a system note (every page is read)."""
    for note in client.paginate(target.notes_path, {"sort": "asc", "order_by": "created_at"}):
        if _is_own(note, user_id):
            return _note_id(note, "GET")
    return None


def _is_own(note: Any, user_id: int) -> bool:
    if not isinstance(note, dict) or note.get("system"):
        return False
    author = note.get("author")
    body = note.get("body")
    return (isinstance(author, dict) and author.get("id") == user_id
            and isinstance(body, str) and body.startswith(MARKER))


def _user_id(client: Client) -> int:
    user = client.get_json("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise GitLabError("GitLab's answer to GET /user has no user id")
    return int(user["id"])


def _note_id(note: Any, method: str) -> int:
    if not isinstance(note, dict) or not isinstance(note.get("id"), int):
        raise GitLabError(f"GitLab's answer to {method} a note has no note id")
    return int(note["id"])
