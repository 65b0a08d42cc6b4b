"""Plain text, the fallback: every line is an event and nothing is dropped."""
from __future__ import annotations

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.lines import line_parser
from logsleuth.read.text import clean


def sniff(sample: list[bytes]) -> str | None:
    return "fallback"


def _record(text: str, origin: Origin, ctx: ParseContext) -> Record:
    return Record(message=clean(text), origin=origin, format="plain", raw=text)


FORMAT = Format("plain", sniff, line_parser(_record), raw_message=True, description="any text: one event per line")
