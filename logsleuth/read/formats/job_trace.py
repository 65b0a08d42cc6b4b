"""Stage 1, sources: GitLab CI job traces (the job log as the runner writes it).

Each line may carry an FF_TIMESTAMPS prefix (`2024-03-10T12:00:00.123456Z 00O `; `+` continues the
previous line), `section_start:<ts>:<name>[opts]\\r\\x1b[0K` / `section_end:…` markers anywhere in
the line, `\\r` progress rewrites (the text after the last `\\r` is what the UI shows), ANSI colours
and `$ command` echo lines. Every event knows its innermost open section (formats.md §5). A Go
error a terminal wrapped after a `:` is joined into one event (lines.go_wrapped).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable, Iterator

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.sample import sample_bytes
from logsleuth.read.formats import clock
from logsleuth.read.formats.lines import MAX_WRAPPED, go_wrapped
from logsleuth.read.formats.runner import runner_prefix_level
from logsleuth.read.text import clean, decode

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([0-9a-f]{2})([OE])([ +])")
_SECTION = re.compile(r"section_(start|end):(\d+):([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?\r\x1b\[0K")
_SECTIONS = "job_trace.sections"


def _apply(ctx: ParseContext, kind: str, name: str) -> None:
    stack: list[str] = ctx.state.setdefault(_SECTIONS, [])
    if kind == "start":
        stack.append(name)
    elif name in stack:
        # Close the named section and anything left open inside it (a killed step never ends).
        del stack[stack.index(name):]


def _current(ctx: ParseContext) -> str | None:
    stack = ctx.state.get(_SECTIONS)
    return stack[-1] if stack else None


def _text_and_section(body: str, ctx: ParseContext) -> tuple[str, str | None]:
    """The visible text of a line and the section it belongs to, applying its markers in order."""
    if "section_" not in body:
        return body, _current(ctx)
    parts: list[str] = []
    section = _current(ctx)
    pos = 0
    for m in _SECTION.finditer(body):
        seg = body[pos:m.start()]
        if clean(seg).strip():
            parts.append(seg)
            section = _current(ctx)
        _apply(ctx, m.group(1), m.group(3))
        pos = m.end()
    tail = body[pos:]
    if clean(tail).strip():
        parts.append(tail)
        section = _current(ctx)
    return "".join(parts), section


def _visible(text: str) -> str:
    text = clean(text)
    if "\r" in text:
        # Progress bars rewrite the line with \r; the trace viewer keeps what was written last.
        stripped = text.rstrip("\r")
        text = stripped[stripped.rfind("\r") + 1:]
    return text.rstrip()


def _record(ctx: ParseContext, raw: str, body: str, n: int, span: int, ts: datetime | None) -> Record | None:
    text, section = _text_and_section(body, ctx)
    message = _visible(text)
    if not message:
        return None  # a bare section marker or an erased line
    fields: dict[str, FieldValue] = {}
    if message.startswith("$ "):
        fields["command"] = message[2:]
    return Record(message=message, origin=Origin(ctx.path, n, span), format="job-trace", raw=raw,
                  ts=ts, level=runner_prefix_level(message), section=section, fields=fields)


def _wraps(prev_body: str, body: str) -> bool:
    """Whether `body` is the tail of a Go error wrapped after `prev_body` (lines.go_wrapped, on the
    visible text: colours and section markers do not count)."""
    if "section_" in body:
        return False
    return go_wrapped(clean(_SECTION.sub("", prev_body)).encode("utf-8", "replace"),
                      clean(body).encode("utf-8", "replace"))


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    """Records of a job trace; with FF_TIMESTAMPS, `+` continuation lines join the line before, and
    a Go error wrapped after a `:` (at most lines.MAX_WRAPPED tails) is one record."""
    # raw, body, first line, span, ts, stamped, last physical body, wrapped tails so far
    pending: tuple[str, str, int, int, datetime | None, bool, str, int] | None = None
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        raw = decode(line.rstrip(b"\n"))
        m = _STAMP.match(raw)
        if m and m.group(4) == "+" and pending is not None and pending[5]:
            r, b, first, span, ts, _stamped, last, wraps = pending
            part = raw[m.end():]
            pending = (r + "\n" + raw, b + part, first, span + 1, ts, True, last + part, wraps)
            continue
        body = raw[m.end():] if m else raw
        if pending is not None and pending[7] < MAX_WRAPPED and pending[5] == bool(m) and _wraps(pending[6], body):
            r, b, first, span, ts, stamped, _last, wraps = pending
            pending = (r + "\n" + raw, b.rstrip() + " " + body.strip(), first, span + 1, ts, stamped, body, wraps + 1)
            continue
        if pending is not None:
            rec = _record(ctx, *pending[:5])
            if rec is not None:
                yield rec
        pending = (raw, body, n, 1, clock.iso(m.group(1)) if m else None, bool(m), body, 0)
    if pending is not None:
        rec = _record(ctx, *pending[:5])
        if rec is not None:
            yield rec


_SNIFF = re.compile(rb"section_start:\d+:|Running with gitlab-runner |^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z [0-9a-f]{2}[OE][ +]")
_STAMPED = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z [0-9a-f]{2}[OE][ +]")
_STAMP_ANYWHERE = re.compile(rb"\.\d{6}Z [0-9a-f]{2}[OE][ +]")  # the stamp's tail, anywhere in a sample


def sniff(sample: list[bytes]) -> str | None:
    # Every input's first lines pass through here: the substring tests (memchr-fast) go first, the
    # regex's three-way alternation tried at every offset cost 0.1 ms a file (10,000 files: 1 s).
    blob = sample_bytes(sample)
    if b"section_start:" not in blob and b"Running with gitlab-runner " not in blob and (
            b"Z " not in blob or _STAMP_ANYWHERE.search(blob) is None):
        return None  # no marker and no FF_TIMESTAMPS stamp (`...123456Z 00O `): not a trace
    for line in sample:
        if b"section_start:" in line or b"Running with gitlab-runner " in line or _STAMPED.match(line):
            m = _SNIFF.search(line)
            if m:
                return f"GitLab CI job trace marker {m.group(0)[:40].decode('utf-8', 'replace')!r}"
    return None


FORMAT = Format("job-trace", sniff, parse, description="GitLab CI job trace (sections, FF_TIMESTAMPS)")
