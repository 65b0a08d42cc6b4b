"""Plain text, the fallback: every line is an event and nothing is dropped; a Go error a terminal
wrapped after a `:` is one event (lines.go_wrapped)."""
from __future__ import annotations

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.lines import go_wrapped, wrapped_line_parser
from logsleuth.read.text import clean


def sniff(sample: list[bytes]) -> str | None:
    return "fallback"


def _record(text: str, origin: Origin, ctx: ParseContext) -> Record:
    return Record(message=clean(text), origin=origin, format="plain", raw=text)


FORMAT = Format("plain", sniff, wrapped_line_parser(_record), raw_message=True, wrapped=go_wrapped,
                description="any text: one event per line (a wrapped Go error joined)")
