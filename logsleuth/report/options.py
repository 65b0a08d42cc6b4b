"""Report stage: the rendering options every report module reads (chosen by the CLI from flags, TTY, environment)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderOptions:
    """How to render: chosen by the CLI from flags, TTY and environment."""

    color: bool = False
    verbosity: int = 0
    template: str | None = None
    template_dir: str | None = None
    cq_path: str | None = None
    redact: bool = True
    max_chars: int = 990_000
    fail_on: str = "major"  # incidents below it are notes, not failures (JUnit, Markdown's verdict)
    allow_empty: bool = False  # an input with nothing to check is not worth a warning verdict
    show_unmatched: bool = False  # list the error lines no rule recognised
    # (log path, CI job name) pairs when known (`gitlab pipeline`): the job, not the trace's file
    # name, goes into Code Quality fingerprints.
    job_names: tuple[tuple[str, str], ...] = ()
    # (log path, line, label) when known: where an evidence line was, in CI terms ("job build
    # (stage build, #101), section prepare_executor"), shown with it in the Markdown note.
    places: tuple[tuple[str, int, str], ...] = ()
