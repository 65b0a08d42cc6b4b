"""Stage 1, sources: `docker compose logs` output: `svc_1  | message` (v1) or `svc-1  | message` (v2),
optionally with `-t` timestamps after the bar. A gitlab-runner container's lines keep their level
and fields through the runner parser.
"""
from __future__ import annotations

import re

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats import clock
from logsleuth.read.formats.lines import line_parser, share_sniffer
from logsleuth.read.formats.runner import looks_like_runner, parse_runner_message
from logsleuth.read.text import clean

# Compose colours the service name on a terminal, so ANSI is allowed around it.
_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*m)*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*\|(?:\x1b\[[0-9;]*m)* ?")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")


def _record(text: str, origin: Origin, ctx: ParseContext) -> Record:
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


_SNIFF = re.compile(rb"^(?:\x1b\[[0-9;]*m)*[A-Za-z0-9][A-Za-z0-9_.-]*\s*\|(?:\x1b\[[0-9;]*m)*(?: |$)")


# One record per line; the service name is the identifier.
FORMAT = Format("compose", share_sniffer(_SNIFF, "{hits} lines start with a `service  | ` prefix (docker compose logs)"),
                line_parser(_record), raw_message=True, description="docker compose logs (service | message)")
