"""GitLab at the edge: a pipeline's failed jobs (child and downstream pipelines too) and their traces.

`GET /projects/:id/pipelines/:pipeline_id/jobs?scope[]=failed` lists a pipeline's failed jobs;
trigger jobs are "bridges" (`…/bridges`), whose `downstream_pipeline` is followed to its own jobs.
Each trace (`GET /projects/:id/jobs/:job_id/trace`) is saved to a file named after its job, so the
scan's evidence paths say which job they come from.
"""
from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterator

from logsleuth.errors import Diagnostics
from logsleuth.gitlab.client import Client, GitLabError

# Parent -> child -> grandchild is as deep as real pipelines go; this bounds a cycle of triggers.
MAX_DEPTH = 5
MAX_PIPELINES = 50
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Job:
    """A failed job as GitLab lists it."""

    id: int
    name: str
    stage: str
    web_url: str
    failure_reason: str
    pipeline_id: int
    project_id: str

    @property
    def trace_path(self) -> str:
        return f"projects/{_quote(self.project_id)}/jobs/{self.id}/trace"

    @property
    def file_name(self) -> str:
        """The trace's file name: job id and name, safe on every file system."""
        return f"{self.id}-{_UNSAFE_NAME.sub('_', self.name).strip('_')[:80] or 'job'}.log"


def failed_jobs(client: Client, project: str, pipeline: int) -> list[Job]:
    """The failed jobs of `pipeline` and of every pipeline its bridges triggered, parents first."""
    out: list[Job] = []
    seen: set[tuple[str, int]] = set()
    queue: list[tuple[str, int, int]] = [(project, pipeline, 0)]
    while queue:
        proj, pipe, depth = queue.pop(0)
        if (proj, pipe) in seen or len(seen) >= MAX_PIPELINES:
            continue
        seen.add((proj, pipe))
        base = f"projects/{_quote(proj)}/pipelines/{pipe}"
        out.extend(_job(j, proj, pipe) for j in client.paginate(f"{base}/jobs", {"scope[]": ["failed"]}))
        if depth < MAX_DEPTH:
            queue.extend((p or proj, i, depth + 1) for p, i in _downstream(client.paginate(f"{base}/bridges")))
    return out


def save_traces(client: Client, jobs: list[Job], directory: str, diag: Diagnostics) -> list[tuple[Job, str]]:
    """Fetch each job's trace into `directory`; returns (job, file) pairs. Raises GitLabError.

    A job without a trace (404: it never started, or its trace expired) is a warning, not the end.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise GitLabError(f"{directory}: cannot create the traces directory: {exc.strerror}") from None
    saved = []
    for job in jobs:
        try:
            trace = client.get_text(job.trace_path)
        except GitLabError as exc:
            if exc.status != 404:
                raise
            diag.warn(f"job {job.name} (#{job.id}) has no trace: {exc}")
            trace = ""
        path = os.path.join(directory, job.file_name)
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(trace)
        except OSError as exc:
            raise GitLabError(f"{path}: cannot save the trace: {exc.strerror}") from None
        saved.append((job, path))
    return saved


def _downstream(bridges: Iterator[Any]) -> Iterator[tuple[str, int]]:
    for bridge in bridges:
        pipeline = bridge.get("downstream_pipeline") if isinstance(bridge, dict) else None
        if isinstance(pipeline, dict) and isinstance(pipeline.get("id"), int):
            yield str(pipeline.get("project_id") or ""), int(pipeline["id"])


def _job(data: Any, project: str, pipeline: int) -> Job:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise GitLabError(f"GitLab listed a job of pipeline {pipeline} without an id")
    return Job(id=int(data["id"]), name=str(data.get("name") or data["id"]), stage=str(data.get("stage") or ""),
               web_url=str(data.get("web_url") or ""), failure_reason=str(data.get("failure_reason") or ""),
               pipeline_id=pipeline, project_id=project)


def _quote(project: str) -> str:
    return urllib.parse.quote(project, safe="")
