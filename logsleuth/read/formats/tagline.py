"""Stage 1, sources: the `host ident[pid]: message` tail shared by journalctl short modes and syslog files.

Also applies the gitlab-runner message parser to wrapped runner lines, whose journal PRIORITY is
always 6: their level comes from the `WARNING:`/`ERROR:` text and their `key=value` fields are kept.
"""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read.formats.runner import looks_like_runner, parse_runner_message
from logsleuth.read.text import clean

_RUNNER_IDENTS = frozenset({"gitlab-runner", "gitlab-ci-multi-runner", "gitlab-runner.service"})


class Tag(NamedTuple):
    host: str | None
    ident: str | None
    pid: int | None
    start: int  # index where the message starts


def split_tag(text: str, pos: int, has_host: bool = True) -> Tag | None:
    """Split `host ident[pid]: ` at text[pos:]; the host column is optional (journalctl omits it
    for entries without _HOSTNAME). None when the text has no `ident:` there."""
    sp = text.find(" ", pos)
    if sp < 0:
        return None
    host: str | None = None
    first = text[pos:sp]
    if has_host and not first.endswith(":"):
        host = first
        pos = sp + 1
    colon = text.find(": ", pos)
    if colon < 0:
        if not text.endswith(":"):
            return None
        colon = len(text) - 1
    tag = text[pos:colon]
    pid = None
    if tag.endswith("]"):
        b = tag.rfind("[")
        if b > 0:
            digits = tag[b + 1:-1]
            if digits.isdigit():
                pid = int(digits)
            tag = tag[:b]
    return Tag(host, tag or None, pid, min(colon + 2, len(text)))


def tagged_record(raw: str, message_raw: str, origin: Origin, fmt: str, ts: datetime | None,
                  tag: Tag, unit: str | None = None) -> Record:
    """A record for a tagged syslog/journal line, parsing wrapped gitlab-runner messages."""
    message = clean(message_raw)
    level = None
    fields: dict[str, FieldValue] = {}
    if tag.ident in _RUNNER_IDENTS or unit == "gitlab-runner.service" or (
            message[:1] in "WEFP" and looks_like_runner(message_raw, message)):
        level, message, fields = parse_runner_message(message_raw)
    return Record(message=message, origin=origin, format=fmt, raw=raw, ts=ts, host=tag.host,
                  ident=tag.ident, unit=unit, pid=tag.pid, level=level, fields=fields)
