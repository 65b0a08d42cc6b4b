"""Stage 1, sources: journalctl -o verbose: a header line with the cursor, then `    NAME=value` lines.

Multi-line values continue on lines indented past `NAME=`; values with control characters or
invalid UTF-8 are shown as `[NB blob data]` (formats.md §1.4). The header's cursor carries the
exact realtime (`t=`, hex µs), which is used as __REALTIME_TIMESTAMP.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.sample import sample_bytes
from logsleuth.read.formats.journal_fields import record_from_fields
from logsleuth.read.formats.lines import is_marker
from logsleuth.read.text import clean, decode

_HEADER = re.compile(r"^[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \S+ \[(s=[^\]]*)\]$")
_FIELD = re.compile(r"^    ([A-Za-z0-9_]+)=")

_HEX = re.compile(r"[0-9a-fA-F]{1,16}")


class _Entry:
    __slots__ = ("line", "fields", "raw", "last", "indent")

    def __init__(self, line: int, cursor: str, raw: str) -> None:
        self.line = line
        self.fields: dict[str, object] = {"__CURSOR": cursor}
        parts = dict(p.split("=", 1) for p in cursor.split(";") if "=" in p)
        # The cursor's `t=` is the realtime stamp in hex; a damaged cursor just leaves it out.
        if _HEX.fullmatch(parts.get("t", "")):
            self.fields["__REALTIME_TIMESTAMP"] = str(int(parts["t"], 16))
        self.raw = [raw]
        self.last = ""
        self.indent = 0

    def add(self, text: str) -> None:
        self.raw.append(text)
        m = _FIELD.match(text) if text[4:5] != " " else None
        if m is None:
            if self.last:  # continuation of a multi-line value
                self.fields[self.last] = f"{self.fields[self.last]}\n{text[self.indent:]}"
            return
        name, value = m.group(1), text[m.end():]
        self.last, self.indent = name, m.end()
        old = self.fields.get(name)
        if old is None:
            self.fields[name] = value
        else:  # repeated field: a list, as in -o json
            self.fields[name] = (old if isinstance(old, list) else [old]) + [value]
            self.last = ""

    def record(self, path: str) -> Record:
        return record_from_fields(self.fields, Origin(path, self.line, len(self.raw)), "verbose", "\n".join(self.raw))


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    """Records of `journalctl -o verbose` output, each yielded when the next header arrives."""
    entry: _Entry | None = None
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        if line[:1] == b" " and entry is not None:
            entry.add(decode(line.rstrip(b"\r")))
            continue
        if entry is not None:
            yield entry.record(ctx.path)
            entry = None
        if is_marker(line) or not line.strip():
            continue
        text = decode(line.rstrip(b"\r"))
        m = _HEADER.match(text)
        if m is None:
            yield Record(message=clean(text), origin=Origin(ctx.path, n), format="verbose", raw=text)
            continue
        entry = _Entry(n, m.group(1), text)
    if entry is not None:
        yield entry.record(ctx.path)


def sniff(sample: list[bytes]) -> str | None:
    if b" [s=" not in sample_bytes(sample):
        return None  # no cursor header: not verbose, told without decoding a line
    for line in sample[:5]:
        if _HEADER.match(decode(line.rstrip(b"\r"))):
            return "header line with a journal cursor `[s=…;i=…;b=…]` then indented NAME=value fields"
    return None


FORMAT = Format("verbose", sniff, parse, description="journalctl -o verbose")
