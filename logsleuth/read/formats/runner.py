"""Stage 1, sources: gitlab-runner's own log formats (`runner`, `runner-text`, `runner-json`).

`parse_runner_message` splits one runner message (level prefix, 50-column padded text, trailing
`key=value` fields) and is also used by every wrapper that carries runner lines (journal, syslog,
docker compose). Reference: formats.md §4, gitlab-runner `log/runner_formatter.go`.
"""
from __future__ import annotations

import json
import re
from typing import Any

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.sample import sample_bytes
from logsleuth.read.formats import clock
from logsleuth.read.formats.levels import normalize_level
from logsleuth.read.formats.lines import go_wrapped, line_parser, wrapped_line_parser
from logsleuth.read.text import clean, decode

_PREFIXES = (("WARNING: ", "warning"), ("ERROR: ", "error"), ("FATAL: ", "fatal"), ("PANIC: ", "panic"))
# Raw runner text: each field is ` <colour>key<reset>=value`; the reset before `=` makes the split
# unambiguous even though values are printed unquoted with %v (formats.md §4.2).
_RAW_KEY = re.compile(r" (?:\x1b\[[0-9;]*m)?([A-Za-z0-9_.-]+)\x1b\[0;m=")
# After ANSI stripping (journalctl short modes) the fields follow the 50-column padded message
# after two spaces; keys are printed sorted, which rejects `word=` inside a value.
_FIRST_KEY = re.compile(r"\s\s([A-Za-z0-9_.-]+)=")
_NEXT_KEY = re.compile(r" ([A-Za-z0-9_.-]+)=")
_PAD_COLUMN = 48
_DEBUG_COLOUR = "\x1b[37;1m"


def runner_prefix_level(message: str) -> str | None:
    """The level of a cleaned runner message from its `WARNING: `/`ERROR: `/... prefix, or None."""
    if message[:1] in "WEFP":
        for prefix, level in _PREFIXES:
            if message.startswith(prefix):
                return level
    return None


def looks_like_runner(raw: str, message: str) -> bool:
    """True for a message shaped like a runner line: level prefix plus fields or the runner's reset code."""
    if runner_prefix_level(message) is None:
        return False
    return "\x1b[0;m" in raw or "#033[0;m" in raw or _first_key(message) is not None


def parse_runner_message(raw: str) -> tuple[str, str, dict[str, FieldValue]]:
    """(level, cleaned message, fields) of one runner-format message (raw ANSI, rsyslog `#033` or clean).

    The message keeps its prefix and fields (rules may match either); trailing padding is removed.
    Runner info and debug lines carry no prefix; debug is told apart only by its raw colour.
    """
    if "#033[" in raw:
        raw = raw.replace("#033[", "\x1b[")
    message = clean(raw).rstrip()
    level = runner_prefix_level(message)
    if level is None:
        level = "debug" if raw.startswith(_DEBUG_COLOUR) else "info"
    if "\x1b[0;m=" in raw:
        return level, message, _raw_fields(raw)
    return level, message, _clean_fields(message)


def _raw_fields(raw: str) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    matches = list(_RAW_KEY.finditer(raw))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(raw)
        fields[m.group(1)] = clean(raw[m.end():end]).rstrip()
    return fields


def _first_key(message: str) -> re.Match[str] | None:
    m = _FIRST_KEY.search(message, _PAD_COLUMN)
    return m


def _clean_fields(message: str) -> dict[str, FieldValue]:
    first = _first_key(message)
    if first is None:
        return {}
    spans: list[tuple[str, int, int]] = [(first.group(1), first.start(1), first.end())]
    for m in _NEXT_KEY.finditer(message, first.end()):
        if m.group(1) > spans[-1][0]:
            spans.append((m.group(1), m.start(), m.end()))
    fields: dict[str, FieldValue] = {}
    for i, (key, _start, value_start) in enumerate(spans):
        end = spans[i + 1][1] if i + 1 < len(spans) else len(message)
        fields[key] = message[value_start:end].rstrip()
    return fields


# ---------------------------------------------------------------------------------------------
# `runner` format: the default, one line per event, no timestamp.

def _sniff_runner(sample: list[bytes]) -> str | None:
    hits = 0
    for line in sample:
        if b"\x1b[0;m=" in line or b"\x1b[0;m  " in line:
            hits += 1
        else:
            text = clean(decode(line))
            if looks_like_runner(text, text) or (len(text) > 52 and _first_key(text) and text[:1] != " "):
                hits += 1
    if hits and hits * 2 >= len([s for s in sample if s.strip()]):
        return f"{hits} of {len(sample)} lines look like gitlab-runner lines (50-column message, key=value fields)"
    return None


def _runner_record(raw: str, origin: Origin, ctx: ParseContext) -> Record:
    level, message, fields = parse_runner_message(raw)
    return Record(message=message, origin=origin, format="runner", raw=raw, level=level,
                  ident="gitlab-runner", fields=fields)


# Its lines are what people paste from a terminal, wrapped: `... 127.0.0.53:53:` / ` no such host`.
RUNNER = Format("runner", _sniff_runner, wrapped_line_parser(_runner_record), raw_message=True, wrapped=go_wrapped,
                description="gitlab-runner default log format (WARNING:/ERROR: prefix, key=value fields)")


# ---------------------------------------------------------------------------------------------
# `runner-text`: logrus TextFormatter, `time=... level=... msg=...` (logfmt, Go %q quoting), and on
# a TTY (and older docs) `WARN[0099] message   key=value`.

_LOGFMT = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|\S*)')
_TTY = re.compile(r"^(DEBU|INFO|WARN|ERRO|FATA|PANI)\[(\d+)\] ")
_GO_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\"\'])')
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", '"': '"', "'": "'"}


def go_unquote(value: str) -> str:
    """The text of a Go `%q` string literal (quotes included); other values are returned as-is."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    body = value[1:-1]
    return _GO_ESCAPE.sub(_go_char, body) if "\\" in body else body


def _go_char(m: re.Match[str]) -> str:
    esc = m.group(1)
    if esc in _SIMPLE:
        return _SIMPLE[esc]
    return chr(int(esc[1:], 16))


def _sniff_text(sample: list[bytes]) -> str | None:
    for line in sample:
        text = clean(decode(line))
        if text.startswith("time=") and " level=" in text:
            return "logfmt line with time= and level= (gitlab-runner --log-format text)"
        if _TTY.match(text):
            return f"logrus TTY prefix {text[:10]!r} (gitlab-runner text format on a terminal)"
    return None


def _text_record(raw: str, origin: Origin, ctx: ParseContext) -> Record:
    text = clean(raw)
    tty = _TTY.match(text)
    if tty:
        rest = text[tty.end():]
        first = _LOGFMT_START.search(rest)
        msg = rest[:first.start()].rstrip() if first else rest.rstrip()
        fields = _logfmt(rest[first.start():]) if first else {}
        return Record(message=with_fields(msg, fields), origin=origin, format="runner-text", raw=raw,
                      level=normalize_level(tty.group(1)), ident="gitlab-runner", fields=fields)
    fields = _logfmt(text)
    if not _LOGFMT_KEYS.intersection(fields):
        # Not a logrus line (a job's own output between the helper's `INFO[0000]` lines, a
        # poster's note): its text is the message, as the plain format would keep it.
        return Record(message=text, origin=origin, format="runner-text", raw=raw)
    ts_text = fields.pop("time", None)
    level = fields.pop("level", None)
    msg = str(fields.pop("msg", ""))
    return Record(message=with_fields(msg, fields), origin=origin, format="runner-text", raw=raw,
                  ts=clock.iso(ts_text) if isinstance(ts_text, str) else None,
                  level=normalize_level(level if isinstance(level, str) else None),
                  ident="gitlab-runner", fields=fields)


def with_fields(msg: str, fields: dict[str, Any]) -> str:
    """The message as the default `runner` format prints it: text, then ` key=value` sorted.

    The cause of a failure sits in a field (`status=`, `error=`), so one rule must see it
    whichever --log-format the runner used.
    """
    if not fields:
        return msg
    return msg + "  " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))


_LOGFMT_KEYS = frozenset(("time", "level", "msg"))
_LOGFMT_START = re.compile(r"\s\s+(?=[A-Za-z0-9_.-]+=)")


def _logfmt(text: str) -> dict[str, FieldValue]:
    return {m.group(1): go_unquote(m.group(2)) for m in _LOGFMT.finditer(text)}


RUNNER_TEXT = Format("runner-text", _sniff_text, line_parser(_text_record),
                     description="gitlab-runner --log-format text (logrus logfmt) and WARN[0099] TTY lines")


# ---------------------------------------------------------------------------------------------
# `runner-json`: logrus JSONFormatter, one object per line with `level`, `msg`, `time`.

def _sniff_json(sample: list[bytes]) -> str | None:
    blob = sample_bytes(sample)
    if b'"msg":' not in blob or b'"level":' not in blob:
        return None
    for line in sample:
        s = line.strip()
        if s.startswith(b"{") and b'"msg":' in s and b'"level":' in s:
            return 'JSON object with "level" and "msg" keys (gitlab-runner --log-format json)'
    return None


def _json_line(raw: str, origin: Origin, ctx: ParseContext) -> Record:
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        return Record(message=clean(raw), origin=origin, format="runner-json", raw=raw)
    return _json_record(obj, raw, origin)


def _json_record(obj: dict[str, Any], raw: str, origin: Origin) -> Record:
    ts = obj.pop("time", None)
    level = obj.pop("level", None)
    msg = obj.pop("msg", "")
    return Record(message=clean(with_fields(str(msg), obj)), origin=origin, format="runner-json", raw=raw,
                  ts=clock.iso(ts) if isinstance(ts, str) else None,
                  level=normalize_level(level) if isinstance(level, str) else None,
                  ident="gitlab-runner", fields=obj)


RUNNER_JSON = Format("runner-json", _sniff_json, line_parser(_json_line),
                     description="gitlab-runner --log-format json (logrus JSON lines)")
