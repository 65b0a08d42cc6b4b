"""Stage 1, sources: syslog files: RFC 3164 (`Mar  1 …`), rsyslog's RFC 3339 file format, RFC 5424.

One line per event: rsyslog writes control characters as `#0NN` escapes (formats.md §7), so a
multi-line message stays on one line and text.clean() restores it. Wrapped gitlab-runner lines
(`gitlab-runner[812]: #033[31;1mFATAL: …`) get their level and fields from the runner parser.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Callable

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats.base import Format, Parse, ParseContext
from logsleuth.read.formats import clock
from logsleuth.read.formats.journal_short import head_bsd
from logsleuth.read.formats.lines import heads
from logsleuth.read.formats.levels import priority_level
from logsleuth.read.formats.lines import line_parser
from logsleuth.read.formats.tagline import Tag, split_tag, tagged_record
from logsleuth.read.text import clean


def _tagged_parser(name: str, head: Callable[[str, ParseContext], tuple[datetime | None, int] | None]) -> Parse:
    def record(text: str, origin: Origin, ctx: ParseContext) -> Record:
        parsed = head(text, ctx)
        tag = split_tag(text, parsed[1]) if parsed is not None else None
        if parsed is None or tag is None:
            return Record(message=clean(text), origin=origin, format=name, raw=text,
                          ts=parsed[0] if parsed else None)
        return tagged_record(text, text[tag.start:], origin, name, parsed[0], tag)
    return line_parser(record)


def _head_3164(text: str, ctx: ParseContext) -> tuple[datetime | None, int] | None:
    parsed = head_bsd(text, ctx)
    return (parsed[0], parsed[1]) if parsed else None


def _head_3339(text: str, ctx: ParseContext) -> tuple[datetime | None, int] | None:
    sp = text.find(" ")
    if sp < 19 or text[10:11] != "T":
        return None
    ts = clock.iso(text[:sp])
    return (ts, sp + 1) if ts is not None else None


_RE_3164 = re.compile(rb"^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?:(?: |$)")
_RE_3339 = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) \S+ [^\s:\[]+(?:\[\d+\])?:(?: |$)")


def _majority(regex: re.Pattern[bytes], sample: list[bytes]) -> int:
    lines = heads(sample)
    hits = sum(1 for line in lines if regex.match(line))
    return hits if lines and hits * 10 >= len(lines) * 6 else 0


def _sniff_3164(sample: list[bytes]) -> str | None:
    hits = _majority(_RE_3164, sample)
    return f"{hits} lines look like `Mmm dd HH:MM:SS host tag[pid]:` (RFC 3164 syslog file)" if hits else None


def _sniff_3339(sample: list[bytes]) -> str | None:
    hits = _majority(_RE_3339, sample)
    return f"{hits} lines start with an RFC 3339 timestamp then `host tag[pid]:` (rsyslog file format)" if hits else None


RFC3164 = Format("rfc3164", _sniff_3164, _tagged_parser("rfc3164", _head_3164), raw_message=True,
                 description="syslog file, RFC 3164 / RSYSLOG_TraditionalFileFormat (no year, no zone)")
RFC3339 = Format("rfc3339", _sniff_3339, _tagged_parser("rfc3339", _head_3339), raw_message=True,
                 description="syslog file, rsyslog RSYSLOG_FileFormat (RFC 3339 timestamps)")


# --- RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG -----------------

_RE_5424 = re.compile(r"^(?:<(\d{1,3})>)?1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_SD_ELEMENT = re.compile(r'\[([^\s\]=]+)((?:\s+[^\s=\]]+="(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _structured(text: str, pos: int, fields: dict[str, FieldValue]) -> int:
    """Parse STRUCTURED-DATA at text[pos:] into fields (`param` keys, SD-ID under `sd_id`); return where MSG starts."""
    if text.startswith("-", pos):
        return pos + 2
    ids = []
    while text.startswith("[", pos):
        m = _SD_ELEMENT.match(text, pos)
        if m is None:
            break
        ids.append(m.group(1))
        for p in _SD_PARAM.finditer(m.group(2)):
            fields[p.group(1)] = _SD_UNESCAPE.sub(r"\1", p.group(2))
        pos = m.end()
    if ids:
        fields["sd_id"] = ids if len(ids) > 1 else ids[0]
    return pos + 1 if text.startswith(" ", pos) else pos


def _record_5424(text: str, origin: Origin, ctx: ParseContext) -> Record:
    m = _RE_5424.match(text)
    if m is None:
        return Record(message=clean(text), origin=origin, format="rfc5424", raw=text)
    pri, ts_text, host, app, procid, msgid = m.groups()
    fields: dict[str, FieldValue] = {}
    if msgid != "-":
        fields["msgid"] = msgid
    start = _structured(text, m.end(), fields)
    body = text[start:].lstrip("\ufeff")  # MSG may start with a UTF-8 BOM
    tag = Tag(_nil(host), _nil(app), int(procid) if procid.isdigit() else None, 0)
    record = tagged_record(text, body, origin, "rfc5424", clock.iso(ts_text) if ts_text != "-" else None, tag)
    if record.level is None and pri is not None:
        record.level = priority_level(int(pri))
    record.fields.update(fields)
    return record


_SNIFF_5424 = re.compile(rb"^(?:<\d{1,3}>)?1 (?:\d{4}-\d\d-\d\dT\S+|-) \S+ \S+ \S+ \S+ (?:-|\[)")


def _sniff_5424(sample: list[bytes]) -> str | None:
    hits = _majority(_SNIFF_5424, sample)
    return f"{hits} lines look like `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD` (RFC 5424)" if hits else None


RFC5424 = Format("rfc5424", _sniff_5424, line_parser(_record_5424), raw_message=False,
                 description="syslog RFC 5424 (structured data kept as fields)")
