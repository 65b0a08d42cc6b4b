"""Building blocks for line formats: one entry per physical line (or a line and the few lines a
terminal wrapped it into), and detection by a share of lines."""
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


# The last sample asked about (held, and replaced whole: see read/sample.py), its limit, its heads.
_HEADS: tuple[list[bytes] | None, int, list[bytes]] = (None, 0, [])


def heads(sample: list[bytes], limit: int = 10) -> list[bytes]:
    """The sample's first entry lines: no markers, no continuation lines, no blank lines (computed
    once per sample: a dozen line-format sniffers ask in turn)."""
    global _HEADS
    held, held_limit, found = _HEADS
    if held is sample and held_limit == limit:
        return list(found)
    out = []
    for line in sample:
        if line.strip() and not is_marker(line) and line[:1] != b" ":
            out.append(line.rstrip(b"\r"))
            if len(out) == limit:
                break
    _HEADS = (sample, limit, out)
    return list(out)


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


# --- wrapped lines ---------------------------------------------------------------------------------
# A Go error is a chain `op: op: cause`; a terminal, a pager or a poster breaks it after a `:`:
#   WARNING: Checking for jobs... failed ... dial tcp: lookup gitlab.example.com on 127.0.0.53:53:
#    no such host
# The pieces are joined (by one space) so rules see the error as the program printed it.
MAX_WRAPPED = 3  # continuation lines joined to one head line at most
MAX_WRAP_LEN = 160  # a longer line is a line of its own, not the tail of a wrapped one


def go_wrapped(prev: bytes, line: bytes) -> bool:
    """Whether `line` continues `prev` as the tail of a wrapped Go error.

    `prev` ends with `:` and holds an earlier `: ` (an error chain, not a `Containers:` heading);
    `line` is short and starts with whitespace then text, or with a lower-case letter, or with
    any letter when `prev` ends with `: ` (the space before the next link was printed, the link
    went to the next line: `net/http: ` / `TLS handshake timeout`). Trailing CRs are ignored on
    both, and trailing spaces and tabs on `prev`. Decided on the two lines alone, so the raw
    path's entry boundaries (read/entries.py) and the parsers agree.
    """
    line = line.rstrip(b"\r")
    if not line or len(line) > MAX_WRAP_LEN:
        return False
    prev = prev.rstrip(b"\r")
    core = prev.rstrip(b" \t")
    if core[-1:] != b":" or b": " not in core:
        return False
    first = line[0]
    if first in (0x20, 0x09):
        return bool(line.strip())
    if 0x61 <= first <= 0x7A:  # a-z
        return True
    return len(core) < len(prev) and 0x41 <= first <= 0x5A  # A-Z after a trailing space


def ends_with_colon(line: bytes) -> bool:
    """The readers' cheap test before `go_wrapped`: the line ends with `:`, CRs, spaces and tabs aside."""
    return line.rstrip(b"\r \t")[-1:] == b":"


def wrapped_lines(lines: Iterable[bytes], ctx: ParseContext,
                  wraps: Callable[[bytes, bytes], bool] = go_wrapped) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, physical lines) of each entry: a line and up to MAX_WRAPPED lines that
    `wraps` says continue it. A longer chain goes on in a new entry (counted from the chain's
    first line, so any reader that starts at a chain's head groups it the same way)."""
    group: list[bytes] = []
    first = 0
    for line in lines:
        n = ctx.line
        ctx.line = n + 1
        line = line.rstrip(b"\r")
        if group and ends_with_colon(group[-1]) and len(group) <= MAX_WRAPPED and wraps(group[-1], line):
            group.append(line)
            continue
        if group:
            yield first, group
        group, first = [line], n
    if group:
        yield first, group


def joined(texts: list[str]) -> str:
    """A wrapped entry's text as one line: the head, then each tail stripped, joined by a space."""
    return " ".join([texts[0].rstrip(), *(t.strip() for t in texts[1:])])


def wrapped_line_parser(make: LineRecord) -> Parse:
    """`line_parser` that joins wrapped lines (go_wrapped): the record of a wrapped entry is made
    from the joined text, spans its lines and keeps them, newline-separated, as its `raw`."""
    def parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
        for n, group in wrapped_lines(lines, ctx):
            if len(group) == 1:
                yield make(decode(group[0]), Origin(ctx.path, n), ctx)
                continue
            texts = [decode(line) for line in group]
            record = make(joined(texts), Origin(ctx.path, n, len(group)), ctx)
            record.raw = "\n".join(texts)
            yield record
    return parse
