"""Entry boundaries in raw blocks: where the entry holding a candidate line starts and ends.

Stage: match (the raw path). Works on byte offsets so a block is never split into lines; a
format's `continuation` (an indented journalctl line) and `wrapped` (the tail of a wrapped Go
error, judged with the line above) tell the lines that belong to the entry above them.
"""
from __future__ import annotations

import re

from collections.abc import Iterator
from itertools import accumulate

from logsleuth.read.formats import Format

Candidate = tuple[int, int, frozenset[int]]


def _line_end(chunk: bytes, start: int) -> int:
    end = chunk.find(b"\n", start)
    return len(chunk) if end < 0 else end


def entry_starts(chunk: bytes, cleaned: bytes, candidates: list[Candidate],
                  fmt: Format) -> dict[int, set[int]]:
    """Offsets in `chunk` of the entries holding candidate lines, with the literal ids found in each.

    Candidates are offsets in `cleaned`; when cleaning removed escapes the two differ, and lines
    are matched up by number instead (only blocks that hold escapes pay for the split).
    """
    if cleaned is chunk:
        starts = [start for start, _end, _ids in candidates]
    else:
        offsets = [0, *accumulate(len(line) + 1 for line in chunk.split(b"\n"))]
        pos = number = 0
        starts = []
        for start, _end, _ids in candidates:
            number += cleaned.count(b"\n", pos, start)
            pos = start
            starts.append(offsets[number])
    entries: dict[int, set[int]] = {}
    order = sorted(range(len(starts)), key=starts.__getitem__)
    heads = entry_heads(chunk, [starts[i] for i in order], fmt)
    for i, head in zip(order, heads):
        entries.setdefault(head, set()).update(candidates[i][2])
    return entries


def entry_heads(chunk: bytes, starts: list[int], fmt: Format) -> list[int]:
    """`entry_head` of each of the ascending line offsets `starts`, in time linear in the chunk:
    a walk back stops at the previous start, whose head is known (40,000 candidate lines in one
    journal entry would otherwise each walk back to its head: 290 s for 2.2 MB)."""
    heads: list[int] = []
    prev_start = prev_head = -1
    for start in starts:
        pos = start
        while pos > prev_start and pos > 0 and continues(chunk, pos, fmt):
            pos = chunk.rfind(b"\n", 0, pos - 1) + 1
        head = prev_head if pos == prev_start else pos
        heads.append(head)
        prev_start, prev_head = start, head
    return heads


def continues(chunk: bytes, start: int, fmt: Format) -> bool:
    """Whether the line at offset `start` belongs to the entry above it."""
    cont, wrapped = fmt.continuation, fmt.wrapped
    if start == 0 or (cont is None and wrapped is None):
        return False
    if cont is not None and cont(chunk[start:_line_end(chunk, start)]):
        return True
    if wrapped is None:
        return False
    # Format.wrapped: only after a line ending in `:` (CRs, spaces and tabs aside); most lines stop here.
    last = start - 2
    while last >= 0 and chunk[last] in (13, 32, 9):
        last -= 1
    if last < 0 or chunk[last] != 58:
        return False
    prev = chunk.rfind(b"\n", 0, start - 1) + 1
    return wrapped(chunk[prev:start - 1], chunk[start:_line_end(chunk, start)])


def entry_head(chunk: bytes, start: int, fmt: Format) -> int:
    """Offset of the head line of the entry holding the line at `start`."""
    while start > 0 and continues(chunk, start, fmt):
        start = chunk.rfind(b"\n", 0, start - 1) + 1
    return start


def entry_end(chunk: bytes, head: int, fmt: Format) -> int:
    """Offset of the newline ending the entry that starts at `head` (continuation lines included)."""
    end = _line_end(chunk, head)
    if fmt.continuation is None and fmt.wrapped is None:
        return end
    while end + 1 < len(chunk) and continues(chunk, end + 1, fmt):
        end = _line_end(chunk, end + 1)
    return end


def lines_after(chunk: bytes, end: int, n: int) -> list[bytes]:
    out: list[bytes] = []
    while len(out) < n and end + 1 < len(chunk):
        nxt = _line_end(chunk, end + 1)
        out.append(chunk[end + 1:nxt])
        end = nxt
    return out


def last_entry_start(chunk: bytes, fmt: Format) -> int:
    """Offset of the last entry's head line, so a block never splits an entry's continuation lines."""
    assert fmt.continuation is not None or fmt.wrapped is not None
    end = len(chunk) - 1 if chunk.endswith(b"\n") else len(chunk)
    while True:
        start = chunk.rfind(b"\n", 0, end) + 1
        if start == 0 or not continues(chunk, start, fmt):
            return start
        end = start - 1


def entry_chunks(blocks: Iterator[bytes], fmt: Format, max_carry: int) -> Iterator[bytes]:
    """Newline-aligned blocks regrouped so that no entry is split between two: a block goes on
    as it is (no copy) unless the next one starts with continuation lines of its last entry, and
    then only that entry moves to the next chunk. One endless entry goes in pieces past max_carry.

    Knowing that needs the next block's first line, so a block is handed on when the next one
    has arrived (or the input ended): for a followed stream (`--live`) use the blocks directly.
    """
    held = b""
    for block in blocks:
        if not block:
            continue
        if not held:
            held = block
            continue
        if held.endswith(b"\n") and not _continued(held, block, fmt):
            yield held
            held = block
            continue
        cut = last_entry_start(held, fmt)
        if cut == 0 and len(held) > max_carry:
            yield held  # one endless entry: matched in pieces rather than held whole
            held = block
            continue
        if cut:
            yield held[:cut]
        held = held[cut:] + block
    if held:
        yield held


def _continued(held: bytes, block: bytes, fmt: Format) -> bool:
    """Whether `block`'s first line belongs to the last entry of `held` (which ends in a newline),
    judged on the two lines only."""
    last = held.rfind(b"\n", 0, len(held) - 1) + 1
    nl = block.find(b"\n")
    seam = held[last:] + (block if nl < 0 else block[:nl + 1])
    return continues(seam, len(held) - last, fmt)


def wrapped_entries(chunk: bytes, fmt: Format) -> dict[int, bytes]:
    """The entries of `chunk` that hold a wrapped line, by head offset, each as the one line the
    parser makes of it (lines.joined), for the literal scan: a literal may span the join
    (`...:53:` / ` no such host` holds `:53: no such host` on neither line).

    Wrapped lines follow a line ending in `:` (lines.go_wrapped; CRs, spaces and tabs aside), so
    only those are looked at: one regex pass (a literal `:` first) over a block that holds none.
    """
    wrapped = fmt.wrapped
    assert wrapped is not None
    found: dict[int, bytes] = {}
    for m in _COLON_EOL.finditer(chunk):
        nxt = m.end()
        if nxt < len(chunk) and continues(chunk, nxt, fmt):
            head = entry_head(chunk, nxt, fmt)
            if head not in found:
                lines = chunk[head:entry_end(chunk, head, fmt)].split(b"\n")
                found[head] = b" ".join([lines[0].rstrip(), *(line.strip() for line in lines[1:])])
    return found


_COLON_EOL = re.compile(rb":[ \t\r]*\n")
