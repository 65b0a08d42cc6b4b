"""Plain text, the fallback: every line is an event and nothing is dropped."""
from __future__ import annotations

from typing import Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.sources import Format, ParseContext
from logsleuth.text import clean, decode


def sniff(sample: list[bytes]) -> str | None:
    return "fallback"


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    for raw in lines:
        n = ctx.line
        ctx.line += 1
        text = decode(raw.rstrip(b"\r\n"))
        yield Record(message=clean(text), origin=Origin(ctx.path, n), format="plain", raw=text)


FORMAT = Format("plain", sniff, parse, raw_message=True, description="any text: one event per line")
