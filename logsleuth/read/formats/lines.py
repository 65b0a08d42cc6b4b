"""Building blocks for line formats: one entry per physical line, and detection by a share of lines."""
from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator

from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Parse, ParseContext, Sniff
from logsleuth.read.text import decode

LineRecord = Callable[[str, Origin, ParseContext], Record]


def is_marker(line: bytes) -> bool:
    """journalctl separator lines (`-- Boot … --`, `-- Reboot --`, `-- No entries --`, headers)."""
    if line[:3] != b"-- ":
        return False
    return line.rstrip(b"\r").endswith(b" --")


def heads(sample: list[bytes], limit: int = 10) -> list[bytes]:
    """The sample's first entry lines: no markers, no continuation lines, no blank lines."""
    out = []
    for line in sample:
        if line.strip() and not is_marker(line) and line[:1] != b" ":
            out.append(line.rstrip(b"\r"))
            if len(out) == limit:
                break
    return out


def line_parser(make: LineRecord) -> Parse:
    """`parse` for a format whose every line is one entry: decode and number it, `make` the record."""
    def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
        for line in lines:
            n = ctx.line
            ctx.line = n + 1
            yield make(decode(line.rstrip(b"\r")), Origin(ctx.path, n), ctx)
    return parse


def share_sniffer(pattern: re.Pattern[bytes], reason: str, share: float = 0.8) -> Sniff:
    """A sniff that recognises a sample when `share` of its entry lines match `pattern`.

    `reason` may use `{hits}`, the number of matching lines, for `-v`.
    """
    def sniff(sample: list[bytes]) -> str | None:
        lines = heads(sample)
        hits = sum(1 for line in lines if pattern.match(line))
        return reason.format(hits=hits) if lines and hits >= share * len(lines) else None
    return sniff
