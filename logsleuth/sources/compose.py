"""Stage 1, sources: `docker compose logs` output: `svc_1  | message` (v1) or `svc-1  | message` (v2),
optionally with `-t` timestamps after the bar. A gitlab-runner container's lines keep their level
and fields through the runner parser.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.sources import Format, ParseContext, clock
from logsleuth.sources.journal_short import heads
from logsleuth.sources.runner import looks_like_runner, parse_runner_message
from logsleuth.text import clean, decode

# Compose colours the service name on a terminal, so ANSI is allowed around it.
_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*m)*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*\|(?:\x1b\[[0-9;]*m)* ?")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")


def _record(text: str, origin: Origin) -> Record:
    m = _PREFIX.match(text)
    if m is None:
        return Record(message=clean(text), origin=origin, format="compose", raw=text)
    body = text[m.end():]
    ts = None
    stamp = _STAMP.match(body)
    if stamp:
        ts = clock.iso(body[:stamp.end() - 1])
        body = body[stamp.end():]
    service = m.group(1)
    message = clean(body)
    if "runner" in service or looks_like_runner(body, message):
        level, message, fields = parse_runner_message(body)
        return Record(message=message, origin=origin, format="compose", raw=text, ts=ts,
                      ident=service, level=level, fields=fields)
    return Record(message=message, origin=origin, format="compose", raw=text, ts=ts, ident=service)


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    """One record per line; the service name is the identifier."""
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        yield _record(decode(line.rstrip(b"\r")), Origin(ctx.path, n))


_SNIFF = re.compile(rb"^(?:\x1b\[[0-9;]*m)*[A-Za-z0-9][A-Za-z0-9_.-]*\s*\|(?:\x1b\[[0-9;]*m)*(?: |$)")


def sniff(sample: list[bytes]) -> str | None:
    lines = heads(sample)
    hits = sum(1 for line in lines if _SNIFF.match(line))
    if lines and hits * 10 >= len(lines) * 8:
        return f"{hits} lines start with a `service  | ` prefix (docker compose logs)"
    return None


FORMAT = Format("compose", sniff, parse, raw_message=True, description="docker compose logs (service | message)")
