"""Findings stage: a baseline of what a scan found (incidents, findings, error templates), to tell new from known.

`logsleuth baseline write FILE` stores the fingerprints of a scan's incidents and findings and the
ids of its error templates, with counts and dates; `scan --baseline FILE` marks everything found
*new* or *known* against it, and `--fail-on-new` judges only the new. The file is meant to be
committed: versioned, sorted, one entry per line, no absolute paths and no log text beyond the
masked templates (which hold no captured values).
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from logsleuth.errors import LogsleuthError, Location
from logsleuth.model import Report, Unexplained

FORMAT = "logsleuth-baseline"
VERSION = 1
_SECTIONS = ("incidents", "findings", "templates")
MAX_BYTES = 64 << 20  # a baseline is small; anything bigger is not one


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts is not None else None


def build(report: Report) -> dict[str, Any]:
    """The baseline document of `report` (JSON-ready)."""
    incidents = {i.fingerprint: {"rule_id": i.root.rule_id, "count": sum(f.count for f in i.facts),
                                 "first_seen": _iso(i.first_seen), "last_seen": _iso(i.last_seen)}
                 for i in report.incidents}
    findings = {f.fingerprint: {"rule_id": f.rule_id, "count": f.count,
                                "first_seen": _iso(f.first_seen), "last_seen": _iso(f.last_seen)}
                for f in report.findings}
    templates = {t.id: {"template": t.template, "count": t.count,
                        "first_seen": _iso(t.first_seen), "last_seen": _iso(t.last_seen)}
                 for t in report.unexplained.templates}
    return {"format": FORMAT, "version": VERSION, "logsleuth_version": report.version,
            "written_at": _iso(report.generated_at),
            "incidents": dict(sorted(incidents.items())), "findings": dict(sorted(findings.items())),
            "templates": dict(sorted(templates.items()))}


def dumps(doc: dict[str, Any]) -> str:
    """The file's text: one key per line so that a changed baseline diffs by entry."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def load(path: str) -> frozenset[str]:
    """The fingerprints and template ids a baseline file knows. Raises LogsleuthError (file, and line where known)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise LogsleuthError(f"cannot read baseline: {exc.strerror}", Location(path)) from None
    if len(raw) > MAX_BYTES:
        raise LogsleuthError(f"not a baseline: larger than {MAX_BYTES >> 20} MiB", Location(path))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LogsleuthError(f"baseline is not UTF-8 (byte {exc.start})", Location(path)) from None
    except json.JSONDecodeError as exc:
        raise LogsleuthError(f"baseline is not JSON: {exc.msg}", Location(path, exc.lineno, exc.colno)) from None
    return _known(doc, path)


def _known(doc: Any, path: str) -> frozenset[str]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LogsleuthError(f"not a logsleuth baseline (no \"format\": \"{FORMAT}\"; "
                             "write one with `logsleuth baseline write FILE`)", Location(path))
    if doc.get("version") != VERSION:
        raise LogsleuthError(f"baseline version {doc.get('version')!r} is not one this logsleuth reads ({VERSION})",
                             Location(path))
    known: set[str] = set()
    for section in _SECTIONS:
        entries = doc.get(section, {})
        if not isinstance(entries, dict):
            raise LogsleuthError(f"baseline {section!r} must be an object keyed by fingerprint", Location(path))
        known.update(str(k) for k in entries)
    return frozenset(known)


def mark(report: Report, known: frozenset[str]) -> Report:
    """`report` compared with a baseline: every format then says new or known."""
    return dataclasses.replace(report, known=known)


def only_new(report: Report) -> Report:
    """The part of a marked report the baseline did not know: what `--fail-on-new` judges."""
    known = report.known or frozenset()
    new_templates = tuple(t for t in report.unexplained.templates if t.id not in known)
    # Lines whose template was evicted cannot be compared: they count as new.
    lines = sum(t.count for t in new_templates) + report.unexplained.dropped
    return dataclasses.replace(
        report,
        findings=tuple(f for f in report.findings if f.fingerprint not in known),
        incidents=tuple(i for i in report.incidents if i.fingerprint not in known),
        unexplained=Unexplained(lines, (), new_templates, report.unexplained.dropped),
    )
