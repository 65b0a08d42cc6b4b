"""Entry boundaries in raw blocks: where the entry holding a candidate line starts and ends.

Stage: match (the raw path). Works on byte offsets so a block is never split into lines; a
format's `continuation` tells the lines that belong to the entry above them.
"""
from __future__ import annotations

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
    for start, (_s, _e, ids) in zip(starts, candidates):
        entries.setdefault(entry_head(chunk, start, fmt), set()).update(ids)
    return entries


def entry_head(chunk: bytes, start: int, fmt: Format) -> int:
    cont = fmt.continuation
    while cont is not None and start > 0 and cont(chunk[start:_line_end(chunk, start)]):
        start = chunk.rfind(b"\n", 0, start - 1) + 1
    return start


def entry_end(chunk: bytes, head: int, fmt: Format) -> int:
    """Offset of the newline ending the entry that starts at `head` (continuation lines included)."""
    end = _line_end(chunk, head)
    cont = fmt.continuation
    while cont is not None and end + 1 < len(chunk):
        nxt = _line_end(chunk, end + 1)
        if not cont(chunk[end + 1:nxt]):
            break
        end = nxt
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
    cont = fmt.continuation
    assert cont is not None
    end = len(chunk) - 1 if chunk.endswith(b"\n") else len(chunk)
    while True:
        start = chunk.rfind(b"\n", 0, end) + 1
        if start == 0 or not cont(chunk[start:end]):
            return start if start > 0 or not cont(chunk[:end]) else 0
        end = start - 1
