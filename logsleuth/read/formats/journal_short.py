"""Stage 1, sources: journalctl's "short" family of text modes, one Format per `-o` mode.

`<timestamp> <host> <ident>[<pid>]: <message>`; continuation lines of a multi-line MESSAGE are
indented to the message column; `-- Boot … --` style marker lines are not events. The modes differ
only in the timestamp (formats.md §1.2), so each has a small head parser and they share the loop.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterable, Iterator, Optional

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats import clock
from logsleuth.read.formats.lines import heads, is_marker
from logsleuth.read.formats.tagline import Tag, split_tag, tagged_record
from logsleuth.read.text import clean, decode

# (timestamp, index where `host ident: msg` starts, extra fields)
Head = Optional[tuple[Optional[datetime], int, Optional[dict[str, str]]]]
HeadParser = Callable[[str, ParseContext], Head]
_Entry = tuple[Record, int, int, list[str]]  # record, first line, indent, continuation lines

_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".timer", ".mount", ".slice", ".path", ".target")
# short-full prints the viewer's zone abbreviation; these are unambiguous enough to trust when the
# user gave no --tz (anything else falls back to ctx.tz).
_ABBR = {"UTC": 0, "GMT": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
         "MDT": -360, "PST": -480, "PDT": -420, "CET": 60, "CEST": 120, "BST": 60, "EET": 120,
         "EEST": 180, "MSK": 180, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660}
_iso_cache: dict[str, datetime | None] = {}
_PENDING = Origin("", 0)  # replaced when the entry is complete and its span is known


def _cached_iso(key: str) -> datetime | None:
    ts = _iso_cache.get(key)
    if ts is None and key not in _iso_cache:
        if len(_iso_cache) > 4096:
            _iso_cache.clear()
        ts = _iso_cache[key] = clock.iso(key)
    return ts


def head_iso(text: str, ctx: ParseContext) -> Head:
    """`2024-03-10T12:00:00+0000 ` and `2024-03-10T12:00:00.000000+0000 `."""
    if len(text) < 25 or text[10] != "T" or text[4] != "-":
        return None
    if text[19] == ".":
        if text[31:32] != " ":
            return None
        ts = _cached_iso(text[:19] + text[26:31])
        if ts is None or not text[20:26].isdigit():
            return None
        return ts.replace(microsecond=int(text[20:26])), 32, None
    if text[24:25] != " ":
        return None
    ts = _cached_iso(text[:24])
    return (ts, 25, None) if ts is not None else None


def head_bsd(text: str, ctx: ParseContext) -> Head:
    """`Mar 10 12:00:00 ` (short) and `Mar 10 12:00:00.000000 ` (short-precise); `Mar  1` also accepted."""
    month = clock.MONTHS.get(text[:3])
    if month is None or text[3:4] != " " or text[9:10] != ":" or text[15:16] not in (" ", "."):
        return None
    day_text = text[4:6]
    if not day_text.strip().isdigit():
        return None
    us, pos = 0, 16
    if text[15] == ".":
        frac = text[16:22]
        if not frac.isdigit() or text[22:23] != " ":
            return None
        us, pos = int(frac), 23
    if not text[7:9].isdigit() or not text[10:12].isdigit() or not text[13:15].isdigit():
        return None
    # An impossible date (Feb 29 of a common year) keeps its entry, without a time (clock warns once).
    return clock.month_day(ctx, month, int(day_text), text[7:15], us), pos, None


def head_full(text: str, ctx: ParseContext) -> Head:
    """`Sun 2024-03-10 12:00:00 UTC ` (short-full, with-unit) and verbose's `12:00:00.000000 UTC`."""
    if len(text) < 28 or text[3] != " " or text[8] != "-" or text[14] != " ":
        return None
    end = text.find(" ", 24)
    if end < 0:
        return None
    stamp = text[4:end]
    sp = stamp.rfind(" ")
    zone_text = stamp[sp + 1:]
    naive = _naive(stamp[:sp])
    if naive is None:
        return None
    tz: tzinfo | None = clock.zone(zone_text)
    if tz is None:
        offset = _ABBR.get(zone_text)
        tz = ctx.tz if ctx.tz is not timezone.utc or offset is None else timezone(timedelta(minutes=offset))
    return clock.local(naive, tz), end + 1, None


def _naive(stamp: str) -> datetime | None:
    # `2024-03-10 12:00:00` or `2024-03-10 12:00:00.000000`
    try:
        us = int(stamp[20:26]) if len(stamp) > 19 and stamp[19] == "." else 0
        return datetime(int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]),
                        int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19]), us)
    except ValueError:
        return None


def head_unix(text: str, ctx: ParseContext) -> Head:
    """`1710072000.000000 ` (epoch seconds, UTC)."""
    dot = text.find(".", 0, 14)
    sp = text.find(" ", dot)
    if dot < 1 or sp - dot != 7 or not text[:dot].isdigit() or not text[dot + 1:sp].isdigit():
        return None
    return clock.from_epoch_us(int(text[:dot]) * 1_000_000 + int(text[dot + 1:sp])), sp + 1, None


def head_monotonic(text: str, ctx: ParseContext) -> Head:
    """`[    5.000000] ` and short-delta's `[    6.000000 <    1.000000 >] `: no wall clock."""
    if text[:1] != "[":
        return None
    close = text.find("] ")
    if close < 0:
        return None
    inner = text[1:close].split("<", 1)
    mono = inner[0].strip()
    if not mono.replace(".", "", 1).isdigit():
        return None
    return None, close + 2, {"monotonic": mono}


def _make_parse(name: str, head: HeadParser, unit_column: bool = False) -> Callable[
        [Iterable[bytes], ParseContext], Iterator[Record]]:
    def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
        entry: _Entry | None = None
        for line in lines:
            n = ctx.line
            ctx.line = n + 1
            if entry is not None:
                if line[:1] == b" ":
                    entry[3].append(decode(line.rstrip(b"\r")))
                    continue
                yield _finish(entry, ctx.path)
                entry = None
            if is_marker(line):
                continue
            text = decode(line.rstrip(b"\r"))
            record, indent = _head_record(name, head, text, ctx, unit_column)
            entry = (record, n, indent, [])
        if entry is not None:
            yield _finish(entry, ctx.path)
    return parse


def _head_record(name: str, head: HeadParser, text: str, ctx: ParseContext,
                 unit_column: bool) -> tuple[Record, int]:
    """The record of an entry's first line (origin set when the entry is complete) and its indent."""
    parsed = head(text, ctx)
    tag = split_tag(text, parsed[1]) if parsed is not None else None
    if parsed is None or tag is None:
        # Not this format's shape: kept whole as an event, nothing is dropped.
        return Record(message=clean(text), origin=_PENDING, format=name, raw=text), 0
    unit = None
    if unit_column and tag.ident and tag.ident.endswith(_UNIT_SUFFIXES):
        unit = tag.ident
        tag = Tag(tag.host, None, tag.pid, tag.start)
    record = tagged_record(text, text[tag.start:], _PENDING, name, parsed[0], tag, unit)
    if parsed[2]:
        record.fields.update(parsed[2])
    return record, tag.start


def _finish(entry: _Entry, path: str) -> Record:
    record, n, indent, more = entry
    if not more:
        record.origin = Origin(path, n)
        return record
    record.origin = Origin(path, n, 1 + len(more))
    record.raw = "\n".join([record.raw, *more])
    # Continuation lines are indented to the message column; deeper indentation is the message's own.
    parts = [m[indent:] if m[:indent].isspace() else m.lstrip(" ") for m in more]
    record.message = "\n".join([record.message, *(clean(p) for p in parts)])
    return record


def continuation(line: bytes) -> bool:
    """An indented line continues the entry above it (multi-line MESSAGE)."""
    return line[:1] == b" "


# --- detection -------------------------------------------------------------------------------

_HEAD_RES = {
    "short": re.compile(rb"^[A-Z][a-z]{2} [0-3]\d \d\d:\d\d:\d\d \S"),
    "short-precise": re.compile(rb"^[A-Z][a-z]{2} [0-3]\d \d\d:\d\d:\d\d\.\d{6} \S"),
    "short-iso": re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \S"),
    "short-iso-precise": re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4} \S"),
    "short-full": re.compile(rb"^[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Za-z0-9+-]+ \S"),
    "short-unix": re.compile(rb"^\d{9,11}\.\d{6} \S"),
    "short-monotonic": re.compile(rb"^\[ *\d+\.\d{6}\] \S"),
    "short-delta": re.compile(rb"^\[ *\d+\.\d{6}(?: <[ \d.]+\*?>| {16})\] \S"),
}
_TAG_RE = re.compile(rb"^(?:\S+ )?[^\s:\[]+(?:\[\d+\])?:(?: |$)")
_HOST_TAG_RE = re.compile(rb"^\S+ [^\s:\[]+(?:\[\d+\])?:(?: |$)")
_TAG_AFTER = {"short-monotonic": rb"] ", "short-delta": rb"] "}


def _sniffer(name: str) -> Callable[[list[bytes]], str | None]:
    head_re = _HEAD_RES[name]

    def sniff(sample: list[bytes]) -> str | None:
        lines = heads(sample)
        if not lines or not all(head_re.match(line) for line in lines):
            return None
        tagged = sum(1 for line in lines if _has_tag(name, line))
        if tagged * 10 < len(lines) * 6:
            return None
        if name in ("short", "short-full") and _other_flavour(name, lines, sample):
            return None
        return f"{len(lines)} entry lines start with a journalctl -o {name} timestamp and `host ident[pid]:`"
    return sniff


def _has_tag(name: str, line: bytes) -> bool:
    if name in _TAG_AFTER:
        # dmesg shares the `[uptime]` stamp but has no host column: `[1.0] INFO: task ...` must not
        # read as identifier `INFO`, so the monotonic modes need `host ident:` in full.
        rest = line[line.find(b"] ") + 2:]
        return bool(_HOST_TAG_RE.match(rest))
    else:
        m = _HEAD_RES[name].match(line)
        rest = line[m.end() - 1:] if m else b""
    return bool(_TAG_RE.match(rest))


def _other_flavour(name: str, lines: list[bytes], sample: list[bytes]) -> bool:
    if name == "short-full":
        # with-unit prints the unit name where short-full prints the identifier.
        return any(re.search(rb" \S+\.(?:service|scope|socket|timer|mount)(?:\[\d+\])?: ", ln) for ln in lines)
    # short vs an RFC 3164 file: same layout, but journalctl zero-pads the day and rsyslog writes
    # control characters as #0NN escapes instead of continuation lines.
    return any(b"#033[" in ln or b"#011" in ln or b"#012" in ln for ln in sample)


def _with_unit_sniff(sample: list[bytes]) -> str | None:
    lines = heads(sample)
    if lines and all(_HEAD_RES["short-full"].match(ln) for ln in lines) and _other_flavour("short-full", lines, sample):
        return "short-full timestamps with unit names (`x.service[pid]:`) in the identifier column"
    return None


def _fmt(name: str, head: HeadParser, description: str, unit_column: bool = False,
         sniff: Callable[[list[bytes]], str | None] | None = None) -> Format:
    return Format(name, sniff or _sniffer(name), _make_parse(name, head, unit_column), raw_message=True,
                  continuation=continuation, description=description)


SHORT_ISO_PRECISE = _fmt("short-iso-precise", head_iso, "journalctl -o short-iso-precise")
SHORT_ISO = _fmt("short-iso", head_iso, "journalctl -o short-iso")
SHORT_FULL = _fmt("short-full", head_full, "journalctl -o short-full")
WITH_UNIT = _fmt("with-unit", head_full, "journalctl -o with-unit", unit_column=True, sniff=_with_unit_sniff)
SHORT_UNIX = _fmt("short-unix", head_unix, "journalctl -o short-unix")
SHORT_DELTA = _fmt("short-delta", head_monotonic, "journalctl -o short-delta (no wall clock)")
SHORT_MONOTONIC = _fmt("short-monotonic", head_monotonic, "journalctl -o short-monotonic (no wall clock)")
SHORT_PRECISE = _fmt("short-precise", head_bsd, "journalctl -o short-precise (no year, no zone)")
SHORT = _fmt("short", head_bsd, "journalctl -o short, the default (no year, no zone)")
