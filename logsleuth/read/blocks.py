"""Stage 0, inputs: cut raw chunks into newline-aligned blocks with bounded lines, and sniff binary data.

Blocks end on a newline so the sources and the engine never see half a line; a line longer than
max_line is cut so that memory stays bounded whatever a log holds.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from logsleuth.errors import Diagnostics

# Control bytes that never appear in text logs (TAB, LF, CR, FF, ESC and RS are fine).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27, 30))


def aligned(chunks: Iterable[bytes], max_line: int, diag: Diagnostics) -> Iterator[bytes]:
    """Newline-aligned blocks; a line longer than max_line is cut to max_line (the rest is skipped,
    so memory stays bounded) and counted in diag.truncated_lines."""
    carry = b""
    skipping = False
    for chunk in chunks:
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk, skipping = chunk[nl + 1:], False
        cut = chunk.rfind(b"\n") + 1
        if cut:
            # One copy at most: the carried line start joined to the chunk up to its last newline.
            if carry:
                block = b"".join((carry, memoryview(chunk)[:cut]))
            else:
                block = chunk if cut == len(chunk) else chunk[:cut]
            carry = chunk[cut:]
            yield _cut_long_lines(block, max_line, diag) if len(block) > max_line else block
        else:
            carry += chunk
        if len(carry) > max_line:
            diag.truncated_lines += 1
            yield carry[:max_line] + b"\n"
            carry, skipping = b"", True
    if carry:
        yield _cut_long_lines(carry, max_line, diag) if len(carry) > max_line else carry


def _cut_long_lines(block: bytes, max_line: int, diag: Diagnostics) -> bytes:
    if not _may_hold_long_line(block, max_line):
        return block
    lines = block.split(b"\n")
    out = []
    for line in lines:
        if len(line) > max_line:
            diag.truncated_lines += 1
            line = line[:max_line]
        out.append(line)
    return b"\n".join(out)


def _may_hold_long_line(block: bytes, max_line: int) -> bool:
    """Whether some line may exceed max_line, without splitting the block on the hot path.

    A line longer than max_line covers a whole window of max_line // 2 bytes aligned to that
    step, so a block where every such window holds a newline has no long line.
    """
    step = max(max_line // 2, 1)
    return any(block.find(b"\n", i, i + step) < 0 for i in range(0, len(block) - step + 1, step))


def looks_binary(block: bytes) -> bool:
    """Whether a file's first block (NUL bytes already removed) is binary data rather than a text log.

    Judged by the share of text over a 64 KiB sample: NUL holes (a crash in the middle of a
    syslog write) and UTF-16 without a BOM are text once their NULs are gone; an executable, an
    image or compressed data keep many control bytes and invalid UTF-8.
    """
    sample = block[:1 << 16]
    if not sample:
        return False
    control = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    if control * 20 > len(sample):
        return True
    # Latin-1 text decodes with some U+FFFD and is still read; random bytes are mostly invalid.
    invalid = sample.decode("utf-8", "replace").count("\ufffd")
    return (control + invalid) * 4 > len(sample)
