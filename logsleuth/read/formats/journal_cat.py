"""Stage 1, sources: journalctl -o cat: MESSAGE only, raw bytes, no separators.

Entries cannot be told apart (a multi-line message is several plain lines), so every line is an
event. Never auto-detected: it is indistinguishable from plain text; use --input-format cat.
"""
from __future__ import annotations

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.lines import line_parser
from logsleuth.read.formats.runner import looks_like_runner, parse_runner_message
from logsleuth.read.text import clean


def _record(raw: str, origin: Origin, ctx: ParseContext) -> Record:
    """One record per line; raw gitlab-runner lines keep their level and fields."""
    message = clean(raw)
    if message[:1] in "WEFP" and looks_like_runner(raw, message):
        level, message, fields = parse_runner_message(raw)
        return Record(message=message, origin=origin, format="cat", raw=raw, level=level, fields=fields)
    return Record(message=message, origin=origin, format="cat", raw=raw)


def sniff(sample: list[bytes]) -> str | None:
    return None


FORMAT = Format("cat", sniff, line_parser(_record), raw_message=True, description="journalctl -o cat (message only)")
