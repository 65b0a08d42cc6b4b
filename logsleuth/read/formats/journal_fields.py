"""Stage 1, sources: one journal entry's fields -> Record, shared by the json/export/verbose modes
and native .journal files (python-systemd).

Field values arrive as str, bytes (invalid UTF-8 or control characters), lists (repeated fields),
None (`null`: journalctl -o json drops values over 4096 bytes) or ints (python-systemd); they are
normalised to str/list/None so every mode yields the same fields. Reference: formats.md §1.5-1.7, §3.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats import clock
from logsleuth.read.formats.levels import priority_level
from logsleuth.read.formats.runner import looks_like_runner, parse_runner_message
from logsleuth.read.text import clean, decode

_RUNNER_IDENTS = frozenset({"gitlab-runner", "gitlab-ci-multi-runner"})
# The formats whose records carry the journal's own fields (_SYSTEMD_UNIT, _TRANSPORT, PRIORITY,
# SYSLOG_IDENTIFIER, UNIT, _BOOT_ID, _HOSTNAME, ...): the native reader and journalctl's structured
# modes. Text modes (short*, with-unit, cat) and other logs have only the normalized attributes.
JOURNAL_FORMATS = ("journal", "export", "json", "json-pretty", "json-seq", "json-sse", "verbose")
_FIELD_NAME = re.compile(r"_{0,2}[A-Z][A-Z0-9_]*\Z")


def is_journal_field(name: str) -> bool:
    """Whether `name` is shaped like a journal field (upper case, `_` for trusted ones)."""
    return bool(_FIELD_NAME.match(name))


def field_text(value: Any) -> FieldValue:
    """A journal field value as text: byte arrays and bytes decoded (UTF-8, replacement characters)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return decode(bytes(value))
    if isinstance(value, list):
        if value and isinstance(value[0], int):
            try:
                return decode(bytes(value))  # a JSON byte array: bytes() checks every element in C
            except (TypeError, ValueError):
                pass
        return [field_text(v) for v in value]
    if value is None:
        return None
    return str(value)


def _single(value: FieldValue) -> str | None:
    # A repeated field: journalctl's text modes show the last value.
    if isinstance(value, list):
        value = value[-1] if value else None
    return value if isinstance(value, str) else None


def record_from_fields(raw_fields: Mapping[str, Any], origin: Origin, fmt: str, raw: str) -> Record:
    """The normalized record of one journal entry given as a field mapping."""
    # Most values are already str: skip the call for them (this runs for every field of every entry).
    fields: dict[str, FieldValue] = {k: v if type(v) is str else field_text(v) for k, v in raw_fields.items()}
    message_raw = message_text(fields.pop("MESSAGE", None))
    message = clean(message_raw)
    ident = _single(fields.get("SYSLOG_IDENTIFIER")) or _single(fields.get("_COMM"))
    unit = _single(fields.get("_SYSTEMD_UNIT")) or _single(fields.get("_SYSTEMD_USER_UNIT"))
    level = priority_level(fields.get("PRIORITY"))
    if ident in _RUNNER_IDENTS or (message[:1] in "WEFP" and looks_like_runner(message_raw, message)):
        # The runner logs to stderr: PRIORITY is always 6, the level is in the text.
        level, message, runner_fields = parse_runner_message(message_raw)
        fields.update(runner_fields)
    return Record(message=message, origin=origin, format=fmt, raw=raw, ts=_timestamp(fields),
                  host=_single(fields.get("_HOSTNAME")), ident=ident, unit=unit,
                  pid=_pid(fields), level=level, fields=fields)


def message_text(value: Any) -> str:
    """The MESSAGE field as text: decoded, the last of repeated values, one trailing newline dropped."""
    text = _single(value if type(value) is str else field_text(value)) or ""
    # journalctl drops one trailing newline in every text mode
    return text[:-1] if text.endswith("\n") else text


def _timestamp(fields: dict[str, FieldValue]) -> datetime | None:
    # Text modes print _SOURCE_REALTIME_TIMESTAMP when present (formats.md §1.1); match them.
    for key in ("_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP"):
        value = _single(fields.get(key))
        if value and value.isdigit():
            return clock.from_epoch_us(int(value))
    return None


def _pid(fields: dict[str, FieldValue]) -> int | None:
    for key in ("_PID", "SYSLOG_PID"):
        value = _single(fields.get(key))
        if value and value.isdigit():
            return int(value)
    return None
