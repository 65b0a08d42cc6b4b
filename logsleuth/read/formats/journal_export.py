"""Stage 1, sources: journalctl -o export, the Journal Export Format (binary-safe).

A field is `NAME=value` or, for values with newlines/control bytes/invalid UTF-8, `NAME` + a
64-bit little-endian length + the raw bytes + `\\n`; an empty line ends the entry (formats.md §1.5).
Input arrives split at `\\n`, so a binary value is put back together from the following lines.
"""
from __future__ import annotations

import re
import struct
from typing import Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.journal_fields import record_from_fields
from logsleuth.read.text import decode

_NAME = re.compile(rb"^[A-Za-z_][A-Za-z0-9_]*$")


def _add(fields: dict[str, object], name: str, value: bytes) -> None:
    # A repeated field (X_TAG=alpha, X_TAG=beta) becomes a list, as in -o json.
    old = fields.get(name)
    if old is None and name not in fields:
        fields[name] = value
    elif isinstance(old, list):
        old.append(value)
    else:
        fields[name] = [old, value]


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    """Records of an export stream; binary values are reassembled across physical lines."""
    it = iter(lines)
    fields: dict[str, object] = {}
    raw: list[bytes] = []
    start = ctx.line
    for line in it:
        n = ctx.line
        ctx.line = n + 1
        if not line:
            if fields:
                yield _record(fields, raw, ctx, start)
            fields, raw, start = {}, [], ctx.line
            continue
        if not raw:
            start = n
        raw.append(line)
        eq = line.find(b"=")
        if eq > 0 and _NAME.match(line[:eq]):
            _add(fields, line[:eq].decode("ascii"), line[eq + 1:])
        elif _NAME.match(line):
            value, used = _binary(it, ctx)
            raw.extend(used)
            _add(fields, line.decode("ascii"), value)
    if fields:
        yield _record(fields, raw, ctx, start)


def _binary(it: Iterator[bytes], ctx: ParseContext) -> tuple[bytes, list[bytes]]:
    # The LE64 length and the value may themselves contain "\n": rejoin lines until complete.
    used: list[bytes] = []
    buf = b""
    need = 8
    for piece in it:
        ctx.line += 1
        used.append(piece)
        buf = piece if len(used) == 1 else buf + b"\n" + piece
        if len(buf) >= 8:
            need = 8 + struct.unpack("<Q", buf[:8])[0]
            if len(buf) >= need:
                break
    return buf[8:need], used


def _record(fields: dict[str, object], raw: list[bytes], ctx: ParseContext, start: int) -> Record:
    text = decode(b"\n".join(raw))
    return record_from_fields(fields, Origin(ctx.path, start, len(raw)), "export", text)


def sniff(sample: list[bytes]) -> str | None:
    first = sample[0] if sample else b""
    if first.startswith((b"__CURSOR=", b"__REALTIME_TIMESTAMP=", b"__SEQNUM=")):
        return f"first line is a journal export field ({first.split(b'=')[0].decode()}=)"
    return None


FORMAT = Format("export", sniff, parse, description="journalctl -o export (Journal Export Format)")
