"""Stage 1, sources: journalctl -o cat: MESSAGE only, raw bytes, no separators.

Entries cannot be told apart (a multi-line message is several plain lines), so every line is an
event. Never auto-detected: it is indistinguishable from plain text; use --input-format cat.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.sources import Format, ParseContext
from logsleuth.sources.runner import looks_like_runner, parse_runner_message
from logsleuth.text import clean, decode


def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    """One record per line; raw gitlab-runner lines keep their level and fields."""
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        raw = decode(line.rstrip(b"\r"))
        message = clean(raw)
        if message[:1] in "WEFP" and looks_like_runner(raw, message):
            level, message, fields = parse_runner_message(raw)
            yield Record(message=message, origin=Origin(ctx.path, n), format="cat", raw=raw,
                         level=level, fields=fields)
            continue
        yield Record(message=message, origin=Origin(ctx.path, n), format="cat", raw=raw)


def sniff(sample: list[bytes]) -> str | None:
    return None


FORMAT = Format("cat", sniff, parse, raw_message=True, description="journalctl -o cat (message only)")
