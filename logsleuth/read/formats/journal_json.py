"""Stage 1, sources: journalctl -o json (NDJSON), json-pretty, json-seq (RFC 7464) and json-sse.

Every value is a string, a byte array, a list (repeated field) or null; keys come in hash order
(formats.md §1.6). json-pretty spans lines and is collected up to the closing `}` at column 0.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.journal_fields import message_text, record_from_fields
from logsleuth.read.text import clean, decode

_loads: Callable[[str | bytes], Any]
try:  # optional speed-up; the standard library gives the same result
    from orjson import loads as _orjson_loads
    _loads = _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

_JOURNAL_KEYS = (b'"__CURSOR"', b'"__REALTIME_TIMESTAMP"', b'"MESSAGE"', b'"_BOOT_ID"')


def _object(text: str | bytes) -> dict[str, Any] | None:
    try:
        obj = _loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _entry(payload: bytes, raw: str, ctx: ParseContext, n: int, span: int, fmt: str) -> Record:
    obj = _object(payload)
    origin = Origin(ctx.path, n, span)
    if obj is None:
        # Not JSON (a stray line): kept as a plain event rather than dropped.
        return Record(message=clean(raw), origin=origin, format=fmt, raw=raw)
    return record_from_fields(obj, origin, fmt, raw)


def _line_parser(fmt: str, strip: Callable[[bytes], bytes | None]) -> Callable[
        [Iterable[bytes], ParseContext], Iterator[Record]]:
    def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
        for line in lines:
            n = ctx.line
            ctx.line = n + 1
            payload = strip(line)
            if payload is None:
                continue
            yield _entry(payload, decode(line.rstrip(b"\r")), ctx, n, 1, fmt)
    return parse


def _strip_json(line: bytes) -> bytes | None:
    return line if line.strip() else None


def _strip_seq(line: bytes) -> bytes | None:
    # RFC 7464: RS (0x1e) before each text; a blank line carries nothing.
    payload = line.lstrip(b"\x1e")
    return payload if payload.strip() else None


def _strip_sse(line: bytes) -> bytes | None:
    # Server-Sent Events: `data: {...}` then an empty line.
    return line[6:] if line.startswith(b"data: ") else None


def _parse_pretty(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    buf: list[bytes] = []
    start = 0
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        if not buf:
            if not line.strip():
                continue
            start = n
        buf.append(line)
        if line.rstrip(b"\r") == b"}":
            payload = b"\n".join(buf)
            yield _entry(payload, decode(payload), ctx, start, len(buf), "json-pretty")
            buf = []
    if buf:
        payload = b"\n".join(buf)
        yield _entry(payload, decode(payload), ctx, start, len(buf), "json-pretty")


def _first(sample: list[bytes]) -> bytes:
    for line in sample:
        if line.strip():
            return line.strip()
    return b""


def _sniff_json(sample: list[bytes]) -> str | None:
    first = _first(sample)
    if first.startswith(b"{") and first.endswith(b"}") and any(k in first for k in _JOURNAL_KEYS):
        return "lines are JSON objects with journal fields (__CURSOR, __REALTIME_TIMESTAMP, MESSAGE)"
    return None


def _sniff_pretty(sample: list[bytes]) -> str | None:
    first = _first(sample)
    if first == b"{" and any(line.lstrip().startswith(k + b" : ") for line in sample[:40] for k in _JOURNAL_KEYS):
        return 'a lone "{" line then tab-indented `"KEY" : value` journal fields'
    return None


def _sniff_seq(sample: list[bytes]) -> str | None:
    if _first(sample).startswith(b"\x1e{"):
        return "records start with the RS byte (RFC 7464 JSON text sequence)"
    return None


def _sniff_sse(sample: list[bytes]) -> str | None:
    if _first(sample).startswith(b"data: {"):
        return "Server-Sent Events `data: {...}` lines"
    return None


def _message_reader(strip: Callable[[bytes], bytes | None]) -> Callable[[bytes], str]:
    """The MESSAGE of one line's entry, without building the record (see Format.message_of)."""
    def message_of(line: bytes) -> str:
        payload = strip(line)
        if payload is None:
            return ""
        obj = _object(payload)
        if obj is None:
            return clean(decode(line))  # the stray line _entry keeps as a plain event
        # The record's message is this text, or for a runner line a part of it (record_from_fields).
        return clean(message_text(obj.get("MESSAGE")))
    return message_of


JSON_SEQ = Format("json-seq", _sniff_seq, _line_parser("json-seq", _strip_seq), description="journalctl -o json-seq",
                  message_of=_message_reader(_strip_seq))
JSON_SSE = Format("json-sse", _sniff_sse, _line_parser("json-sse", _strip_sse), description="journalctl -o json-sse",
                  message_of=_message_reader(_strip_sse))
JSON_PRETTY = Format("json-pretty", _sniff_pretty, _parse_pretty, description="journalctl -o json-pretty")
JSON = Format("json", _sniff_json, _line_parser("json", _strip_json), description="journalctl -o json (NDJSON)",
              message_of=_message_reader(_strip_json))
