"""Stage 1, sources: kernel ring buffer dumps: `dmesg` (`[12345.678901] msg`), `dmesg -T`
(`[Sun Mar 10 12:00:05 2024] msg`, the viewer's local time) and `dmesg -x` facility/level prefixes.

Seconds since boot are not a wall clock: those events have no ts, the uptime is kept in `monotonic`.
"""
from __future__ import annotations

import re
from datetime import datetime

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats import clock
from logsleuth.read.formats.lines import line_parser, share_sniffer
from logsleuth.read.formats.levels import normalize_level
from logsleuth.read.text import clean

_LEVEL = re.compile(r"^([a-z]+)\s*:([a-z]+)\s*: ")  # dmesg -x: `kern  :err   : `
_UPTIME = re.compile(r"\[\s*(\d+\.\d+)\] ?")
_HUMAN = re.compile(r"\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d) (\d{4})\] ?")


def _record(text: str, origin: Origin, ctx: ParseContext) -> Record:
    level = None
    pos = 0
    m = _LEVEL.match(text)
    if m:
        level, pos = normalize_level(m.group(2)), m.end()
    fields: dict[str, FieldValue] = {}
    ts: datetime | None = None
    up = _UPTIME.match(text, pos)
    if up:
        fields["monotonic"] = up.group(1)
        pos = up.end()
    else:
        human = _HUMAN.match(text, pos)
        if human:
            ts = _human_ts(human, ctx)
            pos = human.end()
    return Record(message=clean(text[pos:]), origin=origin, format="dmesg", raw=text, ts=ts,
                  ident="kernel", level=level, fields=fields)


def _human_ts(m: re.Match[str], ctx: ParseContext) -> datetime | None:
    month = clock.MONTHS.get(m.group(1))
    hms = m.group(3)
    try:
        naive = datetime(int(m.group(4)), month or 0, int(m.group(2)), int(hms[:2]), int(hms[3:5]), int(hms[6:]))
    except ValueError:
        return None
    return clock.local(naive, ctx.tz)


_SNIFF = re.compile(rb"^(?:[a-z]+\s*:[a-z]+\s*: )?\[(?:\s*\d+\.\d{6}|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\] ")


# One record per line: the kernel prints every line of a multi-line report with its own stamp.
FORMAT = Format("dmesg", share_sniffer(_SNIFF, "{hits} lines start with a kernel `[uptime]` or `dmesg -T` stamp"),
                line_parser(_record), raw_message=True, description="dmesg output (uptime or -T stamps)")
